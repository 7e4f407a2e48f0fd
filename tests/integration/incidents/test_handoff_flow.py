"""The shift-change handoff flow end to end, on the real broker and PostgreSQL: two escalator
replicas (ops: alice/bob weekly, Monday 09:00 UTC, 30 min overlap) announce the handover once, an
hour ahead (vigil.handovers.v1); two incident-service replicas draft one handoff, ask the outgoing
person to complete it, the incoming one to acknowledge it when the overlap starts, and flag it to
the team when the overlap ends unacknowledged (nothing when acknowledged). A handoff written by hand
is checked against the rotation."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.events import HandoverDue, ReportPublished, Topic, decode
from tests.escalator_support import run_escalator
from tests.services import TOKENS
from tests.support import ManualClock, TopicCursor, wait_for

pytestmark = pytest.mark.integration

API = "/api/v1"
# Monday 7 December 2026 is shift 48 of the rotation anchored Monday 5 January: bob hands over to alice.
HANDOVER = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
NEXT = HANDOVER + timedelta(days=7)  # alice hands back to bob
TEAM = "oncall-team@example.com"
INCIDENTS = {"incidents_schedule_check_s": 0.05, "incidents_public_url": "http://console.test",
             "incidents_reminders_at": "off", "incidents_report_recipients": [TEAM]}


async def handoff_messages(cursor: TopicCursor, expected: int) -> list[ReportPublished]:
    """The handoff messages after the cursor, once `expected` of them arrived (or 20 s passed), and
    whatever else came a second later; the report schedule's own reports are left out."""
    deadline, wanted = time.monotonic() + 20, expected
    while True:
        records = await cursor.read(expected=wanted, timeout_s=max(deadline - time.monotonic(), 0.1), settle_s=1.0)
        found = [m for m in (decode(ReportPublished, r.value) for r in records) if m.kind.startswith("handoff")]
        if len(found) >= expected or time.monotonic() >= deadline:
            return sorted(found, key=lambda m: m.occurred_at)  # keyed by kind: partitions do not keep their order
        wanted = len(records) + expected - len(found)


@pytest.fixture(scope="module")
def flow(running_escalator, running_incidents, tmp_path_factory):
    clock = ManualClock(HANDOVER - timedelta(hours=2))
    config_dir = tmp_path_factory.mktemp("escalator")
    with run_escalator(running_escalator, config_dir, clock=clock, escalator_shift_notice_interval_s=0.2) as escalator, \
            run_escalator(running_escalator, config_dir, clock=clock, escalator_shift_notice_interval_s=0.2):
        peer = {"incidents_escalator_url": escalator.url, "incidents_peer_token": TOKENS["viewer"],
                "incidents_consumer_group": "incidents-handoff-flow"}
        with running_incidents(clock=clock, **INCIDENTS, **peer) as one, running_incidents(clock=clock, **INCIDENTS, **peer):
            yield clock, one.client("responder"), one.client("viewer")


def drafted(viewer, at: datetime) -> dict:
    return wait_for(lambda: next((h for h in viewer.get(f"{API}/handoffs").json() if h["handover_at"] == at.isoformat()
                                  .replace("+00:00", "Z")), None), timeout_s=30, what=f"the handoff of {at}")


async def test_a_handover_drafts_one_handoff_asks_both_people_and_flags_it_when_unacknowledged(flow, kafka_broker, topic_prefix):
    clock, _responder, viewer = flow
    reports = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.REPORTS)
    announced = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.HANDOVERS)
    await asyncio.sleep(0.5)
    assert await handoff_messages(reports, 0) == [], "two hours ahead nothing is announced"

    clock.now = HANDOVER - timedelta(minutes=50)
    handoff = drafted(viewer, HANDOVER)
    assert (handoff["from_person"], handoff["to_person"], handoff["status"], handoff["schedule"]) == ("bob", "alice", "draft", "ops")
    assert handoff["overlap_ends_at"].startswith("2026-12-07T09:30") and handoff["rotation_checked"] is True
    assert {"open_items", "pending_tickets", "actions_this_week", "silences", "maintenance"} <= set(handoff["data"])
    assert "### Silences in Force" in handoff["markdown"] and "draft" in handoff["markdown"]
    [due] = await handoff_messages(reports, 1)
    assert (due.kind, due.recipients, due.url) == ("handoff_due", ("bob",), f"http://console.test/operations/handoffs/{handoff['id']}")
    assert due.title == "Complete your on-call handoff to alice (ops)"
    [handover] = [decode(HandoverDue, r.value) for r in await announced.read(expected=1, settle_s=1.0)]
    assert (handover.from_person, handover.to_person, handover.at) == ("bob", "alice", HANDOVER), "once, two escalators"

    clock.now = HANDOVER + timedelta(minutes=1)  # the overlap starts: alice is asked
    wait_for(lambda: viewer.get(f"{API}/handoffs/{handoff['id']}").json()["ack_requested_at"], timeout_s=10, what="ack asked")
    clock.now = HANDOVER + timedelta(minutes=31)  # the overlap ended unacknowledged
    flagged = wait_for(lambda: (h := viewer.get(f"{API}/handoffs/{handoff['id']}").json())["status"] == "flagged" and h,
                       timeout_s=10, what="flagged")
    assert "NOT ACKNOWLEDGED" in flagged["markdown"]
    messages = await handoff_messages(reports, 3)
    assert [(m.kind, m.recipients) for m in messages] == [
        ("handoff_due", ("bob",)), ("handoff_ack", ("alice",)), ("handoff_unacknowledged", (TEAM,))], "each once, two replicas"
    assert "alice did not acknowledge the handoff from bob" in messages[2].summary
    assert len([h for h in viewer.get(f"{API}/handoffs").json() if h["handover_at"]]) == 1


async def test_the_outgoing_person_completes_the_draft_and_an_acknowledged_handoff_is_not_flagged(flow, kafka_broker, topic_prefix):
    clock, responder, viewer = flow
    reports = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.REPORTS)
    clock.now = NEXT - timedelta(minutes=30)
    handoff = drafted(viewer, NEXT)
    assert (handoff["from_person"], handoff["to_person"]) == ("alice", "bob")
    url = f"{API}/handoffs/{handoff['id']}"
    wrong = responder.put(url, json={"note": "hi", "by": "bob"})
    assert wrong.status_code == 403 and "the handoff is from alice; bob cannot complete it" in wrong.text
    done = responder.put(url, json={"note": "quiet week", "things_to_watch": ["disk on db-2"], "by": "alice",
                                    "open_items": [{"item": "rotate the TLS cert", "priority": "P2"}]})
    assert done.status_code == 200, done.text
    done = done.json()
    assert done["status"] == "completed" and done["completed_at"] and "disk on db-2" in done["markdown"]
    assert done["data"]["open_items"] == [{"item": "rotate the TLS cert", "priority": "P2", "context": ""}]

    clock.now = NEXT + timedelta(minutes=5)
    wait_for(lambda: viewer.get(url).json()["ack_requested_at"], timeout_s=10, what="ack asked")
    acked = responder.post(f"{url}/acknowledge", json={"by": "bob"})
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged", acked.text
    assert responder.put(url, json={"note": "late edit", "by": "alice"}).status_code == 409
    clock.now = NEXT + timedelta(minutes=45)
    messages = await handoff_messages(reports, 2)
    assert [(m.kind, m.recipients) for m in messages] == [("handoff_due", ("alice",)), ("handoff_ack", ("bob",))]
    assert viewer.get(url).json()["flagged_at"] is None


def test_a_handoff_written_by_hand_is_checked_against_the_rotation(flow):
    clock, responder, _viewer = flow
    clock.now = NEXT - timedelta(hours=3)  # the next handover is alice -> bob at 09:00
    refused = responder.post(f"{API}/handoffs", json={"from_person": "bob", "to_person": "carol"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"] == ("the rotation hands ops over from alice to bob at 2026-12-14 09:00 UTC, "
                                         "not from bob to carol")
    taken = responder.post(f"{API}/handoffs", json={"from_person": "alice", "to_person": "bob", "note": "by hand"})
    assert taken.status_code == 201, taken.text
    assert (taken.json()["rotation_checked"], taken.json()["status"]) == (True, "completed")
