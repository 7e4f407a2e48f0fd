"""The report schedule on durable PostgreSQL timers, with a clock the test moves: a simulated month in
New York (DST ends on Sunday 1 November 2026; Veterans Day and Thanksgiving are federal holidays)
produces every report once per period and none on a holiday; after a gap only the latest period of
each kind is produced; two replicas produce each period once; the month's reminder digests go out
once per person and business day, none on a weekend or holiday."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.conftest import create_database
from tests.support import ManualClock

NY = ZoneInfo("America/New_York")
SCHEDULE = {"incidents_report_zone": "America/New_York", "incidents_business_country": "US",
            "incidents_schedule_check_s": 0.05, "incidents_public_url": "http://console.test", "incidents_reminders_at": "off"}
PRODUCED = re.compile(r'^vigil_incidents_reports_produced_total\{kind="(\w+)"\} (\S+)$', re.MULTILINE)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NY)


def produced_total(svc) -> int:
    """Reports produced by every replica of this process (they share the service's registry)."""
    return int(sum(float(v) for _, v in PRODUCED.findall(svc.client(None).get("/metrics").text)))


async def settled(conn: asyncpg.Connection, now: datetime, kinds: int = 3) -> None:
    """Wait until every row due by `now` is done and the next period of each kind is planned."""
    for _ in range(400):
        pending = await conn.fetchval(
            "SELECT count(*) FROM incidents.report_timer WHERE done_at IS NULL AND due_at <= $1", now)
        planned = await conn.fetchval("SELECT count(*) FROM incidents.report_timer WHERE due_at > $1", now)
        if pending == 0 and planned == kinds:
            return
        await asyncio.sleep(0.025)
    pytest.fail(f"the schedule did not settle at {now.isoformat()}")


async def run_until(conn: asyncpg.Connection, clock: ManualClock, end: datetime, kinds: int = 3) -> None:
    """Move the clock to one minute after each due time in turn, until `end`."""
    await settled(conn, clock.now, kinds)
    while (nxt := await conn.fetchval("SELECT min(due_at) FROM incidents.report_timer WHERE done_at IS NULL")) < end:
        clock.now = nxt + timedelta(minutes=1)
        await settled(conn, clock.now, kinds)
    clock.now = end
    await settled(conn, clock.now, kinds)


def reports(api) -> dict[str, list]:
    rows = api.get("/api/v1/reports", params={"limit": 200}).json()
    out: dict[str, list] = {"daily_check": [], "weekly_review": [], "monthly_review": []}
    for r in rows:
        out[r["kind"]].append(r)
    return {k: sorted(v, key=lambda r: r["period"]) for k, v in out.items()}


async def test_a_month_in_new_york_produces_each_report_once_and_none_on_a_holiday(running_incidents, database_url):
    clock = ManualClock(local("2026-10-29T12:00"))  # a Thursday, still on daylight time
    with running_incidents(clock=clock, **SCHEDULE) as svc:
        api = svc.client("admin")
        before = produced_total(svc)
        conn = await asyncpg.connect(database_url)
        try:
            await run_until(conn, clock, local("2026-11-02T12:00"))
            assert api.patch("/api/v1/reports/daily_check/2026-11-02", json={"operator": "ana"}).status_code == 200
            await run_until(conn, clock, local("2026-12-01T08:00"))
            timers = await conn.fetch("SELECT kind, period, outcome FROM incidents.report_timer WHERE done_at IS NOT NULL")
        finally:
            await conn.close()
        got = reports(api)
        total = produced_total(svc) - before

    days = [r["period"] for r in got["daily_check"]]
    november = [date(2026, 11, d) for d in range(1, 31)]
    expected_days = ["2026-10-30"] + [d.isoformat() for d in november
                                      if d.weekday() < 5 and d not in (date(2026, 11, 11), date(2026, 11, 26))]
    assert days == expected_days  # none on 29 October (before the service ran), weekends or holidays
    assert [r["period"] for r in got["weekly_review"]] == ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert [r["period"] for r in got["monthly_review"]] == ["2026-10"]
    assert total == len(timers) == len(days) + 5 + 1  # each period produced once
    assert {t["outcome"] for t in timers} == {"produced"}
    assert all(r["generated_by"] == "schedule" for k in got for r in got[k])
    by_day = {r["period"]: r for r in got["daily_check"]}
    # 09:00 in New York: 13:00 UTC before the change, 14:00 UTC after it; the first production stays.
    assert datetime.fromisoformat(by_day["2026-10-30"]["generated_at"]) == datetime(2026, 10, 30, 13, 1, tzinfo=UTC)
    assert datetime.fromisoformat(by_day["2026-11-02"]["generated_at"]) == datetime(2026, 11, 2, 14, 1, tzinfo=UTC)
    assert by_day["2026-11-02"]["manual"]["operator"] == "ana"
    monthly = got["monthly_review"][0]
    assert datetime.fromisoformat(monthly["generated_at"]) == local("2026-11-02T10:01").astimezone(UTC)


async def test_after_downtime_only_the_latest_period_of_each_kind_is_produced(running_incidents, postgres_server):
    database = create_database(postgres_server)
    clock = ManualClock(local("2026-11-06T08:00"))  # Friday, before its daily check
    with running_incidents(clock=clock, database_url=database, **SCHEDULE) as first:
        conn = await asyncpg.connect(database)
        try:
            await settled(conn, clock.now)
        finally:
            await conn.close()
        before = produced_total(first)  # the counter is the process's: catch-up runs as the next one starts
    clock.now = local("2026-11-10T12:00")  # down over Friday's and Monday's checks and Monday's weekly review
    with running_incidents(clock=clock, database_url=database, **SCHEDULE) as svc:
        conn = await asyncpg.connect(database)
        try:
            await settled(conn, clock.now)
            timers = {(r["kind"], r["period"]): r["outcome"] for r in await conn.fetch(
                "SELECT kind, period, outcome FROM incidents.report_timer WHERE done_at IS NOT NULL")}
        finally:
            await conn.close()
        got = reports(svc.client("admin"))
        total = produced_total(svc) - before
    assert [r["period"] for r in got["daily_check"]] == ["2026-11-10"]
    assert [r["period"] for r in got["weekly_review"]] == ["2026-W45"]
    assert got["monthly_review"] == []
    assert timers == {("daily_check", "2026-11-06"): "superseded", ("daily_check", "2026-11-10"): "produced",
                      ("weekly_review", "2026-W45"): "produced"}
    assert total == 2


async def test_two_replicas_produce_each_period_once(running_incidents, postgres_server):
    database = create_database(postgres_server)
    clock = ManualClock(local("2026-11-13T12:00"))
    with running_incidents(clock=clock, database_url=database, **SCHEDULE) as one, \
            running_incidents(clock=clock, database_url=database, **SCHEDULE):
        before = produced_total(one)
        conn = await asyncpg.connect(database)
        try:
            await run_until(conn, clock, local("2026-11-24T12:00"))
            produced = await conn.fetchval("SELECT count(*) FROM incidents.report_timer WHERE outcome = 'produced'")
            events = await conn.fetchval("SELECT count(*) FROM incidents.outbox WHERE topic LIKE '%vigil.reports.v1'")
        finally:
            await conn.close()
        got = reports(one.client("admin"))
        total = produced_total(one) - before
    # Mon 16 – Fri 20, Mon 23, Tue 24: seven daily checks; the reviews of W46 and W47.
    assert [r["period"] for r in got["daily_check"]] == ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19",
                                                          "2026-11-20", "2026-11-23", "2026-11-24"]
    assert [r["period"] for r in got["weekly_review"]] == ["2026-W46", "2026-W47"]
    assert total == produced == events == 9


async def test_a_month_of_reminder_digests_is_one_per_person_and_business_day_and_none_on_a_holiday(
        running_incidents, postgres_server):
    database = create_database(postgres_server)
    clock = ManualClock(local("2026-10-29T12:00"))  # after Thursday's 08:30: the first digests are Friday's
    only_reminders = {**SCHEDULE, "incidents_reminders_at": "08:30", "incidents_daily_check_at": "off",
                      "incidents_weekly_review_at": "off", "incidents_monthly_review_at": "off"}
    with running_incidents(clock=clock, database_url=database, **only_reminders) as svc:
        api = svc.client("admin")
        for owner, due_on in (("alice", "2026-10-20"), ("bob", "2026-11-20")):  # overdue all month; a Friday
            response = api.post("/api/v1/action-items", json={"title": f"{owner}'s follow-up", "owner": owner,
                                                               "priority": "P2", "due_on": due_on})
            assert response.status_code == 201, response.text
        conn = await asyncpg.connect(database)
        try:
            await run_until(conn, clock, local("2026-12-01T08:00"), kinds=1)
            rows = await conn.fetch("SELECT value FROM incidents.outbox WHERE topic LIKE '%vigil.reports.v1'")
        finally:
            await conn.close()
    sent = [json.loads(r["value"]) for r in rows]
    assert {m["kind"] for m in sent} == {"reminders"}
    per_person_day = Counter((m["recipients"][0], m["period"]) for m in sent)
    assert set(per_person_day.values()) == {1}, "one digest per person and day"
    business_days = [d.isoformat() for d in (date(2026, 10, 30) + timedelta(days=i) for i in range(32))
                     if d.weekday() < 5 and d not in (date(2026, 11, 11), date(2026, 11, 26))]  # Veterans Day, Thanksgiving
    assert sorted(day for person, day in per_person_day if person == "alice") == business_days
    # Bob's item is due Friday the 20th: reminded the business day before, on the day, then as overdue.
    assert sorted(day for person, day in per_person_day if person == "bob") == [d for d in business_days if d >= "2026-11-19"]
