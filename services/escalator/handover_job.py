"""The handover job: every minute or so, the primary handovers due now (`handovers.due_handovers`: a
lead before the handover until its overlap ends, overrides included) of every schedule become
`HandoverDue` events on vigil.handovers.v1, for the incident service to draft the on-call handoff.
Each is recorded in `escalator.handover` and written to the outbox in one transaction, only when its
row was new; the handover id is the row's primary key, so a handover is announced once, however many
replicas run the job and however often it restarts."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Counter

from services.escalator import repository as repo
from services.escalator.handovers import Handover, due_handovers
from services.escalator.service import CE_SOURCE, ConfigStore, schedules_around
from shared.events import HandoverDue
from shared.metrics import own_registry
from shared.outbox import enqueue

log = structlog.get_logger("vigil.escalator.handovers")

ANNOUNCED = Counter("vigil_escalator_handovers_announced_total", "Handovers announced (HandoverDue)",
                    registry=own_registry(__name__))
RECORD = """
INSERT INTO escalator.handover (handover_id, schedule, tier, from_person, to_person, at, overlap_ends_at, announced_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (handover_id) DO NOTHING RETURNING 1"""


def handover_due(schedule: str, handover: Handover, *, now: datetime) -> HandoverDue:
    handover_id = HandoverDue.id_for(schedule=schedule, tier=handover.tier, at=handover.at)
    return HandoverDue(event_id=handover_id, occurred_at=now, source="escalator", handover_id=handover_id,
                       schedule=schedule, tier=handover.tier, from_person=handover.from_person,
                       to_person=handover.to_person, at=handover.at, overlap_ends_at=handover.overlap_ends_at)


async def announce_handovers(pool: asyncpg.Pool, store: ConfigStore, *, now: datetime, lead: timedelta) -> int:
    """Announce every handover due at `now` not announced before; returns how many were new."""
    announced: list[HandoverDue] = []
    async with pool.acquire() as conn, conn.transaction():
        _, schedules = await schedules_around(conn, store, now=now, lead=lead)
        for event in [handover_due(name, h, now=now) for name, schedule in schedules
                      for h in due_handovers(schedule, now=now, lead=lead)]:
            new = await conn.fetchval(RECORD, event.handover_id, event.schedule, event.tier, event.from_person,
                                      event.to_person, event.at, event.overlap_ends_at, now)
            if new is not None:
                await enqueue(conn, schema=repo.SCHEMA, event=event, ce_source=CE_SOURCE)
                announced.append(event)
    for event in announced:
        ANNOUNCED.inc()
        log.info("handover announced", schedule=event.schedule, from_person=event.from_person,
                 to_person=event.to_person, at=event.at.isoformat())
    return len(announced)
