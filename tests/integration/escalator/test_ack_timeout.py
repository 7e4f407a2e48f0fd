"""Acknowledgement timeout across the two real services: an incident acknowledged and then left
alone is unacknowledged by the incident service at the escalator's request, and paged again."""

from __future__ import annotations

import asyncio

import pytest

from tests.escalator_support import START, escalation, pages_cursor, pages_of, run_escalator, warm_up
from tests.services import TOKENS
from tests.support import ManualClock, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clock():
    return ManualClock(START)


@pytest.fixture(scope="module")
def services(running_incidents, running_escalator, kafka_broker, topic_prefix, clock, tmp_path_factory):
    with running_incidents(clock=clock) as incidents, run_escalator(
        running_escalator, tmp_path_factory.mktemp("escalator"), clock=clock,
        escalator_incidents_url=incidents.url, escalator_incidents_token=TOKENS["admin"],
    ) as escalator:
        inc, esc = incidents.client("admin"), escalator.client("admin")
        asyncio.run(warm_up(kafka_broker, esc, clock, prefix=topic_prefix))
        yield inc, esc


async def test_an_acknowledgement_that_lapses_is_cleared_and_the_primary_paged_again(kafka_broker, topic_prefix, services, clock):
    inc, esc = services
    cursor = await pages_cursor(kafka_broker, prefix=topic_prefix)
    declared = inc.post("/api/v1/incidents", json={"title": "payments failing", "severity": 1})
    assert declared.status_code == 201, declared.text
    iid = declared.json()["id"]
    [first] = await pages_of(cursor, iid, prefix=topic_prefix, expected=1, settle_s=0)
    assert (first.target, first.reason) == ("bob", "initial")

    clock.advance(minutes=1)
    assert inc.post(f"/api/v1/incidents/{iid}/acknowledge", json={"by": "bob"}).status_code == 200
    wait_for(lambda: [t["action"] for t in escalation(esc, iid)["timers"] if t["state"] == "pending"] == ["ack_check"],
             what="the acknowledgement to stop the escalation")
    clock.advance(minutes=29, seconds=59)  # critical: the acknowledgement lapses 30 min after it was given
    assert len(await pages_of(cursor, iid, prefix=topic_prefix, expected=2, timeout_s=1.5)) == 1
    clock.advance(seconds=1)
    pages = await pages_of(cursor, iid, prefix=topic_prefix, expected=2, timeout_s=15)
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
    assert len(await pages_of(cursor, iid, prefix=topic_prefix, expected=3, timeout_s=1.5)) == 2
