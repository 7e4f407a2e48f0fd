"""Acknowledgement timeout across the two real services: an incident acknowledged and then left
alone is unacknowledged by the incident service at the escalator's request, and paged again."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from services.escalator.app import create_app as create_escalator
from services.incidents.app import create_app as create_incidents
from services.incidents.config import IncidentsSettings
from shared.events import Topic
from shared.local.kafka_broker import free_port
from tests.escalator_support import ADMIN, CONFIG, START, escalation, move_incident_ids, pages_of, settings_for, warm_up
from tests.support import ManualClock, ServerThread, TopicCursor, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clock():
    return ManualClock(START)


@pytest.fixture(scope="module")
def services(kafka_broker, database_url, clock, tmp_path_factory):
    config_file = tmp_path_factory.mktemp("escalator") / "escalator.yaml"
    config_file.write_text(CONFIG)
    incidents_settings = IncidentsSettings.load(
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers, database_url=database_url, api_tokens=[f"{ADMIN}:admin"],
        incidents_consumer_group=f"incidents-{random.randrange(10**6)}",
    )
    incidents = ServerThread(create_incidents(incidents_settings, clock=clock), free_port())
    with incidents:
        asyncio.run(move_incident_ids(database_url))
        escalator = ServerThread(create_escalator(settings_for(
            kafka_broker, database_url, config_file, escalator_incidents_url=incidents.url, escalator_incidents_token=ADMIN,
        ), clock=clock), free_port())
        with escalator:
            auth = {"Authorization": f"Bearer {ADMIN}"}
            with httpx.Client(base_url=incidents.url, timeout=30, headers=auth) as inc, \
                    httpx.Client(base_url=escalator.url, timeout=30, headers=auth) as esc:
                wait_for(lambda: inc.get("/readyz").status_code == 200 and esc.get("/readyz").status_code == 200, what="ready")
                asyncio.run(warm_up(kafka_broker, esc, clock))
                yield inc, esc


async def test_an_acknowledgement_that_lapses_is_cleared_and_the_primary_paged_again(kafka_broker, services, clock):
    inc, esc = services
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.PAGES)
    declared = inc.post("/api/v1/incidents", json={"title": "payments failing", "severity": 1})
    assert declared.status_code == 201, declared.text
    iid = declared.json()["id"]
    [first] = await pages_of(cursor, iid, expected=1, settle_s=0)
    assert (first.target, first.reason) == ("bob", "initial")

    clock.advance(minutes=1)
    assert inc.post(f"/api/v1/incidents/{iid}/acknowledge", json={"by": "bob"}).status_code == 200
    wait_for(lambda: [t["action"] for t in escalation(esc, iid)["timers"] if t["state"] == "pending"] == ["ack_check"],
             what="the acknowledgement to stop the escalation")
    clock.advance(minutes=29, seconds=59)  # critical: the acknowledgement lapses 30 min after it was given
    assert len(await pages_of(cursor, iid, expected=2, timeout_s=1.5)) == 1
    clock.advance(seconds=1)
    pages = await pages_of(cursor, iid, expected=2, timeout_s=15)
    assert [(p.target, p.reason) for p in pages] == [("bob", "initial"), ("bob", "ack-timeout")]

    incident = inc.get(f"/api/v1/incidents/{iid}").json()
    assert incident["acknowledged_at"] is None
    texts = [t["text"] for t in incident["timeline"]]
    assert any(t.startswith("unacknowledged: acknowledged at") and "not resolved within 30 min" in t for t in texts), texts
    wait_for(lambda: "paged bob (ack-timeout)" in [t["text"] for t in inc.get(f"/api/v1/incidents/{iid}").json()["timeline"]],
             what="the new page in the incident's timeline")

    # Resolving stops everything: nothing more is paged however long we wait.
    assert inc.post(f"/api/v1/incidents/{iid}/resolve", json={}).status_code == 200
    wait_for(lambda: not [t for t in escalation(esc, iid)["timers"] if t["state"] == "pending"], what="timers cancelled")
    clock.advance(hours=2)
    assert len(await pages_of(cursor, iid, expected=3, timeout_s=1.5)) == 2
