"""All SQL of heartbeat monitors (`ingest.heartbeat`); the transaction is the caller's."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from services.ingest.heartbeats.schedule import Schedule
from services.ingest.heartbeats.states import Monitor

TIMER_CHANNEL = "ingest_heartbeat"  # NOTIFY '<due_at>' when a deadline moved close: checkers look again

COLUMNS = """id::text AS id, name, service, severity, summary, labels, period_s, cron, timezone, grace_s, token_sha256, token_hint,
status, last_ping_at, last_start_at, expected_at, due_at, firing_since, firing_reason, created_at, created_by, updated_at"""

INSERT = f"""
INSERT INTO ingest.heartbeat (id, name, service, severity, labels, period_s, cron, timezone, grace_s, token_sha256,
                              token_hint, status, created_at, created_by, updated_at, summary)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, 'new', $12, $13, $12, $14)
ON CONFLICT (name) DO NOTHING
RETURNING {COLUMNS}"""

GET = f"SELECT {COLUMNS} FROM ingest.heartbeat WHERE id = $1"
LOCK = f"SELECT {COLUMNS} FROM ingest.heartbeat WHERE id = $1 FOR UPDATE"
LIST = f"SELECT {COLUMNS} FROM ingest.heartbeat ORDER BY name"

CLAIM_DUE = f"""
SELECT {COLUMNS} FROM ingest.heartbeat
WHERE due_at <= $1
ORDER BY due_at
LIMIT $2
FOR UPDATE SKIP LOCKED"""

NEXT_DUE = "SELECT min(due_at) FROM ingest.heartbeat WHERE due_at IS NOT NULL"

# Every field a decision may change, for many monitors in one statement.
SAVE_STATES = """
UPDATE ingest.heartbeat AS h SET
    status = s.status, last_ping_at = s.last_ping_at, last_start_at = s.last_start_at, expected_at = s.expected_at,
    due_at = s.due_at, firing_since = s.firing_since, firing_reason = s.firing_reason, updated_at = $9
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[],
            $7::timestamptz[], $8::text[])
     AS s(id, status, last_ping_at, last_start_at, expected_at, due_at, firing_since, firing_reason)
WHERE h.id = s.id"""

UPDATE_DEFINITION = f"""
UPDATE ingest.heartbeat SET name = $2, service = $3, severity = $4, labels = $5::jsonb, period_s = $6, cron = $7,
    timezone = $8, grace_s = $9, updated_at = $10, summary = $11
WHERE id = $1
RETURNING {COLUMNS}"""

DELETE = "DELETE FROM ingest.heartbeat WHERE id = $1"
NOTIFY = f"SELECT pg_notify('{TIMER_CHANNEL}', $1)"


def monitor_of(row: asyncpg.Record) -> Monitor:
    labels = row["labels"]
    return Monitor(
        id=row["id"], name=row["name"], service=row["service"], severity=row["severity"], summary=row["summary"],
        labels=json.loads(labels) if isinstance(labels, str) else labels,
        schedule=Schedule(period_s=row["period_s"], cron=row["cron"], timezone=row["timezone"]), grace_s=row["grace_s"],
        status=row["status"], last_ping_at=row["last_ping_at"], last_start_at=row["last_start_at"],
        expected_at=row["expected_at"], due_at=row["due_at"], firing_since=row["firing_since"],
        firing_reason=row["firing_reason"],
    )


async def insert(
    conn: asyncpg.Connection, *, monitor: Monitor, token_sha256: bytes, token_hint: str, now: datetime, by: str,
) -> asyncpg.Record | None:
    """The new monitor's row; None when a monitor has that name."""
    s = monitor.schedule
    return await conn.fetchrow(INSERT, monitor.id, monitor.name, monitor.service, monitor.severity, json.dumps(monitor.labels),
                               s.period_s, s.cron, s.timezone, monitor.grace_s, token_sha256, token_hint, now, by,
                               monitor.summary)


async def get(conn: asyncpg.Connection, monitor_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK if lock else GET, monitor_id)


async def list_all(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(LIST)


async def claim_due(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Monitors whose deadline passed, oldest first, locked; rows another checker holds are skipped."""
    return await conn.fetch(CLAIM_DUE, now, limit)


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval(NEXT_DUE)


async def save_states(conn: asyncpg.Connection, monitors: list[Monitor], *, now: datetime) -> None:
    columns = list(zip(*((m.id, m.status, m.last_ping_at, m.last_start_at, m.expected_at, m.due_at, m.firing_since,
                          m.firing_reason) for m in monitors), strict=True))
    await conn.execute(SAVE_STATES, *columns, now)


async def update_definition(conn: asyncpg.Connection, monitor: Monitor, *, now: datetime) -> asyncpg.Record:
    s = monitor.schedule
    return await conn.fetchrow(UPDATE_DEFINITION, monitor.id, monitor.name, monitor.service, monitor.severity,
                               json.dumps(monitor.labels), s.period_s, s.cron, s.timezone, monitor.grace_s, now,
                               monitor.summary)


async def delete(conn: asyncpg.Connection, monitor_id: str) -> None:
    await conn.execute(DELETE, monitor_id)


async def notify_due(conn: asyncpg.Connection, due_at: datetime) -> None:
    """Tell the checkers (every replica's) that a deadline moved to `due_at` (delivered at commit)."""
    await conn.execute(NOTIFY, due_at.isoformat())
