"""The whole paging path with the configuration `vigil dev` ships: a critical alert posted to a real
Alertmanager reaches ingest, opens an incident, and ends as a page on `vigil.pages.v1` for whoever
the example rotation has on call — and in the incident's timeline."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest

from services.escalator.app import create_app as create_escalator
from services.escalator.config import EscalatorSettings
from services.incidents.app import create_app as create_incidents
from services.incidents.config import IncidentsSettings
from shared.events import Topic
from shared.local.kafka_broker import free_port
from tests.conftest import create_database
from tests.e2e.alertmanager import postable_alert
from tests.e2e.test_alertmanager_to_kafka import now_ms
from tests.escalator_support import move_incident_ids, pages_of
from tests.support import ServerThread, TopicCursor, wait_for

pytestmark = pytest.mark.e2e
ADMIN = "e2e-admin-token-0123456789"


@pytest.fixture(scope="module")
def incidents_and_escalator(kafka_broker, postgres_server):
    database_url = create_database(postgres_server)
    common = dict(kafka_bootstrap_servers=kafka_broker.bootstrap_servers, database_url=database_url, api_tokens=[f"{ADMIN}:admin"])
    incidents = ServerThread(create_incidents(IncidentsSettings.load(
        **common, incidents_consumer_group=f"e2e-incidents-{uuid.uuid4().hex[:6]}")), free_port())
    with incidents:
        asyncio.run(move_incident_ids(database_url))
        escalator_settings = EscalatorSettings.load(  # the shipped example configuration, as under `vigil dev`
            **common, escalator_consumer_group=f"e2e-escalator-{uuid.uuid4().hex[:6]}",
            escalator_incidents_url=incidents.url, escalator_incidents_token=ADMIN,
        )
        with ServerThread(create_escalator(escalator_settings), free_port()) as escalator:
            auth = {"Authorization": f"Bearer {ADMIN}"}
            with httpx.Client(base_url=incidents.url, headers=auth, timeout=30) as inc, \
                    httpx.Client(base_url=escalator.url, headers=auth, timeout=30) as esc:
                wait_for(lambda: inc.get("/readyz").status_code == 200 and esc.get("/readyz").status_code == 200,
                         timeout_s=60, what="incidents and escalator ready")
                yield inc, esc


async def test_a_critical_alert_ends_as_a_page_for_the_primary_on_call(kafka_broker, alertmanager, incidents_and_escalator):
    inc, esc = incidents_and_escalator
    run = uuid.uuid4().hex[:12]
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.PAGES)
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
    pages = await pages_of(cursor, incident["id"], expected=len(on_call["primary"]), timeout_s=30)
    assert sorted(p.target for p in pages) == sorted(on_call["primary"])
    assert all(p.reason == "initial" and p.channel == "page" and p.contact.endswith("@example.com") for p in pages)
    assert all(p.number == incident["number"] and p.title == "checkout is down" for p in pages)

    def timeline_has_page():
        texts = [t["text"] for t in inc.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]]
        return any(t.startswith("paged ") and "(initial)" in t for t in texts)

    wait_for(timeline_has_page, timeout_s=20, what="the page in the incident's timeline")
