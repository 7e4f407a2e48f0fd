"""All SQL of the report schedule's durable timers (`incidents.report_timer`, migration 0009): one
row per (kind, period) with its due time. Functions take a connection; the caller owns the
transaction (a claim is one statement and commits alone)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# A period planned already keeps its row; a new due time (the rules changed) replaces the old one
# until the row is done.
PLAN = """
INSERT INTO incidents.report_timer AS t (kind, period, due_at) VALUES ($1, $2, $3)
ON CONFLICT (kind, period) DO UPDATE SET due_at = EXCLUDED.due_at
WHERE t.done_at IS NULL AND t.due_at <> EXCLUDED.due_at"""
RESCHEDULE = """
UPDATE incidents.report_timer SET due_at = $3, lease_until = NULL WHERE kind = $1 AND period = $2 AND done_at IS NULL"""
# Due rows not done and not leased by a live replica: taken with a lease, skipping what another
# replica holds right now. A replica that dies mid-way leaves its lease to run out.
CLAIM_DUE = """
UPDATE incidents.report_timer t SET lease_until = $2
FROM (SELECT kind, period FROM incidents.report_timer
      WHERE done_at IS NULL AND due_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
      ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
WHERE t.kind = due.kind AND t.period = due.period
RETURNING t.kind, t.period, t.due_at"""
# The latest period that superseded missed ones, planned and leased at once (nothing when it exists:
# produced already, or planned and to be claimed like any other).
PLAN_LEASED = """
INSERT INTO incidents.report_timer (kind, period, due_at, lease_until) VALUES ($1, $2, $3, $4)
ON CONFLICT (kind, period) DO NOTHING
RETURNING kind, period, due_at"""
# Done once: the transaction that produces the report marks its row first; a second producer (a
# lease taken over) finds it done and does nothing.
FINISH = """
UPDATE incidents.report_timer SET done_at = $3, outcome = $4, note = $5, lease_until = NULL
WHERE kind = $1 AND period = $2 AND done_at IS NULL
RETURNING 1"""
LIST = "SELECT kind, period, due_at, done_at, outcome, note FROM incidents.report_timer ORDER BY due_at, kind"


async def plan(conn: asyncpg.Connection, *, kind: str, period: str, due_at: datetime) -> None:
    await conn.execute(PLAN, kind, period, due_at)


async def reschedule(conn: asyncpg.Connection, *, kind: str, period: str, due_at: datetime) -> None:
    await conn.execute(RESCHEDULE, kind, period, due_at)


async def claim_due(conn: asyncpg.Connection, *, now: datetime, lease_until: datetime, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(CLAIM_DUE, now, lease_until, limit)


async def plan_leased(conn: asyncpg.Connection, *, kind: str, period: str, due_at: datetime,
                      lease_until: datetime) -> asyncpg.Record | None:
    return await conn.fetchrow(PLAN_LEASED, kind, period, due_at, lease_until)


async def finish(conn: asyncpg.Connection, *, kind: str, period: str, now: datetime, outcome: str,
                 note: str | None = None) -> bool:
    return await conn.fetchval(FINISH, kind, period, now, outcome, note) is not None


async def timers(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(LIST)
