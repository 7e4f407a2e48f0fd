"""All SQL of the operations records (postmortems, action items, noise marks, stored reports,
handoffs) and the reads the reports are computed from. Functions take a connection; the caller's
unit of work owns the transaction."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from services.incidents.postmortems import Draft
from services.incidents.repository import INCIDENT_COLUMNS

POSTMORTEM_COLUMNS = """id, incident_id, status, author, reviewers, summary, impact, duration_s, root_cause, resolution,
    timeline, went_well, went_poorly, lessons, checklist, review_at, published_at, created_at, updated_at"""

POSTMORTEM_SEVS = "SELECT sevs FROM incidents.postmortem_policy"
SET_POSTMORTEM_SEVS = "UPDATE incidents.postmortem_policy SET sevs = $1, updated_by = $2, updated_at = $3"

INSERT_POSTMORTEM = f"""
INSERT INTO incidents.postmortem
    (incident_id, author, summary, impact, duration_s, root_cause, resolution, timeline, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
ON CONFLICT (incident_id) DO NOTHING
RETURNING {POSTMORTEM_COLUMNS}"""

GET_POSTMORTEM = f"SELECT {POSTMORTEM_COLUMNS} FROM incidents.postmortem WHERE incident_id = $1"

UPDATE_POSTMORTEM = f"""
UPDATE incidents.postmortem SET
    status = $2, author = $3, reviewers = $4, summary = $5, impact = $6, root_cause = $7, resolution = $8,
    timeline = $9, went_well = $10, went_poorly = $11, lessons = $12, checklist = $13, review_at = $14,
    published_at = $15, updated_at = $16
WHERE incident_id = $1
RETURNING {POSTMORTEM_COLUMNS}"""

ACTION_ITEM_COLUMNS = "id, incident_id, postmortem_id, title, owner, priority, due_on, status, created_at, updated_at, closed_at"

INSERT_ACTION_ITEM = f"""
INSERT INTO incidents.action_item (incident_id, postmortem_id, title, owner, priority, due_on, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
RETURNING {ACTION_ITEM_COLUMNS}"""

GET_ACTION_ITEM = f"SELECT {ACTION_ITEM_COLUMNS} FROM incidents.action_item WHERE id = $1"

UPDATE_ACTION_ITEM = f"""
UPDATE incidents.action_item SET title = $2, owner = $3, priority = $4, due_on = $5, status = $6,
    closed_at = $7, updated_at = $8
WHERE id = $1
RETURNING {ACTION_ITEM_COLUMNS}"""

COUNT_ACTION_ITEMS = "SELECT count(*) FROM incidents.action_item WHERE incident_id = $1"

MARK_NOISE = """
INSERT INTO incidents.incident_noise (incident_id, reason, marked_by, marked_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (incident_id) DO UPDATE SET reason = EXCLUDED.reason, marked_by = EXCLUDED.marked_by, marked_at = EXCLUDED.marked_at"""
UNMARK_NOISE = "DELETE FROM incidents.incident_noise WHERE incident_id = $1"
IS_NOISE = "SELECT 1 FROM incidents.incident_noise WHERE incident_id = $1"

INCIDENTS_DETECTED_BETWEEN = f"""
SELECT {INCIDENT_COLUMNS}, EXISTS (SELECT 1 FROM incidents.incident_noise n WHERE n.incident_id = i.id) AS noise
FROM incidents.incident i WHERE detected_at >= $1 AND detected_at < $2 ORDER BY detected_at, id"""

OPEN_INCIDENTS = f"""
SELECT {INCIDENT_COLUMNS}, false AS noise FROM incidents.incident WHERE status <> 'resolved' ORDER BY severity, detected_at"""

# Alerts of a period: the occurrences that started firing in it (Alertmanager's startsAt) and joined
# an incident.
ALERTS_STARTED_BETWEEN = """
SELECT o.incident_id, EXISTS (SELECT 1 FROM incidents.incident_noise n WHERE n.incident_id = o.incident_id) AS noise
FROM incidents.alert_occurrence o
WHERE o.incident_id IS NOT NULL AND o.starts_at >= $1 AND o.starts_at < $2"""

REPORT_COLUMNS = "id, kind, period, period_start, period_end, data, manual, markdown, generated_by, generated_at, updated_at"

UPSERT_REPORT = f"""
INSERT INTO incidents.ops_report (kind, period, period_start, period_end, data, markdown, generated_by, generated_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (kind, period) DO UPDATE SET
    data = EXCLUDED.data, markdown = EXCLUDED.markdown, generated_by = EXCLUDED.generated_by,
    generated_at = EXCLUDED.generated_at, updated_at = EXCLUDED.updated_at
RETURNING {REPORT_COLUMNS}"""

GET_REPORT = f"SELECT {REPORT_COLUMNS} FROM incidents.ops_report WHERE kind = $1 AND period = $2"
UPDATE_REPORT_MANUAL = f"""
UPDATE incidents.ops_report SET manual = $3, markdown = $4, updated_at = $5 WHERE kind = $1 AND period = $2
RETURNING {REPORT_COLUMNS}"""
LIST_REPORTS = f"""
SELECT {REPORT_COLUMNS} FROM incidents.ops_report WHERE ($1::text IS NULL OR kind = $1) AND ($3::text IS NULL OR period = $3)
ORDER BY period_start DESC, id DESC LIMIT $2"""

HANDOFF_COLUMNS = """id, from_person, to_person, note, things_to_watch, data, markdown, created_by, created_at,
    acknowledged_by, acknowledged_at, updated_at"""
INSERT_HANDOFF = f"""
INSERT INTO incidents.handoff (from_person, to_person, note, things_to_watch, data, markdown, created_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
RETURNING {HANDOFF_COLUMNS}"""
GET_HANDOFF = f"SELECT {HANDOFF_COLUMNS} FROM incidents.handoff WHERE id = $1"
ACK_HANDOFF = f"""
UPDATE incidents.handoff SET acknowledged_by = $2, acknowledged_at = $3, markdown = $4, updated_at = $3 WHERE id = $1
RETURNING {HANDOFF_COLUMNS}"""
LIST_HANDOFFS = f"SELECT {HANDOFF_COLUMNS} FROM incidents.handoff ORDER BY created_at DESC, id DESC LIMIT $1"


async def postmortem_sevs(conn: asyncpg.Connection) -> list[int]:
    return list(await conn.fetchval(POSTMORTEM_SEVS) or [])


async def set_postmortem_sevs(conn: asyncpg.Connection, sevs: list[int], *, by: str, now: datetime) -> None:
    await conn.execute(SET_POSTMORTEM_SEVS, sorted(set(sevs)), by, now)


async def insert_postmortem(conn: asyncpg.Connection, incident_id: int, draft: Draft, *, now: datetime) -> asyncpg.Record | None:
    """The new postmortem, or None when the incident has one already."""
    return await conn.fetchrow(
        INSERT_POSTMORTEM, incident_id, draft.author, draft.summary, draft.impact, draft.duration_s, draft.root_cause,
        draft.resolution, draft.timeline, now,
    )


async def get_postmortem(conn: asyncpg.Connection, incident_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_POSTMORTEM, incident_id)


async def update_postmortem(conn: asyncpg.Connection, incident_id: int, fields: dict, *, now: datetime) -> asyncpg.Record:
    f = fields
    return await conn.fetchrow(
        UPDATE_POSTMORTEM, incident_id, f["status"], f["author"], f["reviewers"], f["summary"], f["impact"],
        f["root_cause"], f["resolution"], f["timeline"], f["went_well"], f["went_poorly"], f["lessons"],
        f["checklist"], f["review_at"], f["published_at"], now,
    )


async def list_postmortems(conn: asyncpg.Connection, *, status: str | None, incident_id: int | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {POSTMORTEM_COLUMNS} FROM incidents.postmortem
            WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR incident_id = $2)
            ORDER BY created_at DESC, id DESC LIMIT $3""",
        status, incident_id, limit,
    )


async def insert_action_item(
    conn: asyncpg.Connection, *, incident_id: int | None, postmortem_id: int | None, title: str, owner: str,
    priority: str, due_on: date, now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_ACTION_ITEM, incident_id, postmortem_id, title, owner, priority, due_on, now)


async def get_action_item(conn: asyncpg.Connection, item_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_ACTION_ITEM, item_id)


async def update_action_item(conn: asyncpg.Connection, item_id: int, fields: dict, *, now: datetime) -> asyncpg.Record:
    f = fields
    return await conn.fetchrow(
        UPDATE_ACTION_ITEM, item_id, f["title"], f["owner"], f["priority"], f["due_on"], f["status"], f["closed_at"], now
    )


async def list_action_items(
    conn: asyncpg.Connection, *, statuses: list[str], incident_id: int | None, owner: str | None,
    due_before: date | None, limit: int,
) -> list[asyncpg.Record]:
    """Due first. `due_before` selects items due before that day (the overdue list)."""
    return await conn.fetch(
        f"""SELECT {ACTION_ITEM_COLUMNS} FROM incidents.action_item
            WHERE (cardinality($1::text[]) = 0 OR status = ANY($1::text[]))
              AND ($2::bigint IS NULL OR incident_id = $2) AND ($3::text IS NULL OR owner = $3)
              AND ($4::date IS NULL OR due_on < $4)
            ORDER BY due_on, id LIMIT $5""",
        statuses, incident_id, owner, due_before, limit,
    )


async def count_action_items(conn: asyncpg.Connection, incident_id: int) -> int:
    return await conn.fetchval(COUNT_ACTION_ITEMS, incident_id)


async def set_noise(conn: asyncpg.Connection, incident_id: int, *, noise: bool, reason: str | None, by: str, now: datetime) -> None:
    if noise:
        await conn.execute(MARK_NOISE, incident_id, reason, by, now)
    else:
        await conn.execute(UNMARK_NOISE, incident_id)


async def is_noise(conn: asyncpg.Connection, incident_id: int) -> bool:
    return await conn.fetchval(IS_NOISE, incident_id) is not None


async def incidents_detected_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(INCIDENTS_DETECTED_BETWEEN, start, end)


async def open_incidents(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(OPEN_INCIDENTS)


async def alerts_started_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(ALERTS_STARTED_BETWEEN, start, end)


async def upsert_report(
    conn: asyncpg.Connection, *, kind: str, period: str, start: datetime, end: datetime, data: dict, markdown: str,
    by: str, now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(UPSERT_REPORT, kind, period, start, end, data, markdown, by, now)


async def get_report(conn: asyncpg.Connection, kind: str, period: str) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_REPORT, kind, period)


async def update_report_manual(
    conn: asyncpg.Connection, kind: str, period: str, *, manual: dict, markdown: str, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(UPDATE_REPORT_MANUAL, kind, period, manual, markdown, now)


async def list_reports(conn: asyncpg.Connection, *, kind: str | None, period: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_REPORTS, kind, limit, period)


async def insert_handoff(
    conn: asyncpg.Connection, *, from_person: str, to_person: str, note: str | None, things_to_watch: list[str],
    data: dict, markdown: str, by: str, now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_HANDOFF, from_person, to_person, note, things_to_watch, data, markdown, by, now)


async def get_handoff(conn: asyncpg.Connection, handoff_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_HANDOFF + (" FOR UPDATE" if for_update else ""), handoff_id)


async def acknowledge_handoff(conn: asyncpg.Connection, handoff_id: int, *, by: str, markdown: str, now: datetime) -> asyncpg.Record:
    return await conn.fetchrow(ACK_HANDOFF, handoff_id, by, now, markdown)


async def list_handoffs(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_HANDOFFS, limit)
