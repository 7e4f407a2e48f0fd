"""What people see and do, against the real broker, PostgreSQL, SMTP server, an HTTP receiver as
Slack's incoming webhook and the real incident service: per-recipient limits hold messages back and
bundle them ("and 2 more incidents"), never drop them; a test message to one contact method answers
with its delivery; Slack's buttons act only when Slack signed the request; an expired link says what
it was for."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from services.notifier import links
from shared.events import ContactMethod
from tests.integration.notifier.test_delivery import page, person, publish
from tests.peers import http_receiver, smtp_server
from tests.services import TOKENS
from tests.support import ManualClock, wait_for

pytestmark = pytest.mark.integration

LINK_KEY = "people-link-key-0123456789-abcdefghijkl"
SLACK_SECRET = "slack-signing-secret-0123456789"


@pytest.fixture(scope="module")
def mail():
    with smtp_server() as sink:
        yield sink


@pytest.fixture(scope="module")
def clock():
    return ManualClock()


@pytest.fixture(scope="module")
def stack(running_incidents, running_notifier, mail, clock):
    with running_incidents() as incidents, running_notifier(
        clock=clock, notifier_smtp_host="127.0.0.1", notifier_smtp_port=mail.smtp_port, notifier_smtp_security="none",
        notifier_public_url="http://vigil.test", notifier_link_keys=[LINK_KEY], notifier_max_idle_s=0.2,
        notifier_throttle="email=2/15m", notifier_slack_signing_secret=SLACK_SECRET,
        notifier_incidents_url=incidents.url, notifier_incidents_token=TOKENS["responder"],
    ) as notifier:
        yield incidents, notifier


def mails_to(mail, address: str) -> list:
    return [m for m in mail.store.all() if m.to == address]


async def test_a_limit_holds_messages_back_and_sends_them_as_one_bundle(stack, mail, clock, kafka_broker, topic_prefix):
    _, notifier = stack
    api = notifier.client("viewer")
    await publish(kafka_broker, topic_prefix, person("dave", ContactMethod(id="email", kind="email", address="dave@example.com")))
    for n in (61, 62):  # two messages: the limit (2 per 15 min) is reached
        await publish(kafka_broker, topic_prefix, page(n, "dave", at=clock(), title=f"storm {n}"))
        mail.store.wait_for(lambda ms, n=n: any(f"INC-{n}" in m.subject for m in ms), timeout_s=15)
    held = [page(n, "dave", at=clock(), title=f"storm {n}") for n in (63, 64, 65)]
    await publish(kafka_broker, topic_prefix, *held)
    wait_for(lambda: all(api.get(f"/api/v1/pages/{p.page_id}/deliveries").status_code == 200 for p in held), timeout_s=15,
             what="held deliveries stored")
    time.sleep(1.0)
    assert len(mails_to(mail, "dave@example.com")) == 2, "held back, not sent"
    assert {api.get(f"/api/v1/pages/{p.page_id}/deliveries").json()[0]["state"] for p in held} == {"pending"}

    clock.advance(minutes=16)
    notifier.app.state.notifier.dispatcher.wake()
    wait_for(lambda: len(mails_to(mail, "dave@example.com")) == 3, timeout_s=15, what="the bundle")
    time.sleep(0.5)
    bundle = mails_to(mail, "dave@example.com")[2]
    assert len(mails_to(mail, "dave@example.com")) == 3, "one message for the three held pages"
    assert "and 2 more incidents" in bundle.subject
    assert all(f"INC-{n}" in bundle.text for n in (63, 64, 65))
    rows = [api.get(f"/api/v1/pages/{p.page_id}/deliveries").json()[0] for p in held]
    assert {r["state"] for r in rows} == {"sent"}
    assert len({r["message_id"] for r in rows}) == 1 and {r["bundled_with"] for r in rows} == {2}


async def test_a_test_message_answers_with_its_delivery(stack, mail, kafka_broker, topic_prefix):
    _, notifier = stack
    await publish(kafka_broker, topic_prefix,
                  person("frank", ContactMethod(id="work", kind="email", address="frank@example.com", label="work mail")))
    admin = notifier.client("admin")
    wait_for(lambda: admin.post("/api/v1/people/frank/contact-methods/nope/test").status_code == 404, timeout_s=15,
             what="frank known")
    answer = admin.post("/api/v1/people/frank/contact-methods/work/test")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "sent" and answer.json()["answer"].startswith("250")
    assert any("test message" in m.subject.lower() for m in mails_to(mail, "frank@example.com"))
    assert notifier.client("responder").post("/api/v1/people/frank/contact-methods/work/test").status_code == 403
    assert notifier.client("viewer").post("/api/v1/people/frank/contact-methods/work/test").status_code == 403


def slack_request(body: dict, *, secret: str = SLACK_SECRET, at: float | None = None) -> tuple[bytes, dict]:
    raw = urlencode({"payload": json.dumps(body)}).encode()
    stamp = str(int(at if at is not None else time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature,
                 "Content-Type": "application/x-www-form-urlencoded"}


async def test_slack_buttons_act_only_when_slack_signed_them(stack, kafka_broker, topic_prefix, clock):
    incidents, notifier = stack
    declared = incidents.client("responder").post("/api/v1/incidents", json={"title": "Slack button test", "severity": 2})
    assert declared.status_code == 201, declared.text
    iid = declared.json()["id"]
    with http_receiver() as slack:
        await publish(kafka_broker, topic_prefix, person("erin", ContactMethod(id="slack", kind="slack", address=slack.url)))
        await publish(kafka_broker, topic_prefix, page(iid, "erin", at=clock(), title="Slack button test"))
        [message] = slack.wait_for(1, timeout_s=15)
    buttons = [e for b in message.json()["blocks"] for e in b.get("elements", []) if e.get("type") == "button"]
    ack = next(b for b in buttons if b["action_id"] == "vigil_ack")
    payload = {"type": "block_actions", "user": {"id": "U1", "username": "erin.s"}, "actions": [ack]}
    client = notifier.client(None)

    raw, headers = slack_request(payload, secret="not-the-secret-0123456789")
    assert client.post("/slack/actions", content=raw, headers=headers).status_code == 401
    raw, headers = slack_request(payload, at=time.time() - 600)  # a replay of an old request
    assert client.post("/slack/actions", content=raw, headers=headers).status_code == 401
    assert incidents.client("viewer").get(f"/api/v1/incidents/{iid}").json()["acknowledged_at"] is None

    raw, headers = slack_request(payload)
    answer = client.post("/slack/actions", content=raw, headers=headers)
    assert answer.status_code == 200 and "acknowledged by erin" in answer.json()["text"]
    detail = incidents.client("viewer").get(f"/api/v1/incidents/{iid}").json()
    assert detail["acknowledged_by"] == "erin (Slack: erin.s)"


def test_an_expired_or_tampered_link_says_so(stack, clock):
    _, notifier = stack
    expired = links.sign(LINK_KEY.encode(), incident_id=7, person="gina", action="ack",
                         expires_at=(clock() - timedelta(hours=1)).replace(microsecond=0))
    page_ = notifier.client(None).get(f"/ack/{expired}")
    assert page_.status_code == 410 and "INC-7" in page_.text and "gina" in page_.text
    assert notifier.client(None).post(f"/ack/{expired}").status_code == 410
    assert notifier.client(None).get(f"/ack/{uuid.uuid4().hex}").status_code == 400
    fresh = links.sign(b"another-key-0123456789-abcdefghijkl", incident_id=7, person="gina", action="ack",
                       expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1))
    assert notifier.client(None).get(f"/ack/{fresh}").status_code == 400  # signed with a key we do not hold
