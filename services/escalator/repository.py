"""All SQL of the escalator: named constants and small functions taking a connection.
Repositories never open or commit transactions; the caller's unit of work does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.escalator.policy import PlannedStep
from shared.events import ShiftNotice

SCHEMA = "escalator"
TIMER_CHANNEL = "escalator_timer"  # NOTIFY when timers are stored: the ticker recomputes its next wake-up

LATEST_CONFIG = "SELECT version, document, fingerprint, source, created_by, created_at FROM escalator.config_version ORDER BY version DESC LIMIT 1"
LATEST_CONFIG_VERSION = "SELECT max(version) FROM escalator.config_version"
LAST_FILE_HASH = "SELECT file_hash FROM escalator.config_version WHERE source = 'file' ORDER BY version DESC LIMIT 1"
INSERT_CONFIG = """
INSERT INTO escalator.config_version (document, fingerprint, source, file_hash, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING version"""
# Configuration writers take it in turn (file import at start, PUT), so each knows the version
# before its own: the people it removed are those of that version.
LOCK_CONFIG = "SELECT pg_advisory_xact_lock(hashtextextended('vigil-escalator-config', 0))"
# The latest version when its people were never published (it was stored before the escalator
# published people): published once at start.
UNPUBLISHED_PEOPLE = """
SELECT version, document FROM escalator.config_version
WHERE version = (SELECT max(version) FROM escalator.config_version) AND NOT people_published"""
MARK_PEOPLE_PUBLISHED = "UPDATE escalator.config_version SET people_published = true WHERE version = $1"

OVERRIDE_COLUMNS = "id, schedule, tier, person, start_at, end_at, created_by, created_at, removed_by, removed_at"
OVERRIDES = f"""
SELECT {OVERRIDE_COLUMNS} FROM escalator.override
WHERE schedule = $1 AND end_at > $2 AND start_at < $3 AND removed_at IS NULL ORDER BY created_at, id"""
INSERT_OVERRIDE = f"""
INSERT INTO escalator.override (schedule, tier, person, start_at, end_at, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING {OVERRIDE_COLUMNS}"""
# Removal keeps the row (migration 0007); removing one already removed finds nothing (404).
REMOVE_OVERRIDE = f"""
UPDATE escalator.override SET removed_at = $3, removed_by = $4
WHERE schedule = $1 AND id = $2 AND removed_at IS NULL RETURNING {OVERRIDE_COLUMNS}"""
REMOVED_OVERRIDES = f"""
SELECT {OVERRIDE_COLUMNS} FROM escalator.override
WHERE schedule = $1 AND removed_at IS NOT NULL AND removed_at >= $2 ORDER BY removed_at DESC, id DESC LIMIT $3"""
OVERRIDES_BETWEEN = f"""
SELECT {OVERRIDE_COLUMNS} FROM escalator.override
WHERE end_at > $1 AND start_at < $2 AND removed_at IS NULL ORDER BY created_at, id"""
# Shift notices in one statement: the notice rows (the primary key drops one announced before, by
# this or another replica), the outbox rows of the new ones only, and the relay's wake-up.
ANNOUNCE_SHIFTS = """
WITH n AS (
    INSERT INTO escalator.shift_notice (notice_id, schedule, tier, person, kind, boundary_at, until_at, announced_at)
    SELECT i, s, t, p, k, b, u, $8
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
        AS x(i, s, t, p, k, b, u)
    ON CONFLICT (notice_id) DO NOTHING RETURNING notice_id),
o AS (
    INSERT INTO escalator.outbox (event_id, topic, key, value, headers)
    SELECT e, tp, k, v, h
    FROM unnest($9::text[], $10::text[], $11::bytea[], $12::bytea[], $13::text[]) WITH ORDINALITY AS y(e, tp, k, v, h, n)
    WHERE e IN (SELECT notice_id FROM n) ORDER BY n
    ON CONFLICT (event_id) DO NOTHING RETURNING 1)
SELECT array(SELECT notice_id FROM n) AS announced,
       (SELECT pg_notify($14, '') WHERE EXISTS (SELECT 1 FROM o)) AS notified"""

MARK_PROCESSED = "INSERT INTO escalator.processed_event (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1"

GET_INCIDENT = "SELECT * FROM escalator.incident WHERE id = $1"
GET_INCIDENT_FOR_UPDATE = "SELECT * FROM escalator.incident WHERE id = $1 FOR UPDATE"
UPSERT_INCIDENT = """
INSERT INTO escalator.incident
    (id, number, version, title, severity, status, acknowledged_at, acknowledged_by, labels, schedule, policy,
     opened_at, updated_at, suppressed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)
ON CONFLICT (id) DO UPDATE SET
    number = EXCLUDED.number, version = EXCLUDED.version, title = EXCLUDED.title, severity = EXCLUDED.severity,
    status = EXCLUDED.status, acknowledged_at = EXCLUDED.acknowledged_at, acknowledged_by = EXCLUDED.acknowledged_by,
    updated_at = EXCLUDED.updated_at, suppressed = EXCLUDED.suppressed"""
SET_ACK_TIMED_OUT = "UPDATE escalator.incident SET ack_timed_out = $2 WHERE id = $1"

PENDING_TIMERS = "SELECT * FROM escalator.timer WHERE incident_id = $1 AND state = 'pending' ORDER BY due_at"
CANCEL_PENDING = """
UPDATE escalator.timer SET state = 'cancelled', outcome = $2, fired_at = $3
WHERE incident_id = $1 AND state = 'pending'"""
INSERT_TIMERS = """
WITH stored AS (
    INSERT INTO escalator.timer (id, incident_id, escalation, step, repetition, role, action, due_at, fire_at, reason, ticket_due_at)
    SELECT i, inc, e, st, rep, ro, a, d, d, re, t
    FROM unnest($1::text[], $2::bigint[], $3::int[], $4::int[], $5::int[], $6::text[], $7::text[],
                $8::timestamptz[], $9::text[], $10::timestamptz[]) AS x(i, inc, e, st, rep, ro, a, d, re, t)
    ON CONFLICT (id) DO NOTHING RETURNING id)
SELECT array(SELECT id FROM stored) AS ids,
       -- Delivered at commit, with the earliest due time left pending: a ticker that wakes up before
       -- that anyway ignores it; none when every stored timer fires in this transaction.
       (SELECT pg_notify('escalator_timer', $11::text) WHERE $11::text IS NOT NULL) AS notified"""

# Set-based forms for a poll's events of distinct incidents (the consumer's batch).
MARK_PROCESSED_MANY = """
WITH fresh AS (
    INSERT INTO escalator.processed_event (event_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING event_id)
SELECT array(SELECT event_id FROM fresh) AS fresh, (SELECT max(version) FROM escalator.config_version) AS config_version"""
INCIDENTS_FOR_UPDATE = "SELECT * FROM escalator.incident WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
UPSERT_INCIDENTS = """
INSERT INTO escalator.incident
    (id, number, version, title, severity, status, acknowledged_at, acknowledged_by, labels, schedule, policy,
     opened_at, updated_at, suppressed)
SELECT i, n, v, t, sev, st, a, ab, l::jsonb, sc, p::jsonb, $12, $12, su
FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::smallint[], $6::text[], $7::timestamptz[], $8::text[],
            $9::text[], $10::text[], $11::text[], $13::boolean[]) AS x(i, n, v, t, sev, st, a, ab, l, sc, p, su)
ON CONFLICT (id) DO UPDATE SET
    number = EXCLUDED.number, version = EXCLUDED.version, title = EXCLUDED.title, severity = EXCLUDED.severity,
    status = EXCLUDED.status, acknowledged_at = EXCLUDED.acknowledged_at, acknowledged_by = EXCLUDED.acknowledged_by,
    updated_at = EXCLUDED.updated_at, suppressed = EXCLUDED.suppressed"""
PENDING_TIMERS_OF = """
SELECT * FROM escalator.timer WHERE incident_id = ANY($1::bigint[]) AND state = 'pending' ORDER BY incident_id, due_at"""
CANCEL_PENDING_MANY = """
UPDATE escalator.timer t SET state = 'cancelled', outcome = x.why, fired_at = $3
FROM unnest($1::bigint[], $2::text[]) AS x(i, why)
WHERE t.incident_id = x.i AND t.state = 'pending'"""
# Due-now pages of a batch in one statement: the page rows (unique page ids), the outbox rows of the
# new ones only (the row shared.outbox.enqueue writes, in the given order), the timers marked fired,
# and the relay's wake-up when anything was enqueued.
FIRE_PAGES = """
WITH p AS (
    INSERT INTO escalator.page (page_id, timer_id, incident_id, target, role, channel, reason, due_at, sent_at)
    SELECT pi, ti, ii, ta, ro, ch, re, du, $9
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
        AS x(pi, ti, ii, ta, ro, ch, re, du)
    ON CONFLICT (page_id) DO NOTHING RETURNING page_id),
o AS (
    INSERT INTO escalator.outbox (event_id, topic, key, value, headers)
    SELECT e, tp, k, v, h
    FROM unnest($10::text[], $11::text[], $12::bytea[], $13::bytea[], $14::text[]) WITH ORDINALITY AS y(e, tp, k, v, h, n)
    WHERE e IN (SELECT page_id FROM p) ORDER BY n
    ON CONFLICT (event_id) DO NOTHING RETURNING 1),
f AS (
    UPDATE escalator.timer t SET state = 'fired', outcome = z.o, fired_at = $9
    FROM unnest($15::text[], $16::text[]) AS z(i, o) WHERE t.id = z.i)
SELECT array(SELECT page_id FROM p) AS new_pages,
       (SELECT pg_notify($17, '') WHERE $17::text IS NOT NULL AND EXISTS (SELECT 1 FROM o)) AS notified"""
CLAIM_DUE = """
SELECT * FROM escalator.timer WHERE state = 'pending' AND fire_at <= $1
ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
LOCK_PENDING = """
SELECT * FROM escalator.timer WHERE id = ANY($1::text[]) AND state = 'pending' AND action <> 'ack_check'
ORDER BY due_at, step FOR UPDATE SKIP LOCKED"""
FINISH_TIMER = "UPDATE escalator.timer SET state = 'fired', outcome = $2, fired_at = $3 WHERE id = $1"
RETRY_TIMER = "UPDATE escalator.timer SET fire_at = $2, outcome = $3, attempts = attempts + 1 WHERE id = $1"
LOCK_DUE_PAGES_OF = """
SELECT * FROM escalator.timer WHERE incident_id = ANY($1::bigint[]) AND state = 'pending' AND fire_at <= $2
AND action IN ('page', 'notify') FOR UPDATE SKIP LOCKED"""
SKIP_TIMERS = """
UPDATE escalator.timer t SET state = 'cancelled', outcome = x.why, fired_at = $3
FROM unnest($1::text[], $2::text[]) AS x(id, why) WHERE t.id = x.id AND t.state = 'pending'"""
NEXT_DUE = "SELECT min(fire_at) FROM escalator.timer WHERE state = 'pending'"
PENDING_COUNT = "SELECT count(*) FROM escalator.timer WHERE state = 'pending'"

INSERT_PAGE = """
INSERT INTO escalator.page (page_id, timer_id, incident_id, target, role, channel, reason, due_at, sent_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (page_id) DO NOTHING RETURNING 1"""
INSERT_TICKET = """
INSERT INTO escalator.ticket (ticket_id, timer_id, incident_id, assignee, due_at, sent_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO NOTHING RETURNING 1"""

TIMERS_OF_INCIDENT = "SELECT * FROM escalator.timer WHERE incident_id = $1 ORDER BY due_at, step, id"
PAGES_OF_INCIDENT = "SELECT * FROM escalator.page WHERE incident_id = $1 ORDER BY sent_at, page_id"
TICKETS_OF_INCIDENT = "SELECT * FROM escalator.ticket WHERE incident_id = $1 ORDER BY sent_at, ticket_id"


async def init_connection(conn: asyncpg.Connection) -> None:
    """Pool connection setup: jsonb columns as Python dicts."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def latest_config(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow(LATEST_CONFIG)


async def latest_config_version(conn: asyncpg.Connection) -> int | None:
    return await conn.fetchval(LATEST_CONFIG_VERSION)


async def last_file_hash(conn: asyncpg.Connection) -> str | None:
    return await conn.fetchval(LAST_FILE_HASH)


async def lock_config(conn: asyncpg.Connection) -> None:
    await conn.execute(LOCK_CONFIG)


async def unpublished_people(conn: asyncpg.Connection) -> asyncpg.Record | None:
    return await conn.fetchrow(UNPUBLISHED_PEOPLE)


async def mark_people_published(conn: asyncpg.Connection, version: int) -> None:
    await conn.execute(MARK_PEOPLE_PUBLISHED, version)


async def insert_config(
    conn: asyncpg.Connection, *, document: dict, fingerprint: str, source: str, file_hash: str | None, by: str, now: datetime
) -> int:
    return await conn.fetchval(INSERT_CONFIG, document, fingerprint, source, file_hash, by, now)


async def overrides(conn: asyncpg.Connection, schedule: str, *, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(OVERRIDES, schedule, start, end)


async def insert_override(
    conn: asyncpg.Connection, *, schedule: str, tier: str, person: str, start_at: datetime, end_at: datetime, by: str,
    now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_OVERRIDE, schedule, tier, person, start_at, end_at, by, now)


async def remove_override(conn: asyncpg.Connection, schedule: str, override_id: int, *, by: str,
                          now: datetime) -> asyncpg.Record | None:
    """Mark the override removed by `by`; None when there is no such override in force."""
    return await conn.fetchrow(REMOVE_OVERRIDE, schedule, override_id, now, by)


async def removed_overrides(conn: asyncpg.Connection, schedule: str, *, since: datetime, limit: int) -> list[asyncpg.Record]:
    """The schedule's overrides removed since `since`, latest removal first."""
    return await conn.fetch(REMOVED_OVERRIDES, schedule, since, limit)


async def overrides_between(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> list[asyncpg.Record]:
    """The overrides of every schedule that intersect [start, end)."""
    return await conn.fetch(OVERRIDES_BETWEEN, start, end)


async def announce_shifts(conn: asyncpg.Connection, notices: Sequence[ShiftNotice], outbox: list[tuple], *,
                          now: datetime, outbox_channel: str) -> set[str]:
    """Record `notices` and enqueue the outbox rows (event_id, topic, key, value, headers) of those
    never announced before; returns their ids. NOTIFY `outbox_channel` at commit when any was new."""
    row = await conn.fetchrow(
        ANNOUNCE_SHIFTS, [n.notice_id for n in notices], [n.schedule for n in notices], [n.tier for n in notices],
        [n.person for n in notices], [n.kind for n in notices], [n.at for n in notices], [n.until for n in notices], now,
        [o[0] for o in outbox], [o[1] for o in outbox], [o[2] for o in outbox], [o[3] for o in outbox], [o[4] for o in outbox],
        outbox_channel,
    )
    return set(row["announced"])


async def mark_processed(conn: asyncpg.Connection, event_id: str) -> bool:
    """True the first time an event id is seen; False for a duplicate (then do nothing)."""
    return await conn.fetchval(MARK_PROCESSED, event_id) is not None


async def get_incident(conn: asyncpg.Connection, incident_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_INCIDENT_FOR_UPDATE if for_update else GET_INCIDENT, incident_id)


async def upsert_incident(conn: asyncpg.Connection, **f) -> None:
    await conn.execute(
        UPSERT_INCIDENT, f["id"], f["number"], f["version"], f["title"], f["severity"], f["status"],
        f["acknowledged_at"], f["acknowledged_by"], f["labels"], f["schedule"], f["policy"], f["now"], f["suppressed"],
    )


async def set_ack_timed_out(conn: asyncpg.Connection, incident_id: int, value: bool) -> None:
    await conn.execute(SET_ACK_TIMED_OUT, incident_id, value)


async def pending_timers(conn: asyncpg.Connection, incident_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(PENDING_TIMERS, incident_id)


async def cancel_pending(conn: asyncpg.Connection, incident_id: int, *, why: str, now: datetime) -> None:
    await conn.execute(CANCEL_PENDING, incident_id, f"cancelled: {why}"[:500], now)


def ticker_due(steps: Sequence[PlannedStep], *, now: datetime) -> datetime | None:
    """The earliest due time among `steps` of those the ticker will have to fire: all but the page,
    notify and ticket steps due by `now`, which the planning transaction fires itself."""
    later = [s.due_at for s in steps if s.due_at > now or s.action == "ack_check"]
    return min(later) if later else None


async def insert_timers(conn: asyncpg.Connection, steps: Sequence[PlannedStep], *, now: datetime, notify: bool = True) -> set[str]:
    """Store the timers (an id already stored is left as it is); returns the ids inserted now.
    With `notify`, every ticker is told at commit (NOTIFY) the earliest due time it will have to
    fire (`ticker_due`)."""
    if not steps:
        return set()
    due = ticker_due(steps, now=now) if notify else None
    wake = due.isoformat() if due is not None else None
    return set(await conn.fetchval(
        INSERT_TIMERS,
        [s.id for s in steps], [s.incident_id for s in steps], [s.escalation for s in steps], [s.step for s in steps],
        [s.repetition for s in steps], [s.role for s in steps], [s.action for s in steps], [s.due_at for s in steps],
        [s.reason for s in steps], [s.ticket_due_at for s in steps], wake,
    ))


async def claim_due(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Pending timers due at `now`, locked for this transaction; other replicas skip them."""
    return await conn.fetch(CLAIM_DUE, now, limit)


async def lock_due_pages_of(conn: asyncpg.Connection, incident_ids: list[int], *, now: datetime) -> list[asyncpg.Record]:
    """The page and notify timers of these incidents that are due at `now`, locked (others skipped)."""
    return await conn.fetch(LOCK_DUE_PAGES_OF, incident_ids, now) if incident_ids else []


async def skip_timers(conn: asyncpg.Connection, skipped: dict[str, str], *, now: datetime) -> None:
    """Close pending timers without firing them (timer id -> why, kept as the outcome)."""
    if skipped:
        await conn.execute(SKIP_TIMERS, list(skipped), [why[:500] for why in skipped.values()], now)


async def lock_pending(conn: asyncpg.Connection, timer_ids: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(LOCK_PENDING, timer_ids) if timer_ids else []


async def finish_timer(conn: asyncpg.Connection, timer_id: str, *, outcome: str, now: datetime) -> None:
    await conn.execute(FINISH_TIMER, timer_id, outcome[:500], now)


async def retry_timer(conn: asyncpg.Connection, timer_id: str, *, at: datetime, outcome: str) -> None:
    await conn.execute(RETRY_TIMER, timer_id, at, outcome[:500])


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval(NEXT_DUE)


async def pending_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(PENDING_COUNT)


async def insert_page(conn: asyncpg.Connection, **f) -> bool:
    """True when the page is new; False when this page id was sent before (then send nothing)."""
    return await conn.fetchval(
        INSERT_PAGE, f["page_id"], f["timer_id"], f["incident_id"], f["target"], f["role"], f["channel"], f["reason"],
        f["due_at"], f["now"],
    ) is not None


async def insert_ticket(conn: asyncpg.Connection, **f) -> bool:
    return await conn.fetchval(
        INSERT_TICKET, f["ticket_id"], f["timer_id"], f["incident_id"], f["assignee"], f["due_at"], f["now"]
    ) is not None


async def escalation_of(conn: asyncpg.Connection, incident_id: int) -> tuple[list, list, list]:
    return (
        await conn.fetch(TIMERS_OF_INCIDENT, incident_id),
        await conn.fetch(PAGES_OF_INCIDENT, incident_id),
        await conn.fetch(TICKETS_OF_INCIDENT, incident_id),
    )


async def mark_processed_many(conn: asyncpg.Connection, event_ids: list[str]) -> asyncpg.Record:
    """`fresh`: the event ids seen for the first time; `config_version`: the latest configuration."""
    return await conn.fetchrow(MARK_PROCESSED_MANY, event_ids)


async def incidents_for_update(conn: asyncpg.Connection, incident_ids: list[int]) -> dict[int, asyncpg.Record]:
    return {r["id"]: r for r in await conn.fetch(INCIDENTS_FOR_UPDATE, incident_ids)}


async def upsert_incidents(conn: asyncpg.Connection, rows: list[dict], *, now: datetime) -> None:
    """Store incident rows (dicts of the columns, `policy` as JSON text) in one statement."""
    await conn.execute(
        UPSERT_INCIDENTS, [r["id"] for r in rows], [r["number"] for r in rows], [r["version"] for r in rows],
        [r["title"] for r in rows], [r["severity"] for r in rows], [r["status"] for r in rows],
        [r["acknowledged_at"] for r in rows], [r["acknowledged_by"] for r in rows],
        [json.dumps(r["labels"]) for r in rows], [r["schedule"] for r in rows], [r["policy"] for r in rows], now,
        [r["suppressed"] for r in rows],
    )


async def pending_timers_of(conn: asyncpg.Connection, incident_ids: list[int]) -> list[asyncpg.Record]:
    return await conn.fetch(PENDING_TIMERS_OF, incident_ids)


async def cancel_pending_many(conn: asyncpg.Connection, cancels: list[tuple[int, str]], *, now: datetime) -> None:
    await conn.execute(CANCEL_PENDING_MANY, [i for i, _ in cancels], [f"cancelled: {why}"[:500] for _, why in cancels], now)


async def fire_pages(conn: asyncpg.Connection, pages: list[dict], outbox: list[tuple], finished: list[tuple[str, str]],
                     *, now: datetime, outbox_channel: str | None) -> set[str]:
    """Store `pages` (dicts of the page columns), the outbox rows (event_id, topic, key, value,
    headers) of those that are new, and mark `finished` (timer id, outcome) fired; returns the page
    ids that were new. NOTIFY `outbox_channel` at commit when outbox rows were written (None: the
    caller wakes the relay itself)."""
    row = await conn.fetchrow(
        FIRE_PAGES, [p["page_id"] for p in pages], [p["timer_id"] for p in pages], [p["incident_id"] for p in pages],
        [p["target"] for p in pages], [p["role"] for p in pages], [p["channel"] for p in pages],
        [p["reason"] for p in pages], [p["due_at"] for p in pages], now,
        [o[0] for o in outbox], [o[1] for o in outbox], [o[2] for o in outbox], [o[3] for o in outbox], [o[4] for o in outbox],
        [t for t, _ in finished], [outcome[:500] for _, outcome in finished], outbox_channel,
    )
    return set(row["new_pages"])


# --- error-budget states (vigil.budgets.v1) and the budget policy's notes ----------------------------

PUT_BUDGET_STATE = """
INSERT INTO escalator.budget_state (service, slo, state, remaining_fraction, since, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (service, slo) DO UPDATE SET state = EXCLUDED.state, remaining_fraction = EXCLUDED.remaining_fraction,
    since = EXCLUDED.since, updated_at = EXCLUDED.updated_at
WHERE escalator.budget_state.since <= EXCLUDED.since"""
BUDGET_STATES_OF = """
SELECT service, slo, state, remaining_fraction FROM escalator.budget_state WHERE service = ANY($1::text[])
ORDER BY service, slo"""
SET_BUDGET_NOTES = """
UPDATE escalator.incident i SET budget_note = x.note
FROM unnest($1::bigint[], $2::text[]) AS x(id, note) WHERE i.id = x.id"""


async def put_budget_state(conn: asyncpg.Connection, *, service: str, slo: str, state: str, remaining_fraction: float,
                           since: datetime, now: datetime) -> None:
    """Keep the latest state of one SLO (an older one, redelivered, changes nothing)."""
    await conn.execute(PUT_BUDGET_STATE, service, slo, state, remaining_fraction, since, now)


async def budget_states_of(conn: asyncpg.Connection, services: Sequence[str]) -> dict[str, list[asyncpg.Record]]:
    """The stored SLO states of `services`, by service."""
    out: dict[str, list[asyncpg.Record]] = {}
    for r in await conn.fetch(BUDGET_STATES_OF, list(services)):
        out.setdefault(r["service"], []).append(r)
    return out


async def set_budget_notes(conn: asyncpg.Connection, notes: dict[int, str]) -> None:
    await conn.execute(SET_BUDGET_NOTES, list(notes), list(notes.values()))
