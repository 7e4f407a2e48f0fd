"""A page reaches a person and the person answers it, end to end with the configuration `vigil dev`
ships: a real Alertmanager fires a critical alert → ingest → incident → the escalator pages the
on-call primary → the notifier e-mails them (a real SMTP server) with a signed link → following the
link shows a confirmation page (a mail scanner's GET acknowledges nothing), pressing its button
acknowledges the incident as that person → the escalator does not page the backup at +5 min."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import pytest

from tests.e2e.alertmanager import postable_alert
from tests.e2e.test_alertmanager_to_kafka import now_ms
from tests.escalator_support import pages_cursor, pages_of
from tests.peers import smtp_server
from tests.services import TOKENS
from tests.support import ManualClock, wait_for

pytestmark = pytest.mark.e2e

PUBLIC = "http://vigil.test"  # what the links say; the test opens them on the notifier it started


@pytest.fixture(scope="module")
def mail():
    with smtp_server() as sink:
        yield sink


@pytest.fixture(scope="module")
def escalator_clock():
    from datetime import UTC, datetime

    return ManualClock(datetime.now(UTC) + timedelta(seconds=5))


@pytest.fixture(scope="module")
def services(running_incidents, running_escalator, running_notifier, mail, escalator_clock):
    with running_incidents() as incidents, \
            running_escalator(clock=escalator_clock, escalator_incidents_url=incidents.url,
                              escalator_incidents_token=TOKENS["admin"]) as escalator, \
            running_notifier(notifier_smtp_host="127.0.0.1", notifier_smtp_port=mail.smtp_port,
                             notifier_smtp_security="none", notifier_public_url=PUBLIC,
                             notifier_link_keys=["e2e-link-key-0123456789-abcdefghijklmn"],
                             notifier_incidents_url=incidents.url, notifier_incidents_token=TOKENS["responder"],
                             notifier_max_idle_s=0.2) as notifier:
        yield incidents, escalator, notifier


async def test_the_primary_gets_an_email_acknowledges_from_its_link_and_the_backup_is_not_paged(
    kafka_broker, topic_prefix, alertmanager, services, mail, escalator_clock,
):
    incidents, escalator, notifier = services
    inc = incidents.client("admin")
    run = uuid.uuid4().hex[:12]
    cursor = await pages_cursor(kafka_broker, prefix=topic_prefix)
    labels = {"alertname": "VigilE2EMail", "run": run, "severity": "critical", "service": "checkout"}
    async with httpx.AsyncClient(timeout=10) as http:
        await alertmanager.post_alerts(http, [postable_alert(
            labels, starts_at=now_ms() - timedelta(seconds=30), annotations={"summary": f"checkout is down {run}"})])

    def incident_of_run():
        items = inc.get("/api/v1/incidents", params={"q": run, "limit": 100}).json()["items"]
        return next((i for i in items if i["labels"].get("run") == run), None)

    incident = wait_for(incident_of_run, timeout_s=30, what="the incident")
    [on_call] = escalator.client("admin").get("/api/v1/oncall").json()
    primary = on_call["primary"][0]
    pages = await pages_of(cursor, incident["id"], prefix=topic_prefix, expected=len(on_call["primary"]), timeout_s=30)
    assert {p.target for p in pages} == set(on_call["primary"])

    received = mail.store.wait_for(
        lambda ms: any(incident["number"] in m.subject and m.to == f"{primary}@example.com" for m in ms), timeout_s=30)
    email = next(m for m in received if incident["number"] in m.subject and m.to == f"{primary}@example.com")
    assert "[SEV1]" in email.subject and f"checkout is down {run}" in email.subject
    links = re.findall(re.escape(PUBLIC) + r"(/ack/[A-Za-z0-9_-]+)", email.text)
    assert links, email.text
    browser = httpx.Client(base_url=notifier.url, timeout=10)

    # A mail scanner (or the person) opens the link: a page with a button, nothing acknowledged yet.
    ack_link = next(link for link in links if "acknowledge" in browser.get(link).text.lower())
    assert inc.get(f"/api/v1/incidents/{incident['id']}").json()["acknowledged_at"] is None

    pressed = browser.post(ack_link)
    assert pressed.status_code == 200, pressed.text
    assert "acknowledged" in pressed.text.lower()
    detail = wait_for(lambda: (d := inc.get(f"/api/v1/incidents/{incident['id']}").json())["acknowledged_at"] and d,
                      timeout_s=15, what="the incident acknowledged")
    assert detail["acknowledged_by"] == f"{primary} (link)"
    assert browser.post(ack_link).status_code == 200  # a double click acts once, and says so

    # Once the escalator has applied the acknowledgement (it arrives over Kafka), move past the 5
    # minutes after which the backup would be paged: nobody else is paged.
    wait_for(lambda: escalator.client("admin").get(f"/api/v1/incidents/{incident['id']}/escalation").json()
             .get("acknowledged_at"), timeout_s=15, what="the escalator applied the acknowledgement")
    escalator_clock.advance(minutes=6)
    escalator.app.state.escalator.ticker.wake()
    later = await pages_of(cursor, incident["id"], prefix=topic_prefix, expected=len(on_call["primary"]) + 1,
                           timeout_s=5)
    assert [p.target for p in later if p.role == "backup"] == []

    def timeline_has_the_email():
        texts = [t["text"] for t in inc.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]]
        return any("email" in t and primary in t for t in texts)

    wait_for(timeline_has_the_email, timeout_s=20, what="the delivery in the incident's timeline")

    # Its Resolve link while the alert still fires: a question first, then resolved on "Resolve anyway".
    resolve_link = next(link for link in links if "resolve" in browser.get(link).text.lower() and link != ack_link)
    asked = browser.post(resolve_link)
    assert asked.status_code == 409 and "is not resolved yet" in asked.text and "Resolve anyway" in asked.text, asked.text
    assert inc.get(f"/api/v1/incidents/{incident['id']}").json()["status"] != "resolved"
    anyway = browser.post(resolve_link, params={"even_if_firing": "true"})
    assert anyway.status_code == 200 and "resolved" in anyway.text.lower(), anyway.text
    resolved = inc.get(f"/api/v1/incidents/{incident['id']}").json()
    assert resolved["status"] == "resolved"
    assert any(t["text"] == f"resolved by {primary} (link) while 1 alert still fired" for t in resolved["timeline"])
    browser.close()
