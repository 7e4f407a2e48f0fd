"""The commander's reminder when an open incident's promised next update passes (docs/operations.md
"Reminders"): every check (30 s), the incidents whose `next_update_at` passed without a reminder for
that value are claimed `FOR UPDATE SKIP LOCKED`, an `update_reminder` row (migration 0011) is
inserted per (incident, next_update_at) and a `ReportPublished` (kind `update_due`, the commander as
its only recipient) goes into the outbox in the same transaction. So each promised time is reminded
once, whatever the replicas; a new `next_update_at` (the commander posted an update) is a new one."""

from __future__ import annotations

import asyncpg
import structlog

from services.incidents import repository as incident_repo
from services.incidents.ops.reminders import UpdateDue, update_due_text
from shared.clock import Clock
from shared.events import ReportPublished
from shared.outbox import enqueue

log = structlog.get_logger("vigil.incidents.reminders")

CE_SOURCE = "/vigil/incidents"
UPDATES_DUE = """
SELECT i.id AS incident_id, i.title, i.commander, i.next_update_at FROM incidents.incident i
WHERE i.status <> 'resolved' AND i.commander IS NOT NULL AND i.next_update_at <= $1
  AND NOT EXISTS (SELECT 1 FROM incidents.update_reminder r WHERE r.incident_id = i.id AND r.next_update_at = i.next_update_at)
ORDER BY i.next_update_at LIMIT $2
FOR UPDATE OF i SKIP LOCKED"""
RECORD = """
INSERT INTO incidents.update_reminder (incident_id, next_update_at, commander, sent_at) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING RETURNING 1"""


async def remind_updates_due(pool: asyncpg.Pool, *, clock: Clock, zone: str, console_url: str | None,
                             batch: int = 100) -> int:
    """One check; returns how many reminders it sent."""
    now = clock()
    sent = 0
    async with pool.acquire() as conn, conn.transaction():
        for row in await conn.fetch(UPDATES_DUE, now, batch):
            due = UpdateDue(**dict(row))
            if await conn.fetchval(RECORD, due.incident_id, due.next_update_at, due.commander, now) is None:
                continue
            title, summary = update_due_text(due, zone=zone, now=now)
            event = ReportPublished(
                event_id=due.event_id, occurred_at=now, source="incidents", kind="update_due",
                period=f"INC-{due.incident_id}", title=title[:200], summary=summary[:2000],
                url=f"{console_url}/incidents/INC-{due.incident_id}" if console_url else None, recipients=(due.commander,),
            )
            await enqueue(conn, schema=incident_repo.SCHEMA, event=event, ce_source=CE_SOURCE)
            sent += 1
    if sent:
        log.info("status update reminders sent", count=sent)
    return sent
