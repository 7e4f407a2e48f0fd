"""The notifier's senders against real peers: the mail sink (aiosmtpd: plain, STARTTLS, implicit TLS,
AUTH), a Standard Webhooks receiver that checks signatures with the `standardwebhooks` library, and
plain HTTP receivers standing in for Slack and for Apprise's json:// and form:// targets. Each answer
a peer can give ends as the outcome the dispatcher acts on: accepted, transient or permanent."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from standardwebhooks import Webhook

from services.notifier.senders import UnsetVariable, expand
from services.notifier.senders.apprise_target import send_apprise
from services.notifier.senders.slack import (
    send_slack_message,
    send_slack_webhook,
    slack_bot_client,
    slack_channel,
    verify_slack_request,
)
from services.notifier.senders.smtp import SmtpTarget, send_email
from services.notifier.senders.webhook import derive_secret, send_webhook
from shared.local.kafka_broker import free_port
from shared.local.mail_sink import server_tls_context
from tests.peers import (
    Answer,
    http_receiver,
    self_signed_certificate,
    smtp_server,
    webhook_receiver,
)

pytestmark = pytest.mark.integration

USERS = {"vigil": "s3cret-pass"}
SECRET = derive_secret(b"master-key-for-tests", "alice", "hook")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def plain_sink():
    with smtp_server() as sink:
        yield sink


@pytest.fixture(scope="module")
def starttls_sink(certificate):
    with smtp_server(tls_context=server_tls_context(*map(str, certificate)), users=USERS) as sink:
        yield sink


@pytest.fixture(scope="module")
def implicit_tls_sink(certificate):
    with smtp_server(tls_context=server_tls_context(*map(str, certificate)), implicit_tls=True, users=USERS) as sink:
        yield sink


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as c:
        yield c


def page_mail(**overrides) -> dict:
    delivery = uuid.uuid4().hex
    return {"to": "alice@example.com", "subject": "[Vigil] INC-12 critical: API down — café unreachable", "message_id":
            f"<{delivery}@vigil.test>", "thread_id": "<incident-12@vigil.test>",
            "text": "API down.\nAcknowledge: http://127.0.0.1:8084/ack/tok-1\n",
            "html": '<p>API down. <a href="http://127.0.0.1:8084/ack/tok-1">Acknowledge</a></p>', **overrides}


# --- e-mail ---------------------------------------------------------------------------------------

async def test_email_arrives_with_text_and_html_parts_and_the_threading_headers(plain_sink):
    mail = page_mail()
    result = await send_email(SmtpTarget(port=plain_sink.smtp_port, security="none"),
                              headers={"X-Vigil-Incident": "INC-12"}, **mail)
    assert result.outcome == "accepted" and result.answer.startswith("250 "), result
    [got] = plain_sink.wait_for_message_ids([mail["message_id"]])
    assert (got.subject, got.to, got.sender) == (mail["subject"], "alice@example.com", "Vigil <vigil@localhost>")
    assert got.in_reply_to == got.references == "<incident-12@vigil.test>"
    assert got.auto_submitted == "auto-generated" and got.date
    assert ("X-Vigil-Incident", "INC-12") in got.headers
    assert got.text.strip() == mail["text"].strip() and got.html.strip() == mail["html"]
    assert got.envelope_from == "vigil@localhost" and got.envelope_to == ["alice@example.com"]
    assert not got.tls and got.auth_user is None


async def test_a_line_break_in_an_alert_title_cannot_add_a_header(plain_sink):
    mail = page_mail(subject="disk full\r\nBcc: mallory@example.com")
    assert (await send_email(SmtpTarget(port=plain_sink.smtp_port, security="none"), **mail)).outcome == "accepted"
    [got] = plain_sink.wait_for_message_ids([mail["message_id"]])
    assert got.subject == "disk full Bcc: mallory@example.com"
    assert got.envelope_to == ["alice@example.com"] and "Bcc" not in dict(got.headers)


async def test_email_over_starttls_is_encrypted_and_authenticated(starttls_sink, certificate):
    target = SmtpTarget(port=starttls_sink.smtp_port, security="starttls", ca_file=str(certificate[0]),
                        username="vigil", password=USERS["vigil"])
    mail = page_mail()
    assert (await send_email(target, **mail)).outcome == "accepted"
    [got] = starttls_sink.wait_for_message_ids([mail["message_id"]])
    assert got.tls and got.auth_user == "vigil"


async def test_email_over_implicit_tls_is_encrypted_and_authenticated(implicit_tls_sink, certificate):
    target = SmtpTarget(port=implicit_tls_sink.smtp_port, security="tls", ca_file=str(certificate[0]),
                        username="vigil", password=USERS["vigil"])
    mail = page_mail()
    assert (await send_email(target, **mail)).outcome == "accepted"
    [got] = implicit_tls_sink.wait_for_message_ids([mail["message_id"]])
    assert got.tls and got.auth_user == "vigil"


async def test_a_wrong_smtp_password_is_permanent(starttls_sink, certificate):
    target = SmtpTarget(port=starttls_sink.smtp_port, ca_file=str(certificate[0]), username="vigil", password="no")
    result = await send_email(target, **page_mail())
    assert result.outcome == "permanent" and result.answer.startswith("535"), result


async def test_a_server_requiring_auth_refuses_mail_without_it(implicit_tls_sink, certificate):
    result = await send_email(SmtpTarget(port=implicit_tls_sink.smtp_port, security="tls", ca_file=str(certificate[0])),
                              **page_mail())
    assert result.outcome == "permanent" and result.answer.startswith("530"), result


async def test_a_server_certificate_we_do_not_trust_is_transient_and_says_so(starttls_sink):
    result = await send_email(SmtpTarget(port=starttls_sink.smtp_port, username="vigil", password="x"), **page_mail())
    assert result.outcome == "transient" and "certificate" in result.error.lower(), result


async def test_starttls_required_but_not_offered_is_permanent(plain_sink):
    result = await send_email(SmtpTarget(port=plain_sink.smtp_port, security="starttls"), **page_mail())
    assert result.outcome == "permanent" and "STARTTLS" in result.error, result


def test_credentials_are_never_configured_for_a_plain_connection():
    with pytest.raises(ValueError, match="only sent over TLS"):
        SmtpTarget(security="none", username="vigil", password="x")


@pytest.mark.parametrize(("reply", "outcome"), [
    ("550 5.1.1 <gone@example.com>: Recipient address rejected", "permanent"),
    ("450 4.2.0 <gone@example.com>: Greylisted, try again later", "transient"),
])
async def test_a_refused_recipient_fails_for_good_unless_the_server_says_later(plain_sink, reply, outcome):
    plain_sink.rcpt_answers["gone@example.com"] = reply
    result = await send_email(SmtpTarget(port=plain_sink.smtp_port, security="none"), **page_mail(to="gone@example.com"))
    assert result.outcome == outcome and result.answer == f"gone@example.com: {reply}", result


async def test_the_server_down_is_transient_and_mail_goes_once_it_is_back(plain_sink):
    closed = await send_email(SmtpTarget(port=free_port(), security="none", timeout_s=2), **page_mail())
    assert closed.outcome == "transient" and "Connect" in closed.error, closed

    target = SmtpTarget(port=plain_sink.smtp_port, security="none", timeout_s=2)
    plain_sink.stop_smtp()
    try:
        assert (await send_email(target, **page_mail())).outcome == "transient"
    finally:
        plain_sink.start_smtp()  # the same port, the messages kept
    mail = page_mail()
    assert (await send_email(target, **mail)).outcome == "accepted"
    assert len(plain_sink.wait_for_message_ids([mail["message_id"]])) == 1


async def test_the_mail_sink_shows_its_messages_over_http(plain_sink, client):
    mail = page_mail()
    assert (await send_email(SmtpTarget(port=plain_sink.smtp_port, security="none"), **mail)).outcome == "accepted"
    [number] = [m.number for m in plain_sink.wait_for_message_ids([mail["message_id"]])]
    sink = plain_sink.http_url
    listed = (await client.get(f"{sink}/messages")).json()
    assert {"number", "from", "to", "subject", "message_id", "date", "text"} <= set(listed[-1])
    assert listed[-1]["message_id"] == mail["message_id"]
    one = (await client.get(f"{sink}/messages/{number}")).json()
    assert one["html"] and one["text"] == mail["text"] and one["message_id"] == mail["message_id"]
    index = (await client.get(sink)).text
    assert f'href="/view/{number}"' in index and "INC-12" in index
    view = (await client.get(f"{sink}/view/{number}")).text
    assert '<a href="http://127.0.0.1:8084/ack/tok-1">' in view  # the ack link can be followed
    html_part = await client.get(f"{sink}/messages/{number}/html")
    assert "default-src 'none'" in html_part.headers["content-security-policy"]
    assert (await client.get(f"{sink}/messages/999999")).status_code == 404


# --- webhooks -------------------------------------------------------------------------------------

def test_each_endpoint_gets_its_own_stable_secret():
    assert derive_secret(b"k", "alice", "hook") == derive_secret(b"k", "alice", "hook")
    others = {derive_secret(b"k", "alice", "hook2"), derive_secret(b"k", "bob", "hook"),
              derive_secret(b"k2", "alice", "hook"), derive_secret(b"k", "alice", "hook")}
    assert len(others) == 4 and all(s.startswith("whsec_") for s in others)
    assert len(Webhook(derive_secret(b"k", "a", "b"))._whsecret) == 32


async def test_a_signed_webhook_is_verified_and_accepted_by_the_receiver(client):
    body = json.dumps({"type": "page", "incident": "INC-12"}).encode()
    with webhook_receiver(SECRET) as receiver:
        result = await send_webhook(client, url=f"{receiver.url}/hooks", secret=SECRET, webhook_id="d-1", body=body,
                                    timestamp=datetime.now(UTC))
        assert result.outcome == "accepted" and result.answer == "HTTP 204", result
        [got] = receiver.deliveries
        assert got.json() == {"type": "page", "incident": "INC-12"} and got.headers["content-type"] == "application/json"
        assert receiver.accepted_ids() == {"d-1"} and not receiver.rejected

        again = await send_webhook(client, url=f"{receiver.url}/hooks", secret=SECRET, webhook_id="d-1", body=body)
        assert again.outcome == "accepted" and receiver.counts()["d-1"] == 2  # a resend keeps its id, signed as of now


async def test_a_webhook_signed_with_another_secret_is_refused(client):
    with webhook_receiver(SECRET) as receiver:
        result = await send_webhook(client, url=receiver.url, secret=derive_secret(b"other", "alice", "hook"),
                                    webhook_id="d-2", body=b"{}", timestamp=datetime.now(UTC))
        assert result.outcome == "permanent" and result.answer.startswith("HTTP 401"), result
        assert receiver.rejected == ["No matching signature found"] and not receiver.deliveries


async def test_a_stale_signature_is_refused_by_the_receiver(client):
    with webhook_receiver(SECRET) as receiver:
        await send_webhook(client, url=receiver.url, secret=SECRET, webhook_id="d-3", body=b"{}",
                           timestamp=datetime.now(UTC) - timedelta(minutes=6))
        assert receiver.rejected == ["Message timestamp too old"]


@pytest.mark.parametrize(("answer", "outcome", "retry_after_s"), [
    (Answer(500, "boom"), "transient", None),
    (Answer(503, headers={"Retry-After": "12"}), "transient", 12),
    (Answer(408), "transient", None),
    (Answer(429, headers={"Retry-After": "7"}), "transient", 7),
    (Answer(410, "Gone"), "permanent", None),
    (Answer(400), "permanent", None),
    (Answer(301, headers={"Location": "http://127.0.0.1:1/"}), "permanent", None),
])
async def test_the_receivers_answer_decides_the_outcome(client, answer, outcome, retry_after_s):
    with webhook_receiver(SECRET, [answer]) as receiver:
        result = await send_webhook(client, url=receiver.url, secret=SECRET, webhook_id="d-4", body=b"{}",
                                    timestamp=datetime.now(UTC))
        assert (result.outcome, result.retry_after_s) == (outcome, retry_after_s), result
        assert result.answer.startswith(f"HTTP {answer.status}")


async def test_retry_after_as_an_http_date_becomes_seconds(client):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    with webhook_receiver(SECRET, [Answer(429, headers={"Retry-After": later})]) as receiver:
        result = await send_webhook(client, url=receiver.url, secret=SECRET, webhook_id="d-5", body=b"{}",
                                    timestamp=datetime.now(UTC))
        assert result.outcome == "transient" and 85 <= result.retry_after_s <= 90, result


async def test_a_receiver_answering_500_then_200_gets_the_same_delivery_twice(client):
    with webhook_receiver(SECRET, [Answer(500), Answer(200, "thanks")]) as receiver:
        outcomes = [(await send_webhook(client, url=receiver.url, secret=SECRET, webhook_id="d-6", body=b"{}",
                                        timestamp=datetime.now(UTC))).outcome for _ in range(2)]
        assert outcomes == ["transient", "accepted"]
        assert receiver.counts() == {"d-6": 2} and receiver.accepted_ids() == {"d-6"}


async def test_a_slow_or_absent_receiver_is_transient(client):
    with webhook_receiver(SECRET, [Answer(204, delay_s=1.5)]) as receiver:
        started = time.monotonic()
        slow = await send_webhook(client, url=receiver.url, secret=SECRET, webhook_id="d-7", body=b"{}",
                                  timestamp=datetime.now(UTC), timeout_s=0.3)
        assert slow.outcome == "transient" and "0.3 s" in slow.error and time.monotonic() - started < 1.4, slow
    absent = await send_webhook(client, url=f"http://127.0.0.1:{free_port()}/", secret=SECRET, webhook_id="d-8",
                                body=b"{}", timestamp=datetime.now(UTC))
    assert absent.outcome == "transient" and "ConnectError" in absent.error, absent
    nonsense = await send_webhook(client, url="ftp://example.com/x", secret=SECRET, webhook_id="d-9", body=b"{}",
                                  timestamp=datetime.now(UTC))
    assert nonsense.outcome == "permanent", nonsense


# --- Slack ----------------------------------------------------------------------------------------

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*INC-12* API down"}}]


async def test_a_slack_incoming_webhook_gets_text_and_blocks(client):
    with http_receiver() as slack:
        result = await send_slack_webhook(client, url=f"{slack.url}/services/T1/B2/x", text="INC-12 API down",
                                          blocks=BLOCKS)
        assert result.outcome == "accepted" and result.answer == "HTTP 200 ok", result
        [got] = slack.requests
        assert got.path == "/services/T1/B2/x" and got.json() == {"text": "INC-12 API down", "blocks": BLOCKS}


@pytest.mark.parametrize(("answer", "outcome", "retry_after_s"), [
    (Answer(404, "no_service"), "permanent", None),
    (Answer(403, "invalid_token"), "permanent", None),
    (Answer(410, "channel_is_archived"), "permanent", None),
    (Answer(429, "rate_limited", {"Retry-After": "30"}), "transient", 30),
    (Answer(500, "rollup_error"), "transient", None),
])
async def test_slack_webhook_errors(client, answer, outcome, retry_after_s):
    with http_receiver([answer]) as slack:
        result = await send_slack_webhook(client, url=slack.url, text="t", blocks=[])
        assert (result.outcome, result.retry_after_s) == (outcome, retry_after_s), result
        assert answer.body in result.error


async def test_chat_post_message_through_the_web_api():
    ok = Answer.json({"ok": True, "channel": "C1", "ts": "1700000000.000100"})
    limited = Answer.json({"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "5"})
    unknown = Answer.json({"ok": False, "error": "channel_not_found"})
    with http_receiver([ok, limited, unknown]) as slack:
        bot = slack_bot_client("xoxb-test", base_url=f"{slack.url}/api/", timeout_s=5)
        results = [await send_slack_message(bot, channel=slack_channel("slack:#ops"), text="INC-12", blocks=BLOCKS)
                   for _ in range(3)]
        assert [r.outcome for r in results] == ["accepted", "transient", "permanent"], results
        assert results[0].answer == "ok channel=C1 ts=1700000000.000100"
        assert results[1].retry_after_s == 5 and results[2].error == "Slack: channel_not_found"
        got = slack.requests[0]
        assert got.path == "/api/chat.postMessage" and got.headers["authorization"] == "Bearer xoxb-test"
        assert got.json()["channel"] == "#ops" and got.json()["blocks"] == BLOCKS
    gone = await send_slack_message(slack_bot_client("xoxb-test", base_url=f"http://127.0.0.1:{free_port()}/api/"),
                                    channel="U123", text="t", blocks=[])
    assert gone.outcome == "transient", gone
    assert (await send_slack_message(None, channel="#ops", text="t", blocks=[])).outcome == "permanent"
    assert (slack_channel("slack:U123"), slack_channel("https://hooks.slack.com/x")) == ("U123", None)


def slack_signed(secret: str, body: bytes, at: datetime) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


def test_slack_requests_are_accepted_only_when_signed_recently_over_the_same_body():
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    body = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
    headers = slack_signed("signing-secret", body, now - timedelta(seconds=30))
    assert verify_slack_request("signing-secret", headers, body, now)
    assert not verify_slack_request("signing-secret", headers, body + b"x", now)
    assert not verify_slack_request("another-secret", headers, body, now)
    assert not verify_slack_request("signing-secret", headers, body, now + timedelta(minutes=6))
    assert not verify_slack_request("signing-secret", {**headers, "X-Slack-Request-Timestamp": "soon"}, body, now)
    assert not verify_slack_request("signing-secret", {}, body, now)


# --- Apprise ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("scheme", "decode"), [("json", "json"), ("form", "form")])
async def test_apprise_delivers_to_a_json_or_form_target(scheme, decode):
    with http_receiver() as target:
        result = await send_apprise(target.url.replace("http", scheme, 1) + "/notify", title="INC-12",
                                    body="API down", timeout_s=5)
        assert result.outcome == "accepted", result
        [got] = target.requests
        fields = got.json() if decode == "json" else got.form()
        assert (got.path, fields["title"], fields["message"]) == ("/notify", "INC-12", "API down")


async def test_apprise_failures_are_transient_and_say_why():
    with http_receiver([Answer(500, "boom")]) as target:
        result = await send_apprise(target.url.replace("http", "json", 1), title="t", body="b", timeout_s=5)
        assert result.outcome == "transient" and "500" in result.error, result


async def test_an_url_apprise_cannot_use_is_permanent_without_echoing_it():
    result = await send_apprise("nosuchservice://token-123@somewhere", title="t", body="b")
    assert result.outcome == "permanent" and "token-123" not in result.error, result


# --- addresses ------------------------------------------------------------------------------------

def test_addresses_take_secrets_from_the_environment_and_never_go_half_filled():
    env = {"SLACK_HOOK": "T1/B2/xyz", "HOST": "ntfy.example"}
    assert expand("https://hooks.slack.com/services/${SLACK_HOOK}", env) == "https://hooks.slack.com/services/T1/B2/xyz"
    assert expand("ntfys://${HOST}/$topic", env) == "ntfys://ntfy.example/$topic"
    with pytest.raises(UnsetVariable, match="TELEGRAM_TOKEN is not set") as refused:
        expand("tgram://${TELEGRAM_TOKEN}/${HOST}", env)
    assert refused.value.name == "TELEGRAM_TOKEN"
