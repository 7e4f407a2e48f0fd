"""All SQL of on-call handoffs (`incidents.handoff`, migrations 0002 and 0012): written by hand or
drafted from the escalator's handovers, completed, acknowledged, asked for and flagged, and what a
handoff carries beyond the reports' reads (pending tickets, this week's actions, silences in force).
Functions take a connection; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

HANDOFF_COLUMNS = """id, from_person, to_person, note, things_to_watch, data, markdown, created_by, created_at,
    acknowledged_by, acknowledged_at, updated_at, handover_id, schedule, handover_at, overlap_ends_at, status, completed_at,
    ack_requested_at, flagged_at, rotation_checked, rotation_note"""
INSERT_HANDOFF = f"""
INSERT INTO incidents.handoff (from_person, to_person, note, things_to_watch, data, markdown, created_by, created_at, updated_at,
                               completed_at, rotation_checked, rotation_note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $9, $10)
RETURNING {HANDOFF_COLUMNS}"""
# A handover's draft, once per handover id (a replayed or second HandoverDue inserts nothing).
INSERT_DRAFT = f"""
INSERT INTO incidents.handoff (from_person, to_person, things_to_watch, data, markdown, created_by, created_at, updated_at,
                               handover_id, schedule, handover_at, overlap_ends_at, status, rotation_checked)
VALUES ($1, $2, '{{}}', $3, $4, 'rotation', $5, $5, $6, $7, $8, $9, 'draft', true)
ON CONFLICT (handover_id) DO NOTHING
RETURNING {HANDOFF_COLUMNS}"""
GET_HANDOFF = f"SELECT {HANDOFF_COLUMNS} FROM incidents.handoff WHERE id = $1"
ACK_HANDOFF = f"""
UPDATE incidents.handoff SET acknowledged_by = $2, acknowledged_at = $3, markdown = $4, updated_at = $3, status = 'acknowledged'
WHERE id = $1
RETURNING {HANDOFF_COLUMNS}"""
# A draft completed (or a handoff not yet acknowledged edited) by the outgoing person; a flagged
# handoff stays flagged.
COMPLETE_HANDOFF = f"""
UPDATE incidents.handoff SET note = $2, things_to_watch = $3, data = $4, markdown = $5, updated_at = $6,
    completed_at = coalesce(completed_at, $6), status = CASE WHEN status = 'draft' THEN 'completed' ELSE status END
WHERE id = $1
RETURNING {HANDOFF_COLUMNS}"""
LIST_HANDOFFS = f"SELECT {HANDOFF_COLUMNS} FROM incidents.handoff ORDER BY created_at DESC, id DESC LIMIT $1"
# The overlap started: the incoming person is asked once. A handoff whose overlap ended before the
# check ran (the service was down) is not asked for any more: it is flagged instead.
CLAIM_ACK_REQUESTS = f"""
UPDATE incidents.handoff h SET ack_requested_at = $1
FROM (SELECT id FROM incidents.handoff
      WHERE handover_id IS NOT NULL AND acknowledged_at IS NULL AND flagged_at IS NULL AND ack_requested_at IS NULL
        AND handover_at <= $1 AND overlap_ends_at > $1
      ORDER BY handover_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
WHERE h.id = due.id
RETURNING {', '.join('h.' + c.strip() for c in HANDOFF_COLUMNS.split(','))}"""
# The overlap ended unacknowledged: each such handoff is claimed (a second replica skips it) and flagged once.
UNACKNOWLEDGED = f"""
SELECT {HANDOFF_COLUMNS} FROM incidents.handoff
WHERE handover_id IS NOT NULL AND acknowledged_at IS NULL AND flagged_at IS NULL AND overlap_ends_at <= $1
ORDER BY overlap_ends_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
FLAG_HANDOFF = f"""
UPDATE incidents.handoff SET flagged_at = $2, status = 'flagged', markdown = $3, updated_at = $2 WHERE id = $1
RETURNING {HANDOFF_COLUMNS}"""


async def insert_handoff(
    conn: asyncpg.Connection, *, from_person: str, to_person: str, note: str | None, things_to_watch: list[str],
    data: dict, markdown: str, by: str, now: datetime, rotation_checked: bool, rotation_note: str | None,
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_HANDOFF, from_person, to_person, note, things_to_watch, data, markdown, by, now,
                               rotation_checked, rotation_note)


async def insert_draft(
    conn: asyncpg.Connection, *, handover_id: str, schedule: str, from_person: str, to_person: str, handover_at: datetime,
    overlap_ends_at: datetime, data: dict, markdown: str, now: datetime,
) -> asyncpg.Record | None:
    """The handover's draft, or None when it has one already."""
    return await conn.fetchrow(INSERT_DRAFT, from_person, to_person, data, markdown, now, handover_id, schedule,
                               handover_at, overlap_ends_at)


async def get_handoff(conn: asyncpg.Connection, handoff_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_HANDOFF + (" FOR UPDATE" if for_update else ""), handoff_id)


async def acknowledge_handoff(conn: asyncpg.Connection, handoff_id: int, *, by: str, markdown: str, now: datetime) -> asyncpg.Record:
    return await conn.fetchrow(ACK_HANDOFF, handoff_id, by, now, markdown)


async def complete_handoff(conn: asyncpg.Connection, handoff_id: int, *, note: str | None, things_to_watch: list[str],
                           data: dict, markdown: str, now: datetime) -> asyncpg.Record:
    return await conn.fetchrow(COMPLETE_HANDOFF, handoff_id, note, things_to_watch, data, markdown, now)


async def list_handoffs(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_HANDOFFS, limit)


async def claim_ack_requests(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(CLAIM_ACK_REQUESTS, now, limit)


async def unacknowledged(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(UNACKNOWLEDGED, now, limit)


async def flag_handoff(conn: asyncpg.Connection, handoff_id: int, *, markdown: str, now: datetime) -> asyncpg.Record:
    return await conn.fetchrow(FLAG_HANDOFF, handoff_id, now, markdown)


# --- what a handoff carries beyond the reports' reads

PENDING_TICKETS = """
SELECT t.at, t.text, i.id AS incident_id, i.title FROM incidents.timeline_entry t
JOIN incidents.incident i ON i.id = t.incident_id
WHERE t.kind = 'ticket' AND i.status <> 'resolved' ORDER BY t.at, t.id LIMIT $1"""
# What people did (not the escalator, the notifier or the service itself).
ACTIONS_SINCE = """
SELECT t.at, t.kind, t.text, t.actor, t.incident_id FROM incidents.timeline_entry t
WHERE t.at >= $1 AND t.at < $2 AND t.actor IS NOT NULL AND t.actor <> ALL($3::text[])
  AND t.kind NOT IN ('page', 'ticket', 'delivery')
ORDER BY t.at, t.id LIMIT $4"""
SILENCES_IN_FORCE = """
SELECT id, matchers, starts_at, ends_at, created_by, comment FROM incidents.silence
WHERE starts_at <= $1 AND ends_at > $1 ORDER BY ends_at, id LIMIT $2"""


async def pending_tickets(conn: asyncpg.Connection, *, limit: int = 50) -> list[asyncpg.Record]:
    return await conn.fetch(PENDING_TICKETS, limit)


async def actions_between(conn: asyncpg.Connection, start: datetime, end: datetime, *, not_by: list[str],
                          limit: int = 100) -> list[asyncpg.Record]:
    return await conn.fetch(ACTIONS_SINCE, start, end, not_by, limit)


async def silences_in_force(conn: asyncpg.Connection, *, now: datetime, limit: int = 50) -> list[asyncpg.Record]:
    return await conn.fetch(SILENCES_IN_FORCE, now, limit)
