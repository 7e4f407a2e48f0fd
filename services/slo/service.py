"""The units of work of the SLO service: folding metrics into buckets (the consumer), and the
evaluator's ticks — evaluating every SLO, forecasting capacity, pruning — which store their results
with the alert transitions (outbox) they lead to."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Counter, Gauge

from services.slo import repository as repo
from services.slo.alerts import CAPACITY_TIERS, SLO_TIERS, Transition, Wanted, subject_key, transitions, wanted_alerts
from services.slo.buckets import RESOURCES, fold, roll_up_hours
from services.slo.budget_policy import StoredState, state_changes
from services.slo.capacity import capacity_alert, capacity_status, forecast
from services.slo.definitions import SloDefinition, definitions_for
from services.slo.evaluation import Evaluation, EvaluatorConfig, evaluate_counts
from services.slo.window_cache import LongWindowCache, read_counts
from services.slo.window_queries import put_slices
from services.slo.windows import floor_hour
from shared.events import BudgetStateChanged, MetricsEvent
from shared.metrics import own_registry
from shared.outbox import enqueue, enqueue_many, outbox_row

CE_SOURCE = "/vigil/slo"
FUTURE_TOLERANCE = timedelta(minutes=5)
HOUR = timedelta(hours=1)
log = structlog.get_logger("vigil.slo.evaluator")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
EVENTS = Counter("vigil_slo_events_total", "Metrics events seen by the SLO consumer, by outcome", ["outcome"],
                 registry=METRICS)
ALERTS = Counter("vigil_slo_alerts_total", "Alert events the SLO service raised, by tier and status", ["tier", "status"],
                 registry=METRICS)
BUDGET_REMAINING = Gauge("vigil_slo_budget_remaining_ratio", "Remaining rolling 30-day error budget (1 = untouched)", ["service", "slo"],
                         registry=METRICS)
EVALUATED = Gauge("vigil_slo_evaluated_slos", "SLOs evaluated in the last tick", registry=METRICS)


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
    firing = await repo.firing_alerts(conn, tiers)
    changes = transitions(wanted=wanted, firing=firing, now=now)
    for t in changes:
        await repo.put_alert_state(conn, t, now=now)
        await enqueue(conn, schema=repo.SCHEMA, event=t.event, ce_source=CE_SOURCE)
        ALERTS.labels(t.tier, t.status).inc()
    return changes


async def publish_budget_states(conn: asyncpg.Connection, statuses: list[dict], *, now: datetime) -> list[BudgetStateChanged]:
    """Publish (through the outbox, in the caller's transaction) each SLO's budget state that differs
    from the one last published, and remember it: a state is published once per change."""
    changes = state_changes(statuses=statuses, stored=await repo.budget_states(conn), now=now)
    if changes:
        await repo.put_budget_states(conn, [StoredState(e.service, e.slo, e.state, e.since) for e in changes])
        await enqueue_many(conn, schema=repo.SCHEMA, rows=[outbox_row(e, ce_source=CE_SOURCE) for e in changes])
    return changes


def log_transitions(changes: list[Transition]) -> None:
    """One line per alert raised or resolved (once its transaction committed), with the service, the
    SLO (or resource), the fingerprint and the event id bound to the log context for it."""
    for t in changes:
        with structlog.contextvars.bound_contextvars(service=t.service, **{subject_key(t.tier): t.subject}, tier=t.tier,
                                                     fingerprint=t.fingerprint, event_id=t.event.event_id):
            log.info("slo alert raised" if t.status == "firing" else "slo alert resolved")


async def recompute_slices(conn: asyncpg.Connection, definitions: tuple[SloDefinition, ...]) -> list:
    """Bad minutes per hour of the time-slice SLOs, for the hours the fold flagged since the last
    run; returns those (service, hour) rows (at most MAX_SLICED_PER_TICK)."""
    changed = await repo.unsliced_hours(conn)
    if not changed:
        return []
    sliced = [d for d in definitions if d.budgeting == "timeslices"]
    for d in sliced:
        by_hour: dict[datetime, list[str]] = defaultdict(list)
        for r in changed:
            if d in definitions_for(r["service"], definitions):
                by_hour[r["hour"]].append(r["service"])
        if by_hour:
            await put_slices(conn, d, by_hour)
    await repo.mark_sliced(conn, changed)
    return changed


async def evaluate_slos(pool: asyncpg.Pool, cfg: EvaluatorConfig, now: datetime,
                        cache: LongWindowCache | None = None) -> list[Evaluation]:
    """Evaluate every SLO of every service, store the statuses and fire/resolve their alerts."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            generation = await repo.next_generation(conn)
            changed = await recompute_slices(conn, cfg.definitions)
        if cache is not None:
            cache.observe(generation, changed, complete=len(changed) < repo.MAX_SLICED_PER_TICK,
                          hour_now=floor_hour(now))
        async with conn.transaction():
            await repo.allow_hash_aggregates(conn)
            counts, histograms = await read_counts(conn, cfg, now, cache)
        evaluations = evaluate_counts(counts, histograms, cfg, now)
        async with conn.transaction():
            await repo.put_statuses(conn, [(e.service, e.definition.name, e.status) for e in evaluations], now)
            await repo.delete_stale_statuses(conn, now)
            changes = await apply_alerts(conn, wanted=wanted_alerts(evaluations), tiers=SLO_TIERS, now=now)
            budget_changes = await publish_budget_states(conn, [e.status for e in evaluations], now=now)
    log_transitions(changes)
    for b in budget_changes:
        log.info("error budget state changed", service=b.service, slo=b.slo, state=b.state,
                 previous_state=b.previous_state, remaining_fraction=b.remaining_fraction)
    for e in evaluations:
        BUDGET_REMAINING.labels(e.service, e.definition.name).set(e.status["budget"]["remaining_percent"] / 100)
    EVALUATED.set(len(evaluations))
    return evaluations


async def evaluate_capacity(pool: asyncpg.Pool, cfg: EvaluatorConfig, now: datetime) -> list[dict]:
    """Forecast every service's resources, store the rows and fire/resolve the capacity alerts."""
    hour_now = floor_hour(now)
    start = hour_now - timedelta(weeks=cfg.capacity_weeks) + HOUR
    async with pool.acquire() as conn:
        daily_rows = await repo.daily_utilisation(conn, start=start, end=hour_now + HOUR)
        latest_rows = await repo.latest_utilisation(conn, start=hour_now - timedelta(days=2), end=hour_now + HOUR)
        daily: dict[tuple[str, str], list[tuple[date, float]]] = defaultdict(list)
        for r in daily_rows:
            for res in RESOURCES:
                if r[f"{res}_n"]:
                    daily[(r["service"], res)].append((r["day"], r[f"{res}_sum"] / r[f"{res}_n"]))
        rows, wanted = [], []
        for r in latest_rows:
            key = (r["service"], r["resource"])
            f = forecast(daily=sorted(daily.get(key, [])), current=r["mean"], threshold=cfg.capacity_threshold,
                         lead=cfg.capacity_lead, now=now)
            status = capacity_status(service=key[0], resource=key[1], forecast=f, weeks=cfg.capacity_weeks, now=now)
            rows.append((key[0], key[1], status))
            if f.alert:
                wanted.append(capacity_alert(status))
        async with conn.transaction():
            await repo.put_capacity(conn, rows, now)
            await repo.delete_stale_capacity(conn, now)
            changes = await apply_alerts(conn, wanted=wanted, tiers=CAPACITY_TIERS, now=now)
    log_transitions(changes)
    return [r[2] for r in rows]


async def prune(pool: asyncpg.Pool, cfg: EvaluatorConfig, now: datetime) -> None:
    """Drop the buckets, time slices and event ids that no window, trend or redelivery needs."""
    keep_hours = max(cfg.retention, timedelta(weeks=cfg.capacity_weeks) + timedelta(days=1))
    async with pool.acquire() as conn, conn.transaction():
        await repo.prune(conn, minutes_before=now - cfg.retention, hours_before=now - keep_hours,
                         events_before=now - cfg.late_window - HOUR)
