"""All SQL of the operations records: postmortems, action items, noise marks, stored reports,
handoffs, the reads the reports are computed from, and the simple records (runbooks, toil,
reliability gaps, deployments, maintenance windows). Functions take a connection; the caller's
unit of work owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from services.incidents.ops.postmortems import Draft
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

# The daily check: alerts since the last check with their incident's state, whether any alert ever
# came, tickets on incidents still open, and when the last check before a day was produced.
ALERTS_WITH_STATE_BETWEEN = """
SELECT o.incident_id, i.status, i.acknowledged_at IS NOT NULL AS acknowledged
FROM incidents.alert_occurrence o JOIN incidents.incident i ON i.id = o.incident_id
WHERE o.starts_at >= $1 AND o.starts_at < $2"""
ANY_ALERT = "SELECT EXISTS (SELECT 1 FROM incidents.alert_occurrence)"
OPEN_TICKETS = """
SELECT t.incident_id, t.text, t.at FROM incidents.timeline_entry t JOIN incidents.incident i ON i.id = t.incident_id
WHERE t.kind = 'ticket' AND i.status <> 'resolved' ORDER BY t.at"""
LAST_DAILY_CHECK_BEFORE = """
SELECT generated_at FROM incidents.ops_report WHERE kind = 'daily_check' AND period < $1 ORDER BY period DESC LIMIT 1"""

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


async def last_daily_check_before(conn: asyncpg.Connection, day: str) -> datetime | None:
    return await conn.fetchval(LAST_DAILY_CHECK_BEFORE, day)


async def alerts_with_state_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[dict]:
    return [dict(r) for r in await conn.fetch(ALERTS_WITH_STATE_BETWEEN, start, end)]


async def any_alert(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval(ANY_ALERT)


async def open_tickets(conn: asyncpg.Connection) -> list[dict]:
    return [dict(r) for r in await conn.fetch(OPEN_TICKETS)]


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


# --- the simple records: create, update, list, delete. The statements are built once at import
# from the fixed column lists below (never from a request); every value is a bound parameter.

@dataclass(frozen=True)
class RecordKind:
    table: str
    columns: tuple[str, ...]  # what a request may set
    order_by: str
    author_column: str | None = None  # set to the request's actor on create

    @property
    def all_columns(self) -> str:
        extra = (self.author_column,) if self.author_column else ()
        return ", ".join(("id", *self.columns, *extra, "created_at", "updated_at"))


RECORD_KINDS: dict[str, RecordKind] = {
    "runbook": RecordKind(
        "runbook", ("name", "link", "owner", "last_updated_on", "last_tested_on", "last_test_result", "next_review_on"), "name"
    ),
    "toil": RecordKind(
        "toil", ("task", "month", "frequency", "minutes_per_occurrence", "automation_effort", "monthly_savings_minutes"),
        "month DESC, task",
    ),
    "reliability_gap": RecordKind(
        "reliability_gap", ("gap", "impact", "priority", "improvement", "owner", "target_on", "status"), "priority, id"
    ),
    "deployment": RecordKind(
        "deployment", ("change", "service", "deployed_at", "status", "issues"), "deployed_at DESC, id DESC", "recorded_by"
    ),
    "maintenance_window": RecordKind(
        "maintenance_window", ("starts_at", "ends_at", "activity", "impact", "service", "matchers"), "starts_at, id",
        "created_by"
    ),
}


class RecordConflict(Exception):
    """The record breaks a uniqueness or consistency rule (HTTP 409)."""


def _insert_sql(kind: RecordKind) -> str:
    cols = list(kind.columns) + ([kind.author_column] if kind.author_column else [])
    params = ", ".join(f"${n}" for n in range(1, len(cols) + 1))
    now = f"${len(cols) + 1}"
    return (
        f"INSERT INTO incidents.{kind.table} ({', '.join(cols)}, created_at, updated_at) "
        f"VALUES ({params}, {now}, {now}) RETURNING {kind.all_columns}"
    )


def _update_sql(kind: RecordKind) -> str:
    sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(kind.columns, start=2))
    now = f"${len(kind.columns) + 2}"
    return f"UPDATE incidents.{kind.table} SET {sets}, updated_at = {now} WHERE id = $1 RETURNING {kind.all_columns}"


INSERT_RECORD = {name: _insert_sql(k) for name, k in RECORD_KINDS.items()}
UPDATE_RECORD = {name: _update_sql(k) for name, k in RECORD_KINDS.items()}
GET_RECORD = {name: f"SELECT {k.all_columns} FROM incidents.{k.table} WHERE id = $1" for name, k in RECORD_KINDS.items()}
LIST_RECORDS = {name: f"SELECT {k.all_columns} FROM incidents.{k.table} ORDER BY {k.order_by} LIMIT $1" for name, k in RECORD_KINDS.items()}
DELETE_RECORD = {name: f"DELETE FROM incidents.{k.table} WHERE id = $1 RETURNING id" for name, k in RECORD_KINDS.items()}
DEPLOYMENTS_BETWEEN = f"""
SELECT {RECORD_KINDS['deployment'].all_columns} FROM incidents.deployment
WHERE deployed_at >= $1 AND deployed_at < $2 ORDER BY deployed_at, id"""
MAINTENANCE_FROM = f"""
SELECT {RECORD_KINDS['maintenance_window'].all_columns} FROM incidents.maintenance_window
WHERE ends_at > $1 AND starts_at < $2 ORDER BY starts_at, id"""


async def create_record(conn: asyncpg.Connection, name: str, values: dict, *, actor: str, now: datetime) -> asyncpg.Record:
    kind = RECORD_KINDS[name]
    args = [values.get(c) for c in kind.columns] + ([actor] if kind.author_column else [])
    try:
        return await conn.fetchrow(INSERT_RECORD[name], *args, now)
    except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
        raise RecordConflict(_why(name, exc)) from None


async def get_record(conn: asyncpg.Connection, name: str, record_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_RECORD[name], record_id)


async def update_record(conn: asyncpg.Connection, name: str, record_id: int, changes: dict, *, now: datetime) -> asyncpg.Record | None:
    """Apply the sent fields over the stored ones; None when there is no such record."""
    current = await conn.fetchrow(GET_RECORD[name] + " FOR UPDATE", record_id)
    if current is None:
        return None
    kind = RECORD_KINDS[name]
    args = [changes[c] if c in changes else current[c] for c in kind.columns]
    try:
        return await conn.fetchrow(UPDATE_RECORD[name], record_id, *args, now)
    except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
        raise RecordConflict(_why(name, exc)) from None


async def delete_record(conn: asyncpg.Connection, name: str, record_id: int) -> bool:
    return await conn.fetchval(DELETE_RECORD[name], record_id) is not None


async def list_records(conn: asyncpg.Connection, name: str, *, limit: int = 1000) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_RECORDS[name], limit)


async def deployments_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(DEPLOYMENTS_BETWEEN, start, end)


async def maintenance_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(MAINTENANCE_FROM, start, end)


def _why(name: str, exc: asyncpg.PostgresError) -> str:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return f"a {name.replace('_', ' ')} with these values exists already ({exc.constraint_name})"
    if isinstance(exc, asyncpg.NotNullViolationError):
        return f"the {name.replace('_', ' ')} needs a value for {exc.column_name}"
    return f"the {name.replace('_', ' ')} breaks the rule {exc.constraint_name}"

