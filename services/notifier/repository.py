"""All SQL of the notifier: named constants and small functions taking a connection.
Repositories never open or commit transactions; the caller's unit of work does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.events import ContactMethod, IncidentEvent, NotificationStep, PersonUpdated

SCHEMA = "notifier"

MARK_PROCESSED = "INSERT INTO notifier.processed_event (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1"

UPSERT_PERSON = """
INSERT INTO notifier.person (person, revision, contact_methods, page_rules, notify_rules, removed, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (person) DO UPDATE SET
    revision = EXCLUDED.revision, contact_methods = EXCLUDED.contact_methods, page_rules = EXCLUDED.page_rules,
    notify_rules = EXCLUDED.notify_rules, removed = EXCLUDED.removed, updated_at = EXCLUDED.updated_at
WHERE notifier.person.revision <= EXCLUDED.revision"""
GET_PERSON = "SELECT * FROM notifier.person WHERE person = $1 AND NOT removed"

UPSERT_INCIDENT = """
INSERT INTO notifier.incident AS i (id, version, acknowledged_at, resolved_at, updated_at)
VALUES ($1, $2, CASE WHEN $3 = 'acknowledged' THEN $4::timestamptz END, CASE WHEN $3 = 'resolved' THEN $4::timestamptz END, $4)
ON CONFLICT (id) DO UPDATE SET
    version = EXCLUDED.version,
    acknowledged_at = CASE $3 WHEN 'acknowledged' THEN $4 WHEN 'unacknowledged' THEN NULL WHEN 'reopened' THEN NULL
                      ELSE i.acknowledged_at END,
    resolved_at = CASE $3 WHEN 'resolved' THEN $4 WHEN 'reopened' THEN NULL ELSE i.resolved_at END,
    updated_at = $4
WHERE i.version < EXCLUDED.version
RETURNING 1"""
# An acknowledgement or resolution at or after the page was requested: its steps are not sent.
QUIETED_SINCE = """
SELECT CASE WHEN resolved_at >= $2 THEN 'resolved' WHEN acknowledged_at >= $2 THEN 'acknowledged' END
FROM notifier.incident WHERE id = $1"""

CANCEL_OPEN = """
UPDATE notifier.delivery SET state = 'cancelled', last_error = $2, updated_at = $3
WHERE incident_id = $1 AND state IN ('pending', 'retrying')
RETURNING *"""

INSERT_DELIVERIES = """
INSERT INTO notifier.delivery
    (id, source, source_id, incident_id, number, severity, title, channel, person, method, kind, address, step,
     payload, requested_at, due_at, state, next_attempt_at, last_error)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::smallint[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::jsonb[],
                     $15::timestamptz[], $16::timestamptz[], $17::text[], $18::timestamptz[], $19::text[])
ON CONFLICT (id) DO NOTHING
RETURNING id"""

# Due rows, and rows whose sender died mid-attempt (lease over): taken with their lease, skipping what
# another dispatcher holds. The attempt counts when it is taken, so a crash loop cannot retry forever.
CLAIM_DUE = """
UPDATE notifier.delivery d SET state = 'sending', lease_until = $3, attempts = d.attempts + 1,
    first_attempt_at = coalesce(d.first_attempt_at, $1), updated_at = $1
FROM (SELECT id, state AS was FROM notifier.delivery
      WHERE next_attempt_at <= $1
        AND (state IN ('pending', 'retrying') OR (state = 'sending' AND lease_until < $1))
      ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
WHERE d.id = due.id
RETURNING d.*, due.was AS claimed_from"""
# Before a message is sent, each of its rows records the message's id (its headline's): a row taken
# again after a crash (its lease over) is resent as that same message, under that same id.
SET_MESSAGE = """
UPDATE notifier.delivery d SET message_id = m.message_id
FROM unnest($1::text[], $2::text[]) AS m(id, message_id)
WHERE d.id = m.id AND d.state = 'sending'"""
# A peer that answers again: what waits to retry towards it goes now ($2 NULL: every address of the kind).
BRING_FORWARD_PEER = """
UPDATE notifier.delivery SET next_attempt_at = $3, updated_at = $3
WHERE state = 'retrying' AND next_attempt_at > $3 AND kind = $1 AND ($2::text IS NULL OR address = $2)
RETURNING id"""
NEXT_DUE = """
SELECT min(CASE WHEN state = 'sending' THEN lease_until ELSE next_attempt_at END) FROM notifier.delivery
WHERE state IN ('pending', 'retrying', 'sending')"""

# Messages (not deliveries: a bundle is one) sent to one recipient's method since $3.
SENT_SINCE = """
SELECT sent_at FROM notifier.delivery
WHERE person = $1 AND method = $2 AND state = 'sent' AND message_id = id AND sent_at >= $3 ORDER BY sent_at"""

HOLD = """
UPDATE notifier.delivery SET state = 'pending', next_attempt_at = $2, lease_until = NULL, message_id = NULL,
    attempts = attempts - 1, updated_at = $3
WHERE id = ANY($1::text[]) AND state = 'sending'"""
# What a delivery's outcome event (service.delivery_event) and the latency metric need.
OUTCOME_COLUMNS = """id, source, source_id, incident_id, person, method, kind, step, state, attempts, answer, last_error,
    bundled_with, requested_at"""
# Several messages at once: per delivery its message's id (the headline delivery's), answer and the
# number of other incidents that message carried.
MARK_SENT = f"""
UPDATE notifier.delivery d SET state = 'sent', sent_at = $5, answer = m.answer, last_error = NULL, lease_until = NULL,
    message_id = m.message_id, bundled_with = m.bundled_with, updated_at = $5
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS m(id, message_id, answer, bundled_with)
WHERE d.id = m.id AND d.state = 'sending'
RETURNING {', '.join('d.' + c.strip() for c in OUTCOME_COLUMNS.split(','))}"""
MARK_RETRYING = """
UPDATE notifier.delivery SET state = 'retrying', next_attempt_at = $2, answer = $3, last_error = $4,
    lease_until = NULL, message_id = NULL, updated_at = $5
WHERE id = ANY($1::text[]) AND state = 'sending'
RETURNING *"""
MARK_FAILED = """
UPDATE notifier.delivery SET state = 'failed', answer = $2, last_error = $3, lease_until = NULL, updated_at = $4
WHERE id = ANY($1::text[]) AND state = 'sending'
RETURNING *"""
# A page's delivery failed: its next step (the person's next method) goes now instead of later.
BRING_FORWARD_NEXT_STEP = """
UPDATE notifier.delivery SET next_attempt_at = $3, updated_at = $3
WHERE source_id = $1 AND state = 'pending' AND next_attempt_at > $3
  AND step = (SELECT min(step) FROM notifier.delivery WHERE source_id = $1 AND state = 'pending' AND step > $2)
RETURNING id"""

DELIVERY_COLUMNS = """id, source, source_id, incident_id, number, severity, title, channel, person, method, kind, step,
    requested_at, due_at, state, next_attempt_at, attempts, first_attempt_at, answer, last_error, sent_at,
    message_id, bundled_with"""
BY_SOURCE = f"SELECT {DELIVERY_COLUMNS} FROM notifier.delivery WHERE source_id = $1 ORDER BY step, method"
BY_PERSON = f"""SELECT {DELIVERY_COLUMNS} FROM notifier.delivery WHERE person = $1 AND requested_at >= $2
ORDER BY requested_at DESC, step DESC, id LIMIT $3"""
BY_STATE = f"""SELECT {DELIVERY_COLUMNS} FROM notifier.delivery WHERE state = $1
ORDER BY updated_at DESC, id LIMIT $2"""
OLDEST_PENDING = """
SELECT min(due_at) FROM notifier.delivery WHERE state IN ('pending', 'retrying', 'sending') AND due_at <= $1"""


@dataclass(frozen=True)
class Person:
    name: str
    methods: tuple[ContactMethod, ...]
    page_rules: tuple[NotificationStep, ...]
    notify_rules: tuple[NotificationStep, ...]

    def method(self, method_id: str) -> ContactMethod | None:
        return next((m for m in self.methods if m.id == method_id), None)


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def mark_processed(conn: asyncpg.Connection, event_id: str) -> bool:
    """True the first time an event id is seen (the caller then applies it)."""
    return await conn.fetchval(MARK_PROCESSED, event_id) is not None


async def upsert_person(conn: asyncpg.Connection, event: PersonUpdated) -> None:
    await conn.execute(
        UPSERT_PERSON, event.person, event.revision,
        [m.model_dump(mode="json") for m in event.contact_methods],
        [s.model_dump(mode="json") for s in event.page_rules],
        [s.model_dump(mode="json") for s in event.notify_rules],
        event.removed, event.occurred_at,
    )


async def person(conn: asyncpg.Connection, name: str) -> Person | None:
    row = await conn.fetchrow(GET_PERSON, name)
    if row is None:
        return None
    return Person(
        name=name,
        methods=tuple(ContactMethod.model_validate(m) for m in row["contact_methods"]),
        page_rules=tuple(NotificationStep.model_validate(s) for s in row["page_rules"]),
        notify_rules=tuple(NotificationStep.model_validate(s) for s in row["notify_rules"]),
    )


async def record_incident(conn: asyncpg.Connection, event: IncidentEvent) -> bool:
    """Keep when the incident was acknowledged / resolved (cleared by unacknowledged / reopened);
    False when the event is not newer than what is kept."""
    return await conn.fetchval(UPSERT_INCIDENT, event.incident_id, event.version, event.kind, event.occurred_at) is not None


async def quieted_since(conn: asyncpg.Connection, incident_id: int, since: datetime) -> str | None:
    """'acknowledged' or 'resolved' when that happened at or after `since`, else None."""
    return await conn.fetchval(QUIETED_SINCE, incident_id, since)


async def cancel_open(conn: asyncpg.Connection, incident_id: int, *, why: str, now: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(CANCEL_OPEN, incident_id, why, now)


async def insert_deliveries(conn: asyncpg.Connection, rows: Sequence[tuple]) -> list[str]:
    """Store planned deliveries (tuples in INSERT_DELIVERIES' column order); returns the ids new here."""
    if not rows:
        return []
    columns = [list(column) for column in zip(*rows, strict=True)]
    return [r["id"] for r in await conn.fetch(INSERT_DELIVERIES, *columns)]


async def claim_due(conn: asyncpg.Connection, *, now: datetime, limit: int, lease_until: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(CLAIM_DUE, now, limit, lease_until)


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval(NEXT_DUE)


async def sent_since(conn: asyncpg.Connection, person: str, method: str, since: datetime) -> list[datetime]:
    return [r["sent_at"] for r in await conn.fetch(SENT_SINCE, person, method, since)]
