"""Units of work of silences: create, expire, and the check that hands an alert back to the normal
path when the silence holding it ends while it still fires. The matching is `silences` (pure); the
alert path itself (`services.incidents.service`) holds new firing alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import structlog

from services.incidents import repository as incident_repo, service
from services.incidents.config import GroupingRules
from services.incidents.lifecycle import SYSTEM, Entry, Refused, maintenance_ended
from services.incidents.silences import Matcher, check_silence_matchers, released_text
from services.incidents.silencing import repository as repo
from shared.clock import Clock
from shared.events import AlertEvent

log = structlog.get_logger("vigil.incidents")

RELEASE_BATCH = 500  # held alerts per check transaction; the next check takes the rest
SETTLE = timedelta(minutes=1)  # how long after its end a silence is still searched for held alerts


async def create_silence(
    conn: asyncpg.Connection, *, matchers: list[Matcher], starts_at: datetime, ends_at: datetime, created_by: str,
    comment: str, now: datetime,
) -> asyncpg.Record:
    check_silence_matchers(matchers)
    row = await repo.insert_silence(conn, matchers=[m.as_dict() for m in matchers], starts_at=starts_at,
                                    ends_at=ends_at, created_by=created_by, comment=comment, now=now)
    log.info("silence created", silence_id=row["id"], matchers=[str(m) for m in matchers], ends_at=ends_at.isoformat(),
             created_by=created_by)
    return row


async def expire_silence(conn: asyncpg.Connection, silence_id: int, *, by: str, rules: GroupingRules,
                         now: datetime) -> asyncpg.Record:
    """End the silence now; the alerts it holds take the normal path in this same transaction."""
    row = await repo.expire_silence(conn, silence_id, by=by, now=now)
    if row is None:
        if await repo.get_silence(conn, silence_id) is None:
            raise service.NotFound(f"no silence {silence_id}")
        raise Refused(f"silence {silence_id} has ended already")
    log.info("silence expired", silence_id=silence_id, by=by)
    await release_held(conn, [silence_id], rules=rules, now=now)
    return row


class _Released(service.DirectWrites):
    """The alert path's writes for an alert a silence held: its occurrence exists already, so
    "insert" means: give it the incident it now belongs to."""

    incident_id: int | None = None

    async def insert_occurrence(self, *, event: AlertEvent, incident_id: int | None, severity: int, group_key: str,
                                now: datetime) -> None:
        self.incident_id = incident_id
        await repo.release_alert(self.conn, event.fingerprint, event.starts_at, incident_id)


def _event_of(row: asyncpg.Record, *, now: datetime) -> AlertEvent:
    """The held alert as an alert event (what the alert path reads of one). Received now: the
    incident it opens was detected when the silence stopped hiding it."""
    return AlertEvent(
        event_id=f"silence-release:{row['suppressed_by']}:{row['fingerprint']}:{row['starts_at'].isoformat()}",
        occurred_at=now, source=row["source"], fingerprint=row["fingerprint"], status="firing",
        labels=row["labels"], annotations=row["annotations"], starts_at=row["starts_at"],
        generator_url=row["generator_url"],
    )


async def release_held(conn: asyncpg.Connection, silence_ids: list[int], *, rules: GroupingRules, now: datetime) -> int:
    """Alerts held by these (ended) silences and still firing: held on by another silence that
    matches them now, or through the normal path (open or join an incident, page). Returns how many
    took the normal path. (A new firing never resolves an incident: no resolve hook here.)"""
    held = await repo.held_alerts(conn, silence_ids, limit=RELEASE_BATCH)
    if not held:
        return 0
    live = await repo.live_suppressions(conn, now)
    ended = await repo.silences_by_id(conn, list({r["suppressed_by"] for r in held}))
    released = 0
    for row in held:
        other = live.silence_for(row["labels"], now, besides=silence_ids)
        if other is not None:
            await repo.move_hold(conn, row["fingerprint"], row["starts_at"], other.id)
            continue
        event = _event_of(row, now=now)
        writes = _Released(conn)
        await service.attach_firing(conn, event, severity=row["severity"], group=row["group_key"], rules=rules,
                                    now=now, writes=writes)
        silence = ended[row["suppressed_by"]]
        why = f"was expired by {silence['expired_by']}" if silence["expired_by"] else "ended"
        name = row["labels"].get("alertname", row["fingerprint"])
        await writes.add_timeline(writes.incident_id, [Entry("silence_ended", released_text(name, silence["id"], why), SYSTEM)],
                                  at=now)
        log.info("silenced alert released", silence_id=silence["id"], fingerprint=row["fingerprint"],
                 incident_id=f"INC-{writes.incident_id}")
        released += 1
    return released


async def release_ended(pool: asyncpg.Pool, *, rules: GroupingRules, clock: Clock, batch: int = 100) -> int:
    """The periodic check: silences whose end has passed hand the alerts they still hold to the
    normal path. One transaction; with several replicas each held alert is claimed by one (SKIP
    LOCKED) and, once it has an incident, never released again."""
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        ended = [r["id"] for r in await repo.ended_silences(conn, now, limit=batch)]
        if not ended:
            return 0
        released = await release_held(conn, ended, rules=rules, now=now)
        await repo.mark_released(conn, ended, now=now, settled_before=now - SETTLE)
    return released


async def lift_ended_windows(pool: asyncpg.Pool, *, clock: Clock, batch: int = 100) -> int:
    """Open incidents whose maintenance window has ended page like any other from now on: at once
    (an `unsuppressed` event) when their alerts still fire. Each incident is claimed by one replica
    and lifted once."""
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        claimed = await repo.ended_window_incidents(conn, now, limit=batch)
        for row in claimed:
            await repo.lift_suppression(conn, row["id"], now)  # before the change: its events are no longer suppressed
            incident = incident_repo.incident_from_row(await incident_repo.get_incident_row(conn, row["id"], for_update=True))
            firing = await incident_repo.firing_count(conn, incident.id)
            await service.apply(conn, maintenance_ended(incident, window=row["suppressed_by_window"], firing=firing), now=now)
    return len(claimed)


async def check_ends(pool: asyncpg.Pool, *, rules: GroupingRules, clock: Clock) -> None:
    """The periodic job: ended silences release their alerts; ended maintenance windows lift their incidents."""
    await release_ended(pool, rules=rules, clock=clock)
    await lift_ended_windows(pool, clock=clock)
