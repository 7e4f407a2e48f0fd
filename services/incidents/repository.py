"""All SQL of the incident service: named constants and small functions taking a connection.
Repositories never open or commit transactions; the caller's unit of work does."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg
from pydantic_core import to_json

from services.incidents.alerts import Occurrence
from services.incidents.lifecycle import Entry, Incident
from shared.events import AlertEvent
from shared.outbox import channel as outbox_channel

SCHEMA = "incidents"

MARK_PROCESSED = "INSERT INTO incidents.processed_event (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1"

MARK_PROCESSED_MANY = """
INSERT INTO incidents.processed_event (event_id) SELECT unnest($1::text[])
ON CONFLICT DO NOTHING RETURNING event_id"""

GET_OCCURRENCE = """
SELECT fingerprint, starts_at, status, incident_id FROM incidents.alert_occurrence
WHERE fingerprint = $1 AND starts_at = $2 FOR UPDATE"""

INSERT_OCCURRENCE = """
INSERT INTO incidents.alert_occurrence
    (fingerprint, starts_at, status, incident_id, severity, alertname, labels, annotations, group_key,
     source, generator_url, ends_at, first_seen_at, last_seen_at, suppressed_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)
ON CONFLICT (fingerprint, starts_at) DO NOTHING"""

TOUCH_OCCURRENCE = "UPDATE incidents.alert_occurrence SET last_seen_at = $3 WHERE fingerprint = $1 AND starts_at = $2"

# Statements for many rows at once, for the batched alert path: inserts from arrays of the
# single-row statement's parameters (jsonb values as JSON text, json.dumps as the connection's jsonb
# codec encodes them). Reads and updates of many rows instead run the single-row statement once per
# row in one round trip (asyncpg's fetchmany/executemany): a join with unnest($1) would be planned
# once, while the tables are small, as a sequential scan, and keep that plan as they grow.
INSERT_OCCURRENCES = """
INSERT INTO incidents.alert_occurrence
    (fingerprint, starts_at, status, incident_id, severity, alertname, labels, annotations, group_key,
     source, generator_url, ends_at, first_seen_at, last_seen_at, suppressed_by)
SELECT fingerprint, starts_at, status, incident_id, severity, alertname, labels::jsonb, annotations::jsonb,
       group_key, source, generator_url, ends_at, seen_at, seen_at, suppressed_by
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[], $5::smallint[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::bigint[])
    AS r(fingerprint, starts_at, status, incident_id, severity, alertname, labels, annotations, group_key,
         source, generator_url, ends_at, seen_at, suppressed_by)
ON CONFLICT (fingerprint, starts_at) DO NOTHING"""

RESOLVE_OCCURRENCE = """
UPDATE incidents.alert_occurrence SET status = 'resolved', ends_at = $3, last_seen_at = $4
WHERE fingerprint = $1 AND starts_at = $2"""

EARLIER_START = "UPDATE incidents.incident SET started_at = $2 WHERE id = $1 AND started_at > $2"

FIRING_COUNT = "SELECT count(*) FROM incidents.alert_occurrence WHERE incident_id = $1 AND status = 'firing'"

ALERT_CHANGES_SINCE = """
SELECT count(*) FROM incidents.timeline_entry
WHERE incident_id = $1 AND at >= $2 AND kind IN ('alert_firing', 'alert_resolved')"""
FLAPPING_SINCE = "SELECT flapping_since FROM incidents.incident WHERE id = $1"
SET_FLAPPING = "UPDATE incidents.incident SET flapping_since = $2 WHERE id = $1"
# Flapping incidents whose alerts have been stable for the window (or that were resolved meanwhile).
FLAPPING_SETTLED = """
SELECT i.id, i.status FROM incidents.incident i
WHERE i.flapping_since IS NOT NULL AND (i.status = 'resolved' OR NOT EXISTS (
    SELECT 1 FROM incidents.timeline_entry t
    WHERE t.incident_id = i.id AND t.at >= $1 AND t.kind IN ('alert_firing', 'alert_resolved')))
ORDER BY i.id LIMIT 100 FOR NO KEY UPDATE OF i SKIP LOCKED"""

INCIDENT_COLUMNS = """id, version, group_key, title, severity, severity_source, status, commander, impact_users,
    impact_features, impact_revenue, impact_text, detected_by, labels, started_at, detected_at, acknowledged_at,
    acknowledged_by, mitigated_at, resolved_at, root_cause, contributing_factors, fix_applied, status_text,
    next_update_at, created_at, updated_at, suppressed_by_window, suppression_lifted_at"""

# Incident rows are locked FOR NO KEY UPDATE, never FOR UPDATE: an incident's id never changes, and
# FOR UPDATE would also wait for the FOR KEY SHARE lock every insert referring to the incident takes
# (a timeline entry, an occurrence). The page consumer's poll inserts timeline entries of many
# incidents in one transaction while an alert poll locks many: with FOR UPDATE the two deadlocked
# under an alert storm (bench.faults storm: 69 deadlocks in 30 s, each poll of 1,000 alerts then
# folded one by one); with NO KEY UPDATE they do not wait for each other at all.
OPEN_INCIDENT_OF_GROUP = f"""
SELECT {INCIDENT_COLUMNS} FROM incidents.incident WHERE group_key = $1 AND status <> 'resolved' FOR NO KEY UPDATE"""

INSERT_INCIDENT = f"""
INSERT INTO incidents.incident
    (group_key, title, severity, severity_source, status, detected_by, labels, started_at, detected_at, impact_text, commander,
     suppressed_by_window)
VALUES ($1, $2, $3, $10, 'investigating', $4, $5, $6, $7, $8, $9, $11)
ON CONFLICT (group_key) WHERE status <> 'resolved' DO NOTHING
RETURNING {INCIDENT_COLUMNS}"""

OPEN_INCIDENT_CORRELATED = f"""
SELECT {INCIDENT_COLUMNS} FROM incidents.incident
WHERE status <> 'resolved' AND detected_at >= $3 AND labels ->> $1 = $2
ORDER BY detected_at DESC, id DESC LIMIT 1 FOR NO KEY UPDATE"""

RECENTLY_RESOLVED_WITH_FINGERPRINT = f"""
SELECT {INCIDENT_COLUMNS} FROM incidents.incident
WHERE status = 'resolved' AND resolved_at >= $2
  AND id IN (SELECT incident_id FROM incidents.alert_occurrence WHERE fingerprint = $1)
ORDER BY resolved_at DESC LIMIT 1 FOR NO KEY UPDATE"""

GET_INCIDENT = f"SELECT {INCIDENT_COLUMNS} FROM incidents.incident WHERE id = $1"
GET_INCIDENT_FOR_UPDATE = GET_INCIDENT + " FOR NO KEY UPDATE"

SAVE_LIFECYCLE = f"""
UPDATE incidents.incident SET
    version = version + 1, status = $2, severity = $3, severity_source = $4, commander = $5,
    acknowledged_at = $6, acknowledged_by = $7, mitigated_at = $8, resolved_at = $9,
    root_cause = $10, contributing_factors = $11, fix_applied = $12, updated_at = $13
WHERE id = $1
RETURNING {INCIDENT_COLUMNS}"""

UPDATE_DETAILS = """
UPDATE incidents.incident SET
    version = version + 1, impact_users = $2, impact_features = $3, impact_revenue = $4, impact_text = $5,
    status_text = $6, next_update_at = $7, updated_at = $8
WHERE id = $1
RETURNING version"""

INSERT_TIMELINE = """
INSERT INTO incidents.timeline_entry (incident_id, at, kind, text, actor, dedup_key)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedup_key) DO NOTHING"""

# In the arrays' order, so the entries get their ids in that order.
INSERT_TIMELINE_ROWS = """
INSERT INTO incidents.timeline_entry (incident_id, at, kind, text, actor, dedup_key)
SELECT incident_id, at, kind, text, actor, dedup_key
FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[])
    WITH ORDINALITY AS t(incident_id, at, kind, text, actor, dedup_key, n)
ORDER BY n
ON CONFLICT (dedup_key) DO NOTHING"""

# The held-back inserts of the batched alert path in one statement (each part as in
# INSERT_OCCURRENCES, INSERT_TIMELINE_ROWS and shared.outbox.enqueue_many; empty arrays insert
# nothing). The parts are independent inserts: incident ids they refer to exist already. Outbox
# and timeline rows get their ids in the arrays' order; the relay is woken (NOTIFY, delivered at
# commit) only when there are outbox rows.
INSERT_BATCH = """
WITH outbox AS (
    INSERT INTO incidents.outbox (event_id, topic, key, value, headers)
    SELECT event_id, topic, key, value, headers
    FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[])
        WITH ORDINALITY AS r(event_id, topic, key, value, headers, n)
    ORDER BY n
    ON CONFLICT (event_id) DO NOTHING
), occurrences AS (
    INSERT INTO incidents.alert_occurrence
        (fingerprint, starts_at, status, incident_id, severity, alertname, labels, annotations, group_key,
         source, generator_url, ends_at, first_seen_at, last_seen_at, suppressed_by)
    SELECT fingerprint, starts_at, status, incident_id, severity, alertname, labels::jsonb, annotations::jsonb,
           group_key, source, generator_url, ends_at, seen_at, seen_at, suppressed_by
    FROM unnest($6::text[], $7::timestamptz[], $8::text[], $9::bigint[], $10::smallint[], $11::text[], $12::text[],
                $13::text[], $14::text[], $15::text[], $16::text[], $17::timestamptz[], $18::timestamptz[],
                $19::bigint[])
        AS r(fingerprint, starts_at, status, incident_id, severity, alertname, labels, annotations, group_key,
             source, generator_url, ends_at, seen_at, suppressed_by)
    ON CONFLICT (fingerprint, starts_at) DO NOTHING
), timeline AS (
    INSERT INTO incidents.timeline_entry (incident_id, at, kind, text, actor, dedup_key)
    SELECT incident_id, at, kind, text, actor, dedup_key
    FROM unnest($20::bigint[], $21::timestamptz[], $22::text[], $23::text[], $24::text[], $25::text[])
        WITH ORDINALITY AS t(incident_id, at, kind, text, actor, dedup_key, n)
    ORDER BY n
    ON CONFLICT (dedup_key) DO NOTHING
)
SELECT pg_notify($26, '') WHERE $27::boolean"""

TIMELINE = """
SELECT at, kind, text, actor FROM incidents.timeline_entry WHERE incident_id = $1 ORDER BY at, id"""
# The newest $2 entries (the index on (incident_id, at, id) read backwards), newest first.
TIMELINE_NEWEST = """
SELECT at, kind, text, actor FROM incidents.timeline_entry WHERE incident_id = $1 ORDER BY at DESC, id DESC LIMIT $2"""
TIMELINE_COUNT = "SELECT count(*) FROM incidents.timeline_entry WHERE incident_id = $1"

ALERTS_OF_INCIDENT = """
SELECT fingerprint, starts_at, status, severity, alertname, labels, annotations, generator_url, ends_at,
       first_seen_at, last_seen_at
FROM incidents.alert_occurrence WHERE incident_id = $1 ORDER BY first_seen_at, fingerprint"""

ATTACH_OCCURRENCE = """
UPDATE incidents.alert_occurrence SET incident_id = $3 WHERE fingerprint = $1 AND starts_at = $2
RETURNING severity, status"""

GET_IDEMPOTENT = "SELECT request, status_code, response FROM incidents.idempotency_key WHERE key = $1 AND principal = $2"
PUT_IDEMPOTENT = """
INSERT INTO incidents.idempotency_key (key, principal, request, status_code, response) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING"""


def incident_from_row(row: asyncpg.Record) -> Incident:
    return Incident(
        id=row["id"], status=row["status"], severity=row["severity"], severity_source=row["severity_source"],
        detected_at=row["detected_at"], started_at=row["started_at"], commander=row["commander"],
        acknowledged_at=row["acknowledged_at"], acknowledged_by=row["acknowledged_by"],
        mitigated_at=row["mitigated_at"], resolved_at=row["resolved_at"], root_cause=row["root_cause"],
        contributing_factors=row["contributing_factors"], fix_applied=row["fix_applied"],
    )


async def init_connection(conn: asyncpg.Connection) -> None:
    """Pool connection setup: jsonb columns as Python dicts."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def mark_processed(conn: asyncpg.Connection, event_id: str) -> bool:
    """True the first time an event id is seen; False for a duplicate (then do nothing)."""
    return await conn.fetchval(MARK_PROCESSED, event_id) is not None


async def mark_processed_many(conn: asyncpg.Connection, event_ids: list[str]) -> set[str]:
    """`mark_processed` for many ids in one statement: the ids seen now for the first time."""
    rows = await conn.fetch(MARK_PROCESSED_MANY, list(dict.fromkeys(event_ids)))
    return {r["event_id"] for r in rows}


def _occurrence(row: asyncpg.Record) -> Occurrence:
    return Occurrence(row["fingerprint"], row["starts_at"], row["status"], row["incident_id"])


async def get_occurrence(conn: asyncpg.Connection, fingerprint: str, starts_at: datetime) -> Occurrence | None:
    row = await conn.fetchrow(GET_OCCURRENCE, fingerprint, starts_at)
    return _occurrence(row) if row else None


async def get_occurrences(conn: asyncpg.Connection, keys: list[tuple[str, datetime]]) -> dict[tuple[str, datetime], Occurrence]:
    """`get_occurrence` (FOR UPDATE, in key order) for many (fingerprint, starts_at) keys, in one
    round trip; absent keys are missing."""
    rows = await conn.fetchmany(GET_OCCURRENCE, sorted(keys))
    return {(r["fingerprint"], r["starts_at"]): _occurrence(r) for r in rows}


def occurrence_args(
    *, event: AlertEvent, incident_id: int | None, severity: int, group_key: str, now: datetime, suppressed_by: int | None = None,
) -> tuple:
    return (
        event.fingerprint, event.starts_at, event.status, incident_id, severity, event.labels.get("alertname"),
        event.labels, event.annotations, group_key, event.source, event.generator_url, event.ends_at, now, suppressed_by,
    )


async def insert_occurrence(
    conn: asyncpg.Connection, *, event: AlertEvent, incident_id: int | None, severity: int, group_key: str, now: datetime,
    suppressed_by: int | None = None,
) -> None:
    """`suppressed_by`: the silence holding it (then no incident)."""
    await conn.execute(INSERT_OCCURRENCE, *occurrence_args(
        event=event, incident_id=incident_id, severity=severity, group_key=group_key, now=now, suppressed_by=suppressed_by))


def _columns(rows: list[tuple]) -> list[list]:
    return [list(column) for column in zip(*rows, strict=True)]


async def insert_occurrences(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """`insert_occurrence` for many rows (from `occurrence_args`, at most one per occurrence) in one
    statement."""
    columns = _columns(rows)
    # pydantic_core's encoder (a third of json.dumps' cost): other JSON text, the same jsonb value.
    columns[6] = [to_json(v).decode() for v in columns[6]]  # labels
    columns[7] = [to_json(v).decode() for v in columns[7]]  # annotations
    await conn.execute(INSERT_OCCURRENCES, *columns)


async def insert_batch(conn: asyncpg.Connection, *, outbox: list[tuple], occurrences: list[tuple], timeline: list[tuple]) -> None:
    """Outbox rows (from `shared.outbox.outbox_row`), new occurrences (from `occurrence_args`, at
    most one per occurrence) and timeline entries (from `timeline_args`), each in its list's order,
    in one statement: what `enqueue_many`, `insert_occurrences` and `add_timeline_rows` store."""
    occurrence_columns = _columns(occurrences) if occurrences else [[] for _ in range(14)]
    if occurrences:
        occurrence_columns[6] = [to_json(v).decode() for v in occurrence_columns[6]]  # labels
        occurrence_columns[7] = [to_json(v).decode() for v in occurrence_columns[7]]  # annotations
    await conn.execute(
        INSERT_BATCH,
        *(_columns(outbox) if outbox else [[] for _ in range(5)]),
        *occurrence_columns,
        *(_columns(timeline) if timeline else [[] for _ in range(6)]),
        outbox_channel(SCHEMA), bool(outbox),
    )


async def touch_occurrence(conn: asyncpg.Connection, event: AlertEvent, now: datetime) -> None:
    await conn.execute(TOUCH_OCCURRENCE, event.fingerprint, event.starts_at, now)


async def touch_occurrences(conn: asyncpg.Connection, rows: list[tuple[str, datetime, datetime]]) -> None:
    """`touch_occurrence` for many (fingerprint, starts_at, now) rows, in one round trip."""
    await conn.executemany(TOUCH_OCCURRENCE, rows)


async def resolve_occurrence(conn: asyncpg.Connection, event: AlertEvent, now: datetime) -> None:
    await conn.execute(RESOLVE_OCCURRENCE, event.fingerprint, event.starts_at, event.ends_at or now, now)


async def note_alert_start(conn: asyncpg.Connection, incident_id: int, starts_at: datetime) -> None:
    """An incident started when its earliest alert started."""
    await conn.execute(EARLIER_START, incident_id, starts_at)


async def note_alert_starts(conn: asyncpg.Connection, rows: list[tuple[int, datetime]]) -> None:
    """`note_alert_start` for many (incident_id, starts_at) rows, in one round trip."""
    await conn.executemany(EARLIER_START, rows)


async def firing_count(conn: asyncpg.Connection, incident_id: int) -> int:
    return await conn.fetchval(FIRING_COUNT, incident_id)


async def alert_changes_since(conn: asyncpg.Connection, incident_id: int, since: datetime) -> int:
    """How often the incident's alerts fired or resolved since `since` (from its timeline)."""
    return await conn.fetchval(ALERT_CHANGES_SINCE, incident_id, since)


async def flapping_since(conn: asyncpg.Connection, incident_id: int) -> datetime | None:
    return await conn.fetchval(FLAPPING_SINCE, incident_id)


async def set_flapping(conn: asyncpg.Connection, incident_id: int, since: datetime | None) -> None:
    await conn.execute(SET_FLAPPING, incident_id, since)


async def flapping_settled(conn: asyncpg.Connection, *, stable_since: datetime) -> list[asyncpg.Record]:
    """Flapping incidents (locked; others skipped) without alert changes since `stable_since`, or resolved."""
    return await conn.fetch(FLAPPING_SETTLED, stable_since)


async def open_incident_of_group(conn: asyncpg.Connection, group_key: str) -> Incident | None:
    row = await conn.fetchrow(OPEN_INCIDENT_OF_GROUP, group_key)
    return incident_from_row(row) if row else None


async def open_incident_correlated(conn: asyncpg.Connection, label: str, value: str, since: datetime) -> Incident | None:
    """The latest open incident whose labels have `label` = `value`, detected at or after `since`."""
    row = await conn.fetchrow(OPEN_INCIDENT_CORRELATED, label, value, since)
    return incident_from_row(row) if row else None


async def open_incidents_of_groups(conn: asyncpg.Connection, group_keys: list[str]) -> dict[str, Incident]:
    """`open_incident_of_group` (FOR NO KEY UPDATE, in group order) for many groups, in one round trip;
    groups without one are missing."""
    rows = await conn.fetchmany(OPEN_INCIDENT_OF_GROUP, [(g,) for g in sorted(group_keys)])
    return {r["group_key"]: incident_from_row(r) for r in rows}


async def insert_incident(
    conn: asyncpg.Connection, *, group_key: str, title: str, severity: int, detected_by: str,
    labels: dict, started_at: datetime, detected_at: datetime, impact_text: str | None = None,
    commander: str | None = None, severity_source: str = "alerts", suppressed_by_window: int | None = None,
) -> asyncpg.Record | None:
    """The new incident's row (as `get_incident_row` reads it), or None when another transaction
    opened one for the group first. `suppressed_by_window`: opened inside that maintenance window's
    scope (never paged)."""
    return await conn.fetchrow(
        INSERT_INCIDENT, group_key, title, severity, detected_by, labels, started_at, detected_at, impact_text,
        commander, severity_source, suppressed_by_window,
    )


async def recently_resolved_with_fingerprint(conn: asyncpg.Connection, fingerprint: str, since: datetime) -> Incident | None:
    row = await conn.fetchrow(RECENTLY_RESOLVED_WITH_FINGERPRINT, fingerprint, since)
    return incident_from_row(row) if row else None


async def get_incident_row(conn: asyncpg.Connection, incident_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_INCIDENT_FOR_UPDATE if for_update else GET_INCIDENT, incident_id)


async def save_lifecycle(conn: asyncpg.Connection, incident: Incident, now: datetime) -> asyncpg.Record | None:
    """Store the lifecycle fields; returns the incident's row after the change (as
    `get_incident_row` reads it, with the new version)."""
    i = incident
    return await conn.fetchrow(
        SAVE_LIFECYCLE, i.id, i.status, i.severity, i.severity_source, i.commander, i.acknowledged_at,
        i.acknowledged_by, i.mitigated_at, i.resolved_at, i.root_cause, i.contributing_factors, i.fix_applied, now,
    )


async def update_details(conn: asyncpg.Connection, incident_id: int, *, details: dict, now: datetime) -> int:
    return await conn.fetchval(
        UPDATE_DETAILS, incident_id, details["impact_users"], details["impact_features"], details["impact_revenue"],
        details["impact_text"], details["status_text"], details["next_update_at"], now,
    )


def timeline_args(incident_id: int, entries: list[Entry], *, at: datetime, dedup_key: str | None = None) -> list[tuple]:
    return [(incident_id, at, e.kind, e.text, e.actor, f"{dedup_key}:{n}" if dedup_key else None) for n, e in enumerate(entries)]


async def add_timeline(
    conn: asyncpg.Connection, incident_id: int, entries: list[Entry], *, at: datetime, dedup_key: str | None = None
) -> None:
    await conn.executemany(INSERT_TIMELINE, timeline_args(incident_id, entries, at=at, dedup_key=dedup_key))


async def add_timeline_rows(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """Timeline entries of several incidents (rows from `timeline_args`), in order, in one statement."""
    await conn.execute(INSERT_TIMELINE_ROWS, *_columns(rows))


async def timeline(conn: asyncpg.Connection, incident_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(TIMELINE, incident_id)


async def newest_timeline(conn: asyncpg.Connection, incident_id: int, *, limit: int) -> tuple[list[asyncpg.Record], int]:
    """The newest `limit` entries in time order, and how many the timeline has in all."""
    newest = await conn.fetch(TIMELINE_NEWEST, incident_id, limit)
    total = len(newest) if len(newest) < limit else await conn.fetchval(TIMELINE_COUNT, incident_id)
    return newest[::-1], total


async def alerts_of(conn: asyncpg.Connection, incident_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(ALERTS_OF_INCIDENT, incident_id)


async def attach_occurrence(conn: asyncpg.Connection, fingerprint: str, starts_at: datetime, incident_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(ATTACH_OCCURRENCE, fingerprint, starts_at, incident_id)


async def get_idempotent(conn: asyncpg.Connection, key: str, principal: str) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_IDEMPOTENT, key, principal)


async def put_idempotent(conn: asyncpg.Connection, key: str, principal: str, request: str, status_code: int, response: dict) -> None:
    await conn.execute(PUT_IDEMPOTENT, key, principal, request, status_code, response)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_incidents(
    conn: asyncpg.Connection, *, statuses: list[str], severities: list[int], since: datetime | None,
    until: datetime | None, text: str | None, before_id: int | None, limit: int,
    labels: list[tuple[str, str]] = (),
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated by id. Every filter value is a bound parameter; each label
    (name, value) must be among the incident's labels (JSON containment, so all of them must match)."""
    where: list[str] = []
    args: list[object] = []

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if statuses:
        where.append(f"status = ANY({param(statuses)}::text[])")
    if severities:
        where.append(f"severity = ANY({param(severities)}::smallint[])")
    if since:
        where.append(f"detected_at >= {param(since)}")
    if until:
        where.append(f"detected_at < {param(until)}")
    if text:
        p = param(_like(text))
        where.append(f"(title ILIKE {p} OR impact_text ILIKE {p} OR root_cause ILIKE {p})")
    for name, value in labels:
        where.append(f"labels @> {param({name: value})}::jsonb")
    if before_id:
        where.append(f"id < {param(before_id)}")
    sql = f"SELECT {INCIDENT_COLUMNS} FROM incidents.incident"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY id DESC LIMIT {param(limit)}"
    return await conn.fetch(sql, *args)
