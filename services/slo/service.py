"""The units of work the consumer, the push endpoint's consumer path and the evaluator share:
folding metrics into buckets, and storing an evaluation with its alert transitions (outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import Counter

from services.slo import repository as repo
from services.slo.alerts import Firing, Transition, Wanted, transitions
from services.slo.buckets import fold, roll_up_hours
from shared.events import MetricsEvent
from shared.outbox import enqueue

CE_SOURCE = "/vigil/slo"
FUTURE_TOLERANCE = timedelta(minutes=5)

EVENTS = Counter("vigil_slo_events_total", "Metrics events seen by the SLO consumer, by outcome", ["outcome"])
ALERTS = Counter("vigil_slo_alerts_total", "Alert events the SLO service raised, by tier and status", ["tier", "status"])


class FromTheFuture(ValueError):
    """An interval that starts well after now: a producer's clock is wrong (dead-lettered)."""


@dataclass(frozen=True)
class FoldOutcome:
    folded: int
    duplicates: int
    too_late: int


def check_not_future(event: MetricsEvent, now: datetime) -> None:
    if event.interval_start > now + FUTURE_TOLERANCE:
        raise FromTheFuture(f"interval_start {event.interval_start.isoformat()} is after now ({now.isoformat()})")


async def fold_metrics(conn: asyncpg.Connection, events: list[MetricsEvent], *, now: datetime, late_window: timedelta) -> FoldOutcome:
    """Add `events` to the minute and hour buckets, each event id once ever (in the caller's
    transaction). Events older than `late_window` are ignored and counted."""
    oldest = now - late_window
    fresh: dict[str, MetricsEvent] = {}
    too_late = 0
    for e in events:
        if e.interval_start >= oldest:
            fresh[e.event_id] = e
        else:
            too_late += 1
    new_ids = await repo.mark_processed_many(conn, list(fresh), [e.interval_start for e in fresh.values()]) if fresh else set()
    new = [e for e in fresh.values() if e.event_id in new_ids]
    minutes = fold(new)
    await repo.add_buckets(conn, minutes=minutes, hours=roll_up_hours(minutes))
    outcome = FoldOutcome(folded=len(new), duplicates=len(events) - len(new) - too_late, too_late=too_late)
    for name, n in (("folded", outcome.folded), ("duplicate", outcome.duplicates), ("too_late", outcome.too_late)):
        if n:
            EVENTS.labels(name).inc(n)
    return outcome


async def apply_alerts(conn: asyncpg.Connection, *, wanted: list[Wanted], tiers: tuple[str, ...], now: datetime) -> list[Transition]:
    """Fire and resolve alerts of `tiers` so that exactly `wanted` fire; each change is stored with
    its AlertEvent in the outbox in the caller's transaction (so none is lost or sent twice)."""
    rows = await conn.fetch(repo.FIRING_ALERTS, list(tiers))
    firing = [Firing(r["fingerprint"], r["service"], r["subject"], r["tier"], r["starts_at"]) for r in rows]
    changes = transitions(wanted=wanted, firing=firing, now=now)
    for t in changes:
        await conn.execute(repo.PUT_ALERT_STATE, t.fingerprint, t.service, t.subject, t.tier, t.status, t.starts_at, t.ends_at, now)
        await enqueue(conn, schema=repo.SCHEMA, event=t.event, ce_source=CE_SOURCE)
        ALERTS.labels(t.tier, t.status).inc()
    return changes
