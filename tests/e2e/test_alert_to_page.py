"""The whole paging path with the configuration `vigil dev` ships: a critical alert posted to a real
Alertmanager reaches ingest, opens an incident, and ends as a page on `vigil.pages.v1` for whoever
the example rotation has on call — and in the incident's timeline."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from tests.e2e.alertmanager import postable_alert
from tests.e2e.test_alertmanager_to_kafka import now_ms
from tests.escalator_support import pages_cursor, pages_of
from tests.services import TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def incidents_and_escalator(running_incidents, running_escalator):
    """The incident service and the escalator on the module's database and topics (those the
    module's ingest writes to); the escalator with the shipped example configuration, as under
    `vigil dev`. Admin clients."""
    with running_incidents() as incidents, \
            running_escalator(escalator_incidents_url=incidents.url, escalator_incidents_token=TOKENS["admin"]) as escalator:
        yield incidents.client("admin"), escalator.client("admin")


async def test_a_critical_alert_ends_as_a_page_for_the_primary_on_call(kafka_broker, topic_prefix, alertmanager,
                                                                        incidents_and_escalator):
    inc, esc = incidents_and_escalator
    run = uuid.uuid4().hex[:12]
    cursor = await pages_cursor(kafka_broker, prefix=topic_prefix)
    labels = {"alertname": "VigilE2EPage", "run": run, "severity": "critical", "service": "checkout"}
    async with httpx.AsyncClient(timeout=10) as http:
        await alertmanager.post_alerts(http, [postable_alert(
            labels, starts_at=now_ms() - timedelta(seconds=30), annotations={"summary": "checkout is down"})])

    def incident_of_run():
        items = inc.get("/api/v1/incidents", params={"q": "checkout is down", "limit": 100}).json()["items"]
        return next((i for i in items if i["labels"].get("run") == run), None)

    incident = wait_for(incident_of_run, timeout_s=30, what="the incident")
    assert incident["severity"] == 1
    [on_call] = esc.get("/api/v1/oncall").json()
    pages = await pages_of(cursor, incident["id"], prefix=topic_prefix, expected=len(on_call["primary"]), timeout_s=30)
    assert sorted(p.target for p in pages) == sorted(on_call["primary"])
    assert all(p.reason == "initial" and p.channel == "page" and p.contact.endswith("@example.com") for p in pages)
    assert all(p.number == incident["number"] and p.title == "checkout is down" for p in pages)

    def timeline_has_page():
        texts = [t["text"] for t in inc.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]]
        return any(t.startswith("paged ") and "(initial)" in t for t in texts)

    wait_for(timeline_has_page, timeout_s=20, what="the page in the incident's timeline")
