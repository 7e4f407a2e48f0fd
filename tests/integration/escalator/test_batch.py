"""The consumer's set-based batch path writes exactly what the one-by-one path writes: the same
incident rows, timers (ids, due times, states, outcomes), pages, tickets and outbox rows (byte for
byte, in order), on the real PostgreSQL, and logs the same line per page sent and ticket opened.
And the precomputed on-call windows answer exactly what `rotation.on_call` answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.escalator import repository as repo, service
from services.escalator.app import MIGRATIONS
from services.escalator.oncall_config import load_yaml
from services.escalator.rotation import Override, Rotation, on_call, on_call_window
from services.escalator.firing import fire_batch_due_now, fire_due_now
from shared.db import migrate
from tests.conftest import create_database
from tests.escalator_support import START, incident_event

pytestmark = pytest.mark.integration

# "ops" pages bob (primary) and dave (backup) at START; "db" has nobody as primary, so its plans
# pull the backup step to now (two pages due at once) and repeat passes fall through.
CONFIG = """
schedules:
  - name: ops
    primary: {participants: [alice, bob], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
    backup: {participants: [carol, dave], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
  - name: db
    primary: {participants: [], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
    backup: {participants: [erin], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
people:
  bob: {contact: "+49 30 1234"}
  erin: {contact: "erin@example.com"}
routes:
  - {match: {team: db}, schedule: db}
"""


def test_on_call_windows_answer_what_on_call_answers():
    berlin = Rotation(name="p", participants=("ann", "ben", "cat"), zone="Europe/Berlin", anchor_date=date(2026, 1, 5),
                      handoff_time=time(2, 30), shift_days=1, overlap_minutes=45)
    made = datetime(2026, 3, 1, tzinfo=UTC)
    overrides = (Override("zed", datetime(2026, 3, 29, 5, tzinfo=UTC), datetime(2026, 3, 29, 9, tzinfo=UTC), made),
                 Override("", datetime(2026, 3, 30, 0, 40, tzinfo=UTC), datetime(2026, 3, 30, 1, 10, tzinfo=UTC), made))
    start = datetime(2026, 3, 28, 20, tzinfo=UTC)  # across the spring DST change in Berlin
    window = on_call_window(berlin, overrides, start=start, end=start + timedelta(days=3))
    checked = 0
    for minutes in range(-600, 5 * 24 * 60, 7):  # before, inside and after the window
        at = start + timedelta(minutes=minutes, seconds=minutes % 60)
        assert window.on_call(at) == on_call(berlin, overrides, at=at), at
        checked += 1
    assert checked > 1000
    assert window.on_call(datetime(2026, 3, 29, 6, tzinfo=UTC)) == ["zed"]


async def _database(postgres_server, config) -> asyncpg.Pool:
    url = create_database(postgres_server)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, init=repo.init_connection)
    async with pool.acquire() as conn:
        await migrate(conn, schema=repo.SCHEMA, directory=MIGRATIONS)
        store = service.ConfigStore()
        async with conn.transaction():
            await store.store(conn, config, source="file", by="test", now=START)
        # An override: carol instead of dave as backup of "ops" for the first hour.
        await repo.insert_override(conn, schedule="ops", tier="backup", person="carol", start_at=START - timedelta(hours=1),
                                   end_at=START + timedelta(hours=1), by="test", now=START - timedelta(days=1))
    return pool


async def _one_by_one(pool, store, events, now) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for event in events:
            applied = await service.apply_incident_event(conn, event, store=store, now=now)
            if applied.due_now:
                await fire_due_now(conn, applied.due_now, store=store, config=applied.config, now=now, link_base="https://v",
                                   who=applied.who)


async def _set_based(pool, store, events, now) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        applied = await service.apply_incident_events(conn, events, store=store, now=now)
        if applied is None:
            return False
        await fire_batch_due_now(conn, applied, store=store, now=now, link_base="https://v")
    return True


async def _contents(pool) -> dict:
    async with pool.acquire() as conn:
        return {
            "incident": [tuple(r) for r in await conn.fetch(
                "SELECT id, number, version, title, severity, status, acknowledged_at, acknowledged_by, labels, schedule, "
                "policy, ack_timed_out, opened_at, updated_at FROM escalator.incident ORDER BY id")],
            "timer": [tuple(r) for r in await conn.fetch(
                "SELECT id, incident_id, escalation, step, repetition, role, action, due_at, fire_at, attempts, reason, "
                "ticket_due_at, state, outcome, fired_at FROM escalator.timer ORDER BY id")],
            "page": [tuple(r) for r in await conn.fetch("SELECT * FROM escalator.page ORDER BY page_id")],
            "ticket": [tuple(r) for r in await conn.fetch("SELECT * FROM escalator.ticket ORDER BY ticket_id")],
            "outbox": [tuple(r) for r in await conn.fetch("SELECT event_id, topic, key, value, headers FROM escalator.outbox ORDER BY id")],
            "processed": sorted(r[0] for r in await conn.fetch("SELECT event_id FROM escalator.processed_event")),
        }


async def test_a_batch_applied_set_based_writes_what_one_by_one_writes(postgres_server):
    config = load_yaml(CONFIG)
    pools = [await _database(postgres_server, config) for _ in range(2)]
    stores = [service.ConfigStore(), service.ConfigStore()]

    def ev(iid, kind, version, severity=1, minutes=0, **kw):
        event = incident_event(iid, kind=kind, version=version, severity=severity, at=START + timedelta(minutes=minutes), **kw)
        return event.model_copy(update={"labels": {"team": "db"}}) if iid % 10 == 3 else event

    opened = [ev(iid, "opened", 1, severity=sev) for iid, sev in ((1, 1), (2, 1), (3, 1), (11, 2), (12, 3), (13, 4), (21, 1))]
    batches = [
        (START, opened),
        # A replay and a stale event change nothing; acknowledged, resolved, severity changed.
        (START + timedelta(minutes=2), [opened[0], ev(2, "status_changed", 1), ev(3, "acknowledged", 2, minutes=2, acknowledged_by="erin"),
                                        ev(11, "resolved", 2, severity=2, minutes=2, status="resolved"),
                                        ev(21, "severity_changed", 2, severity=2, minutes=2)]),
        # An incident first seen acknowledged; an unacknowledgement restarts the escalation.
        (START + timedelta(minutes=4), [ev(31, "acknowledged", 3, minutes=4, acknowledged_by="bob"),
                                        ev(3, "unacknowledged", 3, minutes=4)]),
        # Two events of one incident in one poll: applied in order (the one-by-one path).
        (START + timedelta(minutes=6), [ev(41, "opened", 1, minutes=6), ev(41, "acknowledged", 2, minutes=6, acknowledged_by="bob")]),
    ]
    set_based_batches = 0
    logged: tuple[list, list] = ([], [])
    for now, events in batches:
        with capture_logs() as logs:
            await _one_by_one(pools[0], stores[0], events, now)
        logged[0].extend(logs)
        with capture_logs() as logs:
            if await _set_based(pools[1], stores[1], events, now):
                set_based_batches += 1
            else:  # what the consumer then does
                await _one_by_one(pools[1], stores[1], events, now)
        logged[1].extend(logs)
    assert set_based_batches == 3  # the last batch went one by one, as it must
    one, other = [await _contents(pool) for pool in pools]
    for pool in pools:
        await pool.close()
    assert one["page"], "the scenario pages"
    assert {p[3] for p in one["page"]} >= {"bob", "erin"}  # the db schedule's backup paged at once
    assert one["ticket"], "the medium incident opened a ticket at once"
    for table in one:
        assert other[table] == one[table], table
    sent = [sorted((e["event"], sorted(e.items())) for e in logs if e["event"] in ("page sent", "ticket opened"))
            for logs in logged]
    assert sent[1] == sent[0]
    pages = {e["page_id"]: e for e in logged[0] if e["event"] == "page sent"}
    assert len(pages) == len(one["page"]) and len(sent[0]) == len(one["page"]) + len(one["ticket"])
    for page_id, _timer_id, incident_id, target, *_ in one["page"]:  # grep INC-<n> finds the incident's pages
        assert (pages[page_id]["incident_id"], pages[page_id]["person"]) == (f"INC-{incident_id}", target)


def test_the_ticker_wakes_for_a_stored_timer_only_when_it_is_due_before_its_planned_wake_up():
    from services.escalator.incidents_client import IncidentsClient
    from services.escalator.ticker import Ticker

    ticker = Ticker(None, store=service.ConfigStore(), clock=lambda: START, incidents=IncidentsClient(None, None))
    ticker._wake_at = START + timedelta(seconds=5)  # asleep until then
    ticker._on_notify(None, 0, "escalator_timer", (START + timedelta(minutes=5)).isoformat())
    assert not ticker._wake.is_set()  # it looks again before that timer is due
    ticker._on_notify(None, 0, "escalator_timer", (START + timedelta(seconds=1)).isoformat())
    assert ticker._wake.is_set()
    ticker._wake.clear()
    ticker._on_notify(None, 0, "escalator_timer", "")  # unknown due time (a NOTIFY without payload)
    assert ticker._wake.is_set()
    ticker._wake.clear()
    ticker._wake_at = None  # while ticking: every notification counts
    ticker._on_notify(None, 0, "escalator_timer", (START + timedelta(hours=1)).isoformat())
    assert ticker._wake.is_set()
