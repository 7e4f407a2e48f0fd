"""The shift-notice job: every minute or so, the on-call boundaries due now (`handoffs.due_boundaries`:
a person starts or stops being on call, overrides included, both tiers) of every schedule become
`ShiftNotice` events for the notifier. Each is recorded in `escalator.shift_notice` and written to
the outbox in one statement and one transaction; the notice id is the row's primary key, so a
boundary is announced once, however many replicas run the job and however often it restarts."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Counter

from services.escalator import repository as repo
from services.escalator.handoffs import Boundary, due_boundaries
from services.escalator.oncall_config import OnCallConfig
from services.escalator.rotation import Schedule
from services.escalator.service import CE_SOURCE, ConfigStore, schedules_around
from shared.events import ShiftNotice
from shared.metrics import own_registry
from shared.outbox import channel, outbox_row

log = structlog.get_logger("vigil.escalator.shifts")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
ANNOUNCED = Counter("vigil_escalator_shift_notices_total", "Shift notices announced", ["kind"], registry=METRICS)


def shift_notice(schedule: str, boundary: Boundary, *, now: datetime) -> ShiftNotice:
    notice_id = ShiftNotice.id_for(schedule=schedule, tier=boundary.tier, person=boundary.person, kind=boundary.kind,
                                   at=boundary.at)
    return ShiftNotice(event_id=notice_id, occurred_at=now, source="escalator", notice_id=notice_id,
                       person=boundary.person, schedule=schedule, tier=boundary.tier, kind=boundary.kind,
                       at=boundary.at, until=boundary.until)


def due_notices(config: OnCallConfig, schedules: list[tuple[str, Schedule]], *, now: datetime,
                lead: timedelta) -> list[ShiftNotice]:
    """The notices due at `now` for the people the configuration can reach (someone without a
    contact method is not announced: the notifier could only say it cannot tell them)."""
    reachable = {name for name, person in config.people.items() if person.methods}
    return [shift_notice(name, b, now=now) for name, schedule in schedules
            for b in due_boundaries(schedule, now=now, lead=lead) if b.person in reachable]


async def announce_due(pool: asyncpg.Pool, store: ConfigStore, *, now: datetime, lead: timedelta) -> int:
    """Announce every boundary due at `now` not announced before; returns how many were new."""
    async with pool.acquire() as conn, conn.transaction():
        config, schedules = await schedules_around(conn, store, now=now, lead=lead)
        notices = due_notices(config, schedules, now=now, lead=lead)
        if not notices:
            return 0
        announced = await repo.announce_shifts(
            conn, notices, [outbox_row(n, ce_source=CE_SOURCE) for n in notices], now=now,
            outbox_channel=channel(repo.SCHEMA),
        )
    for notice in notices:
        if notice.notice_id in announced:
            ANNOUNCED.labels(notice.kind).inc()
            log.info("shift notice announced", person=notice.person, schedule=notice.schedule, tier=notice.tier,
                     kind=notice.kind, at=notice.at.isoformat())
    return len(announced)
