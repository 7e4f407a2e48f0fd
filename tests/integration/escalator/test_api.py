"""The escalator against the real broker and PostgreSQL, with a clock the test moves: incident events
in, pages and tickets out — on time, once — and its on-call API."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.events import PageRequested, TicketRequested, Topic, decode
from shared.identity import mint
from tests.escalator_support import START, escalation, incident_event, new_incident_id, page_records, pages_cursor, pages_of, publish, run_escalator, warm_up
from tests.services import TOKENS
from tests.support import ManualClock, TopicCursor, wait_for

pytestmark = pytest.mark.integration

RESPONDER, VIEWER = ({"Authorization": f"Bearer {TOKENS[role]}"} for role in ("responder", "viewer"))
IDENTITY_KEY = "identity-key-for-tests-0123456789abcdef"
ERIN = {"Authorization": "Bearer " + mint(IDENTITY_KEY.encode(), kind="token", person="erin", role="admin",
                                          expires_at=None, token_id="tok-erin")}  # a personal API token


@pytest.fixture(scope="module")
def clock():
    return ManualClock(START)


@pytest.fixture(scope="module")
def escalator(running_escalator, kafka_broker, topic_prefix, clock, tmp_path_factory):
    with run_escalator(running_escalator, tmp_path_factory.mktemp("escalator"), clock=clock, identity_keys=IDENTITY_KEY) as svc:
        api = svc.client("admin")
        asyncio.run(warm_up(kafka_broker, api, clock, prefix=topic_prefix))
        yield api


async def test_critical_incident_pages_the_primary_within_a_second_then_the_backup_at_five_minutes(kafka_broker, topic_prefix, escalator, clock):
    iid = new_incident_id()
    cursor = await pages_cursor(kafka_broker, prefix=topic_prefix)
    opened_at = clock()
    published_ms = time.time() * 1000
    await publish(kafka_broker, incident_event(iid, kind="opened", version=1, at=opened_at), prefix=topic_prefix)
    [record] = await page_records(cursor, iid, prefix=topic_prefix, expected=1, settle_s=0)
    # The broker's record time (the relay's produce) against the wall time the event was published.
    delay_ms = record.timestamp - published_ms
    assert delay_ms < 1000, f"the primary page took {delay_ms:.0f} ms"
    page = decode(PageRequested, record.value)
    assert (page.target, page.role, page.channel, page.reason, page.step) == ("bob", "primary", "page", "initial", 0)
    assert page.contact == "+49 30 1234" and page.due_at == opened_at and page.number == f"INC-{iid}"
    assert page.links == {"incident": f"https://vigil.example/incidents/{iid}"}  # opens in the console

    clock.advance(minutes=4, seconds=59)
    assert len(await pages_of(cursor, iid, prefix=topic_prefix, expected=2, timeout_s=1)) == 1, "the backup was paged early"
    clock.advance(seconds=1)
    pages = await pages_of(cursor, iid, prefix=topic_prefix, expected=2)
    assert [(p.target, p.role, p.reason) for p in pages] == [("bob", "primary", "initial"), ("dave", "backup", "escalation")]
    assert pages[1].due_at == opened_at + timedelta(minutes=5)
    assert len({p.page_id for p in pages}) == 2

    # The chain repeats (critical: 3 more passes, one every 10 min): the primary again at +10 min.
    clock.advance(minutes=5)
    pages = await pages_of(cursor, iid, prefix=topic_prefix, expected=3)
    assert (pages[2].target, pages[2].reason, pages[2].repetition) == ("bob", "repeat", 1)


async def test_an_acknowledgement_at_three_minutes_means_no_backup_page(kafka_broker, topic_prefix, escalator, clock):
    iid = new_incident_id()
    cursor = await pages_cursor(kafka_broker, prefix=topic_prefix)
    await publish(kafka_broker, incident_event(iid, kind="opened", version=1, at=clock()), prefix=topic_prefix)
    assert len(await pages_of(cursor, iid, prefix=topic_prefix, expected=1, settle_s=0)) == 1
    clock.advance(minutes=3)
    await publish(kafka_broker, incident_event(iid, kind="acknowledged", version=2, at=clock(), acknowledged_by="bob"), prefix=topic_prefix)

    def only_ack_check_pending():
        timers = escalation(escalator, iid)["timers"]
        pending = [t["action"] for t in timers if t["state"] == "pending"]
        return pending == ["ack_check"] and timers

    timers = wait_for(only_ack_check_pending, timeout_s=10, what="the acknowledgement to cancel the escalation")
    assert all(t["outcome"].startswith("cancelled") for t in timers if t["state"] == "cancelled")
    clock.advance(minutes=3)
    assert len(await pages_of(cursor, iid, prefix=topic_prefix, expected=2, timeout_s=1.5)) == 1, "paged the backup after an acknowledgement"


async def test_a_replayed_event_and_a_stale_one_change_nothing(kafka_broker, topic_prefix, escalator, clock):
    iid = new_incident_id()
    cursor = await pages_cursor(kafka_broker, prefix=topic_prefix)
    opened = incident_event(iid, kind="opened", version=1, at=clock())
    await publish(kafka_broker, opened, prefix=topic_prefix)
    await pages_of(cursor, iid, prefix=topic_prefix, expected=1, settle_s=0)
    resolved = incident_event(iid, kind="resolved", version=3, at=clock(), status="resolved")
    await publish(kafka_broker, resolved, opened, incident_event(iid, kind="severity_changed", version=2, at=clock()), prefix=topic_prefix)
    wait_for(lambda: escalation(escalator, iid)["status"] == "resolved", what="resolve applied")
    clock.advance(minutes=30)
    assert len(await pages_of(cursor, iid, prefix=topic_prefix, expected=2, timeout_s=1.5)) == 1
    assert not [t for t in escalation(escalator, iid)["timers"] if t["state"] == "pending"]


async def test_medium_and_low_incidents_open_tickets_with_their_due_times(kafka_broker, topic_prefix, escalator, clock):
    medium, low = new_incident_id(), new_incident_id()
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.TICKETS)
    now = clock()
    await publish(kafka_broker, incident_event(medium, kind="opened", version=1, severity=3, at=now),
                  incident_event(low, kind="opened", version=1, severity=4, at=now), prefix=topic_prefix)
    records = await cursor.read(expected=2, timeout_s=10)
    tickets = {t.incident_id: t for t in (decode(TicketRequested, r.value) for r in records) if t.incident_id in (medium, low)}
    assert tickets[medium].due_at == now + timedelta(hours=1)
    assert tickets[medium].assignee == "bob"
    # Low: next business-day opening in the default business hours (UTC, Mon-Fri 09:00): Thursday 09:00.
    assert tickets[low].due_at == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def test_an_incident_is_named_by_its_number_or_inc_n(kafka_broker, topic_prefix, escalator, clock):
    iid = new_incident_id()
    await publish(kafka_broker, incident_event(iid, kind="opened", version=1, at=clock(), severity=3), prefix=topic_prefix)
    wait_for(lambda: escalator.get(f"/api/v1/incidents/{iid}/escalation").status_code == 200, timeout_s=10, what="the incident seen")
    by_id = escalator.get(f"/api/v1/incidents/{iid}/escalation").json()
    for ref in (f"INC-{iid}", f"inc-{iid}"):
        response = escalator.get(f"/api/v1/incidents/{ref}/escalation")
        assert response.status_code == 200, response.text
        assert response.json() == by_id and by_id["number"] == f"INC-{iid}"
    for ref in ("INC-", "INC-x", "42a", "INC--1"):
        response = escalator.get(f"/api/v1/incidents/{ref}/escalation")
        assert response.status_code == 404 and response.json()["error"] == "not_found", response.text
    unseen = escalator.get("/api/v1/incidents/INC-1/escalation")
    assert unseen.status_code == 404 and unseen.json()["message"] == "the escalator has not seen INC-1"


def test_overrides_are_recorded_under_the_callers_identity(escalator, clock):
    start = clock() + timedelta(days=30)
    body = {"tier": "primary", "person": "frank", "start_at": start.isoformat(), "end_at": (start + timedelta(hours=1)).isoformat()}
    mine = escalator.post("/api/v1/schedules/ops/overrides", json=body, headers=ERIN)
    assert mine.status_code == 201, mine.text
    theirs = escalator.post("/api/v1/schedules/ops/overrides", json=body, headers=RESPONDER)
    assert (mine.json()["created_by"], theirs.json()["created_by"]) == ("erin", "responder-token-2")
    for override in (mine.json(), theirs.json()):
        assert escalator.delete(f"/api/v1/schedules/ops/overrides/{override['id']}", headers=ERIN).status_code == 204
    # Removal is recorded too: who took the override away, and when; it no longer applies.
    in_force = [o["id"] for o in escalator.get("/api/v1/schedules/ops/overrides").json()]
    assert mine.json()["id"] not in in_force and theirs.json()["id"] not in in_force
    removed = {o["id"]: o for o in escalator.get("/api/v1/schedules/ops/overrides", params={"removed": "true"}).json()}
    assert removed[theirs.json()["id"]]["created_by"] == "responder-token-2"
    assert removed[theirs.json()["id"]]["removed_by"] == "erin" and removed[theirs.json()["id"]]["removed_at"] is not None
    at = (start + timedelta(minutes=5)).isoformat()
    assert "frank" not in escalator.get("/api/v1/oncall", params={"schedule": "ops", "at": at}).json()[0]["primary"]
    again = escalator.delete(f"/api/v1/schedules/ops/overrides/{mine.json()['id']}", headers=ERIN)
    assert again.status_code == 404 and "in force" in again.json()["message"]


def test_who_is_on_call_shifts_and_the_handoff_overlap(escalator):
    [now] = escalator.get("/api/v1/oncall").json()
    assert (now["schedule"], now["primary"], now["backup"]) == ("ops", ["bob"], ["dave"])
    # Monday 2026-12-07 09:10 UTC: bob hands over to alice; both are on call until 09:30.
    [overlap] = escalator.get("/api/v1/oncall", params={"schedule": "ops", "at": "2026-12-07T09:10:00+00:00"}).json()
    assert overlap["primary"] == ["bob", "alice"] and overlap["backup"] == ["dave", "carol"]
    shifts = escalator.get("/api/v1/schedules/ops/shifts",
                           params={"start": "2026-12-07T00:00:00Z", "end": "2026-12-15T00:00:00Z"}).json()
    primary = [(s["person"], s["start_at"], s["end_at"]) for s in shifts if s["tier"] == "primary"]
    assert primary == [
        ("bob", "2026-11-30T09:00:00Z", "2026-12-07T09:30:00Z"),
        ("alice", "2026-12-07T09:00:00Z", "2026-12-14T09:30:00Z"),
        ("bob", "2026-12-14T09:00:00Z", "2026-12-21T09:30:00Z"),
    ]
    assert escalator.get("/api/v1/coverage/gaps").json() == []
    assert escalator.get("/api/v1/schedules/nope/shifts").status_code == 404
    assert escalator.get("/api/v1/oncall", params={"at": "2026-12-07T09:10:00"}).status_code == 422


def test_overrides_change_who_is_paged_and_a_hole_is_a_coverage_gap(escalator, clock):
    start, end = clock() + timedelta(days=1), clock() + timedelta(days=1, hours=2)
    body = {"tier": "primary", "person": "erin", "start_at": start.isoformat(), "end_at": end.isoformat()}
    created = escalator.post("/api/v1/schedules/ops/overrides", json=body, headers=RESPONDER)
    assert created.status_code == 201, created.text
    at = (start + timedelta(minutes=1)).isoformat()
    assert escalator.get("/api/v1/oncall", params={"at": at}).json()[0]["primary"] == ["erin"]
    hole = escalator.post("/api/v1/schedules/ops/overrides", headers=RESPONDER, json={
        "tier": "backup", "person": "", "start_at": start.isoformat(), "end_at": end.isoformat()})
    gaps = escalator.get("/api/v1/schedules/ops/gaps", params={"weeks": 2}).json()
    assert [(g["tier"], g["start_at"], g["minutes"]) for g in gaps] == [("backup", start.isoformat().replace("+00:00", "Z"), 120.0)]
    for override in (created.json(), hole.json()):
        assert escalator.delete(f"/api/v1/schedules/ops/overrides/{override['id']}", headers=RESPONDER).status_code == 204
    assert escalator.get("/api/v1/coverage/gaps").json() == []
    assert escalator.delete("/api/v1/schedules/ops/overrides/999999", headers=RESPONDER).status_code == 404
    bad = escalator.post("/api/v1/schedules/ops/overrides", headers=RESPONDER,
                         json={**body, "end_at": body["start_at"]})
    assert bad.status_code == 422 and "end_at must be after start_at" in bad.text
    viewer = escalator.post("/api/v1/schedules/ops/overrides", json=body, headers=VIEWER)
    assert viewer.status_code == 403


def test_icalendar_feeds_per_schedule_and_per_person(escalator):
    feed = escalator.get("/api/v1/schedules/ops/calendar.ics", headers={"Authorization": ""}, params={"token": TOKENS["viewer"]})
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    from icalendar import Calendar

    events = Calendar.from_ical(feed.content).walk("VEVENT")
    assert {str(e["summary"]).split(" ")[0] for e in events} == {"alice", "bob", "carol", "dave"}
    mine = Calendar.from_ical(escalator.get("/api/v1/people/alice/calendar.ics").content).walk("VEVENT")
    assert mine and all(str(e["summary"]).startswith("alice ") for e in mine)
    assert len({str(e["uid"]) for e in mine}) == len(mine)
    assert escalator.get("/api/v1/people/alice/calendar.ics", headers={"Authorization": ""}).status_code == 401


def test_the_configuration_can_be_read_and_replaced_and_is_validated(escalator):
    current = escalator.get("/api/v1/config").json()
    assert current["source"] == "file" and current["document"]["schedules"][0]["name"] == "ops"
    document = current["document"]
    document["people"]["alice"] = {"contact": "alice@example.org"}
    replaced = escalator.put("/api/v1/config", json=document, headers=ERIN)
    assert replaced.status_code == 200, replaced.text
    assert (current["created_by"], replaced.json()["created_by"]) == ("file escalator.yaml", "erin")  # the caller stored it
    assert replaced.json()["version"] == current["version"] + 1 and replaced.json()["source"] == "api"
    bad = escalator.put("/api/v1/config", content=b"schedules: []\n", headers={"Content-Type": "application/yaml"})
    assert bad.status_code == 422 and "schedules" in bad.json()["message"]
    assert escalator.put("/api/v1/config", content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
    too_big = escalator.put("/api/v1/config", content=b" " * (1024 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"
    forbidden = escalator.put("/api/v1/config", json=document, headers=RESPONDER)
    assert forbidden.status_code == 403
    assert escalator.get("/api/v1/config", headers={"Authorization": ""}).status_code == 401
    assert escalator.get("/api/v1/config").json()["version"] == current["version"] + 1


def test_timer_lateness_is_exported(escalator):
    metrics = escalator.get("/metrics").text
    assert "vigil_escalator_timer_lateness_seconds_count" in metrics
    assert 'vigil_escalator_actions_total{action="page"}' in metrics
