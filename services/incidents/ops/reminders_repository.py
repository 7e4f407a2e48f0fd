"""The SQL of the daily reminder digests (ops/reminders.py): what is open, read in the producing
transaction. Functions take a connection; the caller owns the transaction."""

from __future__ import annotations

import asyncpg

from services.incidents.ops.reminders import ActionItem, OpenPostmortem, Runbook

OPEN_ACTION_ITEMS = """
SELECT id, title, owner, due_on, incident_id FROM incidents.action_item
WHERE status IN ('open', 'in_progress') ORDER BY due_on, id"""
# Unpublished postmortems of resolved incidents; how old is too old is the pure core's decision.
UNPUBLISHED_POSTMORTEMS = """
SELECT i.id AS incident_id, i.title AS incident_title, i.resolved_at, i.commander, p.author
FROM incidents.postmortem p JOIN incidents.incident i ON i.id = p.incident_id
WHERE p.status <> 'published' AND i.resolved_at IS NOT NULL ORDER BY i.resolved_at, i.id"""
RUNBOOKS_WITH_REVIEW = """
SELECT name, owner, next_review_on FROM incidents.runbook
WHERE owner IS NOT NULL AND next_review_on IS NOT NULL ORDER BY name"""


async def open_action_items(conn: asyncpg.Connection) -> list[ActionItem]:
    return [ActionItem(**dict(r)) for r in await conn.fetch(OPEN_ACTION_ITEMS)]


async def unpublished_postmortems(conn: asyncpg.Connection) -> list[OpenPostmortem]:
    return [OpenPostmortem(**dict(r)) for r in await conn.fetch(UNPUBLISHED_POSTMORTEMS)]


async def runbooks_with_review(conn: asyncpg.Connection) -> list[Runbook]:
    return [Runbook(**dict(r)) for r in await conn.fetch(RUNBOOKS_WITH_REVIEW)]
