"""The notifier against the real broker, PostgreSQL, a real SMTP server and a real webhook receiver:
a page becomes an e-mail (deterministic Message-ID, threaded per incident, with signed links) and a
signed webhook by the person's rules; a redelivered page sends nothing again; an acknowledgement
cancels the steps not yet sent; a 500 is retried and a 410 fails at once and brings the next method
forward; every outcome is a DeliveryUpdated for the incident's timeline."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from services.notifier.senders.webhook import derive_secret
from shared.events import (
    ContactMethod, DeliveryUpdated, Event, IncidentEvent, NotificationStep, PageRequested, PersonUpdated, Topic, encode,
)
from tests.peers import Answer, smtp_server, webhook_receiver
from tests.support import ManualClock, TopicCursor, wait_for

pytestmark = pytest.mark.integration

LINK_KEY = "test-link-key-0123456789-abcdefghijkl"
WEBHOOK_KEY = "test-webhook-key-0123456789-abcdefghij"
PUBLIC = "http://vigil.test"


async def publish(kafka_broker, prefix: str, *events: Event) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            key, value, headers = encode(event, ce_source="/test")
            await producer.send_and_wait(prefix + event.topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def person(name: str, *methods: ContactMethod, rules: tuple[NotificationStep, ...] = (), revision: int = 1) -> PersonUpdated:
    return PersonUpdated(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), source="test", person=name,
                         revision=revision, contact_methods=methods, page_rules=rules)


def page(incident_id: int, target: str, *, at: datetime, title: str = "Checkout 5xx above 5 %") -> PageRequested:
    return PageRequested(
        event_id=str(uuid.uuid4()), occurred_at=at, source="test", page_id=f"page-{incident_id}-{target}-{uuid.uuid4().hex[:6]}",
        incident_id=incident_id, number=f"INC-{incident_id}", severity=1, title=title, target=target, step=0,
        reason="initial", links={"incident": f"http://incidents.test/api/v1/incidents/{incident_id}"},
    )


def acknowledged(incident_id: int, *, at: datetime) -> IncidentEvent:
    return IncidentEvent(
        event_id=str(uuid.uuid4()), occurred_at=at, source="test", kind="acknowledged", incident_id=incident_id,
        number=f"INC-{incident_id}", version=2, title="t", severity=1, status="investigating", acknowledged_by="alice",
        actor="alice", detected_at=at,
    )


def deliveries(api, page_id: str) -> dict[str, dict]:
    response = api.get(f"/api/v1/pages/{page_id}/deliveries")
    return {d["method"]: d for d in response.json()} if response.status_code == 200 else {}


@pytest.fixture(scope="module")
def mail():
    with smtp_server() as sink:
        yield sink


@pytest.fixture(scope="module")
def clock():
    return ManualClock()


@pytest.fixture(scope="module")
def notifier(running_notifier, mail, clock):
    with running_notifier(
        clock=clock, notifier_smtp_host="127.0.0.1", notifier_smtp_port=mail.smtp_port, notifier_smtp_security="none",
        notifier_public_url=PUBLIC, notifier_link_keys=[LINK_KEY], notifier_webhook_key=WEBHOOK_KEY,
        notifier_mail_domain="vigil.test", notifier_max_idle_s=0.2,
    ) as service:
        yield service


async def test_a_page_is_mailed_then_webhooked_by_the_rules_once_and_the_ack_cancels_the_rest(
    notifier, mail, clock, kafka_broker, topic_prefix,
):
    api = notifier.client("viewer")
    outcomes = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.DELIVERIES)
    methods = (ContactMethod(id="email", kind="email", address="alice@example.com"),
               ContactMethod(id="hook", kind="webhook", address="http://127.0.0.1:9/never"))
    rules = (NotificationStep(after_s=0, method="email"), NotificationStep(after_s=300, method="hook"))
    first = page(41, "alice", at=clock())
    await publish(kafka_broker, topic_prefix, person("alice", *methods, rules=rules), first)

    sent = [m for m in mail.store.wait_for(lambda ms: any("INC-41" in m.subject for m in ms), timeout_s=15)
            if "INC-41" in m.subject]
    assert len(sent) == 1
    message = sent[0]
    steps = wait_for(lambda: (d := deliveries(api, first.page_id))["email"]["state"] == "sent" and d,
                     timeout_s=10, what="e-mail recorded as sent")
    assert steps["hook"]["state"] == "pending"
    assert message.message_id == f"<{steps['email']['id']}@vigil.test>"
    assert message.in_reply_to == "<incident-41@vigil.test>"
    assert message.to == "alice@example.com" and message.text and message.html
    token = re.search(re.escape(PUBLIC) + r"/ack/([A-Za-z0-9_-]+)", message.text).group(1)

    # The link's GET only asks; nothing is acknowledged by a mail scanner following it.
    confirm = notifier.client(None).get(f"/ack/{token}")
    assert confirm.status_code == 200 and "<form method=post>" in confirm.text and "INC-41" in confirm.text
    tampered = notifier.client(None).get(f"/ack/{token[:-2]}xx")
    assert tampered.status_code == 400

    # The same page again (a replay): nothing new is sent.
    await publish(kafka_broker, topic_prefix, first)
    time.sleep(1.0)
    assert len([m for m in mail.store.all() if m.message_id == message.message_id]) == 1

    # Acknowledged before the webhook step is due: it is cancelled, never sent.
    await publish(kafka_broker, topic_prefix, acknowledged(41, at=clock()))
    wait_for(lambda: deliveries(api, first.page_id)["hook"]["state"] == "cancelled", timeout_s=15, what="step cancelled")
    records = await outcomes.read(expected=2)
    events = [DeliveryUpdated.model_validate_json(r.value) for r in records]
    assert sorted((e.method, e.state) for e in events) == [("email", "sent"), ("hook", "cancelled")]
    assert {e.incident_id for e in events} == {41}
    assert next(e for e in events if e.state == "sent").answer.startswith("250")


async def test_a_webhook_500_is_retried_and_a_410_fails_at_once_and_brings_the_next_method_forward(
    notifier, mail, clock, kafka_broker, topic_prefix,
):
    api = notifier.client("viewer")
    secret = derive_secret(WEBHOOK_KEY.encode(), "bob", "hook")
    carols = derive_secret(WEBHOOK_KEY.encode(), "carol", "hook")
    with webhook_receiver(secret, [Answer(500), Answer(204)]) as good, webhook_receiver(carols, [Answer(410)]) as gone:
        bob = person("bob", ContactMethod(id="hook", kind="webhook", address=good.url + "/bob"),
                     ContactMethod(id="email", kind="email", address="bob@example.com"),
                     rules=(NotificationStep(after_s=0, method="hook"), NotificationStep(after_s=600, method="email")))
        retried = page(42, "bob", at=clock())
        await publish(kafka_broker, topic_prefix, bob, retried)
        good.wait_for(1)
        wait_for(lambda: deliveries(api, retried.page_id)["hook"]["state"] == "retrying", timeout_s=10, what="retrying")
        clock.advance(minutes=6)  # past any backoff
        notifier.app.state.notifier.dispatcher.wake()
        wait_for(lambda: deliveries(api, retried.page_id)["hook"]["state"] == "sent", timeout_s=15, what="sent on retry")
        assert deliveries(api, retried.page_id)["hook"]["attempts"] == 2
        assert good.counts()[deliveries(api, retried.page_id)["hook"]["id"]] == 2  # same webhook-id both times
        assert deliveries(api, retried.page_id)["email"]["state"] == "pending"  # not due yet: 10 min

        carol = person("carol", ContactMethod(id="hook", kind="webhook", address=gone.url + "/carol"),
                       ContactMethod(id="email", kind="email", address="carol@example.com"),
                       rules=(NotificationStep(after_s=0, method="hook"), NotificationStep(after_s=600, method="email")))
        failing = page(43, "carol", at=clock())
        await publish(kafka_broker, topic_prefix, carol, failing)
        wait_for(lambda: deliveries(api, failing.page_id).get("hook", {}).get("state") == "failed", timeout_s=15,
                 what="failed at once")
        assert deliveries(api, failing.page_id)["hook"]["attempts"] == 1
        assert deliveries(api, failing.page_id)["hook"]["last_error"].startswith("HTTP 410")
        mail.store.wait_for(lambda ms: any("INC-43" in m.subject and m.to == "carol@example.com" for m in ms),
                            timeout_s=15)
        wait_for(lambda: deliveries(api, failing.page_id)["email"]["state"] == "sent", timeout_s=10,
                 what="the next method sent at once")
        assert api.get("/api/v1/deliveries", params={"state": "failed"}).json()[0]["person"] == "carol"
