"""The evaluator: a time-driven loop that reads window sums, evaluates every SLO of every service
(pure `evaluation`), stores the results and fires/resolves alerts through the outbox. One replica
evaluates at a time (advisory lock); a failing tick is logged and retried at the next one."""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import asyncpg
import structlog
from prometheus_client import Gauge, Histogram

from services.slo import repository as repo, service
from services.slo.alerts import CAPACITY_TIERS, SLO_TIERS, Wanted
from services.slo.budget import Counts
from services.slo.buckets import RESOURCES, quantile
from services.slo.capacity import forecast
from services.slo.definitions import SloDefinition, definitions_for
from services.slo.evaluation import LONG_WINDOWS, SHORT_WINDOWS, Evaluation, WindowCounts, evaluate_slo
from services.slo.windows import MINUTE, ROLLING_PERIOD, calendar_month, floor_hour, floor_minute

log = structlog.get_logger("vigil.slo.evaluator")
LOCK_KEY = zlib.crc32(b"vigil-slo-evaluator")
HOUR = timedelta(hours=1)

EVALUATION_SECONDS = Histogram(
    "vigil_slo_evaluation_seconds", "Time to evaluate every SLO of every service once",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUDGET_REMAINING = Gauge("vigil_slo_budget_remaining_ratio", "Remaining rolling 30-day error budget (1 = untouched)", ["service", "slo"])
EVALUATED = Gauge("vigil_slo_evaluated_slos", "SLOs evaluated in the last tick")


@dataclass(frozen=True)
class EvaluatorConfig:
    definitions: tuple[SloDefinition, ...]
    zone: str
    min_events: int
    capacity_threshold: float
    capacity_weeks: int
    capacity_lead: timedelta
    retention: timedelta
    late_window: timedelta


@lru_cache(maxsize=1024)
def _keys(i: int, j: int) -> tuple[str, str, str]:
    return f"g_{i}_{j}", f"t_{i}_{j}", f"b_{i}_{j}"


class LongWindowCache:
    """The long windows' sums (24 h, 72 h, 30 days, the month: hour buckets and time slices) and the
    last day's histograms, over the completed hours only, kept from one tick to the next: each tick
    then reads just the current hour. They are read again when the hour (or month) moves on, when a
    fold changed a completed hour (the hours it flagged, which every tick collects), and when
    another replica ticked in between (the generation counter: it collected flags this one did not
    see). So a tick's results are the same as with a full read."""

    def __init__(self) -> None:
        self.generation: int | None = None
        self.key: tuple | None = None
        self.long_rows: dict = {}
        self.slices: dict = {}
        self.histograms: dict = {}
        # The short windows (minute buckets): their sums over the minutes before `short_boundary`
        # (a few minutes back: the minutes the fold is still adding to are read every tick), for the
        # window starts `short_starts`. When the minute moves on, the minutes that left a window or
        # came before the boundary are read and subtracted or added; a service whose minutes before
        # the boundary a fold changed (the hour flags carry the earliest changed minute) is read
        # again (`short_stale`); all of them when the flags may be incomplete.
        self.short_boundary: datetime | None = None
        self.short_starts: list[datetime] = []
        self.short_rows: dict = {}
        self.short_stale: set[str] = set()

    def observe(self, generation: int, changed: list, *, complete: bool, hour_now: datetime) -> None:
        """After a tick collected the flagged hours (rows with service, hour and changed_from, the
        earliest minute changed): drop the sums that may be stale."""
        consecutive = self.generation is not None and generation == self.generation + 1
        self.generation = generation
        if not consecutive or not complete:
            self.key = None
            self.short_boundary = None
            return
        if any(r["hour"] < hour_now for r in changed):
            self.key = None
        if self.short_boundary is not None:
            self.short_stale.update(r["service"] for r in changed if r["changed_from"] < self.short_boundary)


async def recompute_slices(conn: asyncpg.Connection, definitions: tuple[SloDefinition, ...]) -> list:
    """Bad minutes per hour of the time-slice SLOs, for the hours the fold flagged since the last
    run; returns those (service, hour) rows (at most MAX_SLICED_PER_TICK)."""
    changed = await conn.fetch(repo.UNSLICED_HOURS, repo.MAX_SLICED_PER_TICK)
    if not changed:
        return []
    sliced = [d for d in definitions if d.budgeting == "timeslices"]
    for d in sliced:
        by_hour: dict[datetime, list[str]] = defaultdict(list)
        for r in changed:
            if d in definitions_for(r["service"], definitions):
                by_hour[r["hour"]].append(r["service"])
        if by_hour:
            # One statement per hour: a range scan of that hour's minutes (usually just the current hour).
            sql, values = repo.recompute_slices_sql(d)
            await conn.executemany(sql, [
                [services, [hour] * len(services), hour, hour + HOUR, *values[4:]] for hour, services in sorted(by_hour.items())
            ])
    await conn.execute(repo.MARK_SLICED, [r["service"] for r in changed], [r["hour"] for r in changed],
                       [r["updated_at"] for r in changed])
    return changed


def _add_sums(a: dict, b: dict) -> dict:
    """{key: {column: sum}} of both. The result shares the inner dicts of keys only one side has
    (it is read, never changed)."""
    out = dict(a)
    for k, cols in b.items():
        acc = a.get(k)
        if acc is None:
            out[k] = cols
        elif acc.keys() == cols.keys():
            out[k] = {c: v + cols[c] for c, v in acc.items()}
        else:
            merged = dict(acc)
            for c, v in cols.items():
                merged[c] = merged.get(c, 0) + v
            out[k] = merged
    return out


async def _latency_sums(conn: asyncpg.Connection, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    histograms: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await conn.fetch(repo.LATENCY_SUMS, start, end):
        histograms[r["service"]][r["key"]] = r["count"]
    return histograms


async def _long_sums(conn: asyncpg.Connection, defs, *, sliced: list[str], starts: list[datetime], end: datetime,
                     histogram_start: datetime | None) -> tuple[dict, dict, dict]:
    long_rows = await repo.window_sums(conn, table="hour_bucket", time_column="hour", definitions=defs,
                                       starts=starts, end=end, bad_minutes=False)
    slices = await repo.slice_sums(conn, names=sliced, starts=starts, end=end) if sliced else {}
    histograms = await _latency_sums(conn, histogram_start, end) if histogram_start is not None else {}
    return long_rows, slices, histograms


# Beyond this many minutes to add or subtract since the kept starts, the kept minutes are read anew.
MAX_MINUTES_SUBTRACTED = 12
# The kept short-window sums end this far before the current minute: the fold adds a minute's
# events in the minute after it, and those minutes are read every tick instead of re-read.
SHORT_BOUNDARY_LAG = 2 * MINUTE


async def _completed_minutes(conn: asyncpg.Connection, defs, cache: LongWindowCache, starts: list[datetime],
                             boundary: datetime) -> dict:
    """The short windows' sums over their minutes before `boundary` (window j from starts[j]),
    kept in `cache`: read in full after the cache was dropped, else the minutes that left the
    windows are subtracted and those now before the boundary added; the services a fold changed
    before the old boundary are read again."""
    clipped = [min(s, boundary) for s in starts]
    old_boundary, old_starts = cache.short_boundary, cache.short_starts
    kept = old_boundary is not None and len(old_starts) == len(clipped)
    if kept and (boundary < old_boundary or any(new < old for old, new in zip(old_starts, clipped))):
        kept = False
    delta = sorted({m for old, new in zip(old_starts, clipped) for m in _minutes(old, new)}
                   | set(_minutes(old_boundary, boundary))) if kept else []
    if not kept or len(delta) > MAX_MINUTES_SUBTRACTED:
        cache.short_rows = await repo.window_sums(conn, table="minute_bucket", time_column="minute", definitions=defs,
                                                  starts=clipped, end=boundary, bad_minutes=True)
        cache.short_stale = set()
    elif delta:
        rows = cache.short_rows
        changes = await repo.window_changes(conn, defs, old_starts=old_starts, old_end=old_boundary,
                                            new_starts=clipped, new_end=boundary)
        for svc, change in changes.items():
            acc = rows.get(svc)
            if acc is None:
                rows[svc] = change
            else:
                for c, v in change.items():
                    acc[c] += v
    if cache.short_stale:
        stale = sorted(cache.short_stale)
        again = await repo.window_sums(conn, table="minute_bucket", time_column="minute", definitions=defs,
                                       starts=clipped, end=boundary, bad_minutes=True, services=stale)
        for svc in stale:
            if svc in again:
                cache.short_rows[svc] = again[svc]
            else:
                cache.short_rows.pop(svc, None)
        cache.short_stale = set()
    cache.short_boundary, cache.short_starts = boundary, clipped
    return cache.short_rows


def _minutes(start: datetime, end: datetime) -> list[datetime]:
    n = int((end - start) / MINUTE)
    return [start + k * MINUTE for k in range(n)]


async def read_counts(conn: asyncpg.Connection, cfg: EvaluatorConfig, now: datetime,
                      cache: LongWindowCache | None = None) -> tuple[dict, dict]:
    """{service: {definition index: WindowCounts}} and {service: cumulative histogram of the last day}.
    With `cache`, the completed hours of the long windows come from it (read into it if missing)."""
    defs = cfg.definitions
    minute_now, hour_now = floor_minute(now), floor_hour(now)
    month = calendar_month(now, cfg.zone)
    short_starts = [minute_now - w + MINUTE for w in SHORT_WINDOWS]
    long_periods = [*LONG_WINDOWS, ROLLING_PERIOD]
    long_starts = [hour_now - w + HOUR for w in long_periods] + [floor_hour(month.start)]
    if cache is None:
        short_rows = await repo.window_sums(conn, table="minute_bucket", time_column="minute", definitions=defs,
                                            starts=short_starts, end=minute_now + MINUTE, bad_minutes=True)
    else:
        # The minutes before the boundary from the cache, the last few read; both are segments of
        # every window, so their sums add up.
        boundary = minute_now - SHORT_BOUNDARY_LAG
        short_rows = _add_sums(await _completed_minutes(conn, defs, cache, short_starts, boundary), await repo.window_sums(
            conn, table="minute_bucket", time_column="minute", definitions=defs,
            starts=[max(s, boundary) for s in short_starts], end=minute_now + MINUTE, bad_minutes=True))
    sliced = [d.name for d in defs if d.budgeting == "timeslices"]
    day_start = hour_now - timedelta(days=1) + HOUR if any(d.display == "percentile_ms" for d in defs) else None
    if cache is None:
        long_rows, slices, histograms = await _long_sums(conn, defs, sliced=sliced, starts=long_starts,
                                                         end=hour_now + HOUR, histogram_start=day_start)
    else:
        key = (tuple(long_starts), day_start)
        if cache.key != key:
            cache.long_rows, cache.slices, cache.histograms = await _long_sums(
                conn, defs, sliced=sliced, starts=long_starts, end=hour_now, histogram_start=day_start)
            cache.key = key
        # The current hour lies in every long window: one segment, added to each window's sums.
        current = await _long_sums(conn, defs, sliced=sliced, starts=[hour_now] * len(long_starts), end=hour_now + HOUR,
                                   histogram_start=hour_now if day_start is not None else None)
        long_rows, slices = _add_sums(cache.long_rows, current[0]), _add_sums(cache.slices, current[1])
        histograms = _add_sums(cache.histograms, current[2])

    # Per window: its length in minutes and, per definition, the (good, total, bad) column names.
    short = [(w, w / MINUTE, [_keys(i, j) for i in range(len(defs))]) for j, w in enumerate(SHORT_WINDOWS)]
    long_minutes = [w / MINUTE for w in LONG_WINDOWS] + [ROLLING_PERIOD / MINUTE, month.elapsed_minutes]
    long = [(m, [_keys(i, j) for i in range(len(defs))], f"b_{j}") for j, m in enumerate(long_minutes)]
    out: dict[str, dict[int, WindowCounts]] = {}
    for svc in sorted(set(short_rows) | set(long_rows)):
        applicable = set(id(d) for d in definitions_for(svc, defs))
        s, lg = short_rows.get(svc), long_rows.get(svc)
        per_def = {}
        for i, d in enumerate(defs):
            if id(d) not in applicable:
                continue
            burn: dict[timedelta, Counts] = {}
            for w, minutes, keys in short:
                g, t, b = keys[i]
                burn[w] = Counts(s[g], s[t], s.get(b, 0), minutes) if s else Counts(minutes=minutes)
            sl = slices.get((d.name, svc))
            counts = []
            for minutes, keys, slice_key in long:
                g, t, _ = keys[i]
                bad = sl[slice_key] if sl else 0
                counts.append(Counts(lg[g], lg[t], bad, minutes) if lg else Counts(bad_minutes=bad, minutes=minutes))
            for w, c in zip(LONG_WINDOWS, counts):
                burn[w] = c
            per_def[i] = WindowCounts(burn=burn, rolling_30d=counts[-2], month=counts[-1])
        out[svc] = per_def
    return out, histograms


def evaluate_counts(counts: dict, histograms: dict, cfg: EvaluatorConfig, now: datetime) -> list[Evaluation]:
    """PURE given the counts: every SLO of every service."""
    evaluations = []
    for svc, per_def in counts.items():
        for i, wc in per_def.items():
            d = cfg.definitions[i]
            q = quantile(d.target, histograms.get(svc, {})) if d.display == "percentile_ms" else None
            evaluations.append(evaluate_slo(service=svc, definition=d, counts=wc, now=now, zone=cfg.zone,
                                            min_events=cfg.min_events, quantile_s=q))
    return evaluations


def wanted_alerts(evaluations: list[Evaluation]) -> list[Wanted]:
    wanted = []
    for e in evaluations:
        for tier in sorted(e.tiers):
            budget = e.status["budget"]
            burns = ", ".join(f"{b['long_window']}/{b['short_window']}: {b['long_burn']:g}x/{b['short_burn']:g}x"
                              for b in e.status["burn_rates"] if b["tier"] == tier)
            wanted.append(Wanted(
                service=e.service, subject=e.definition.name, tier=tier,
                summary=f"{e.definition.title} SLO of {e.service}: " + (
                    "error budget exhausted" if tier == "exhausted" else f"error budget burning fast ({tier})"),
                description=f"target {e.status['target']}; {budget['remaining_percent']:.1f}% of the 30-day budget left"
                            + (f"; burn rates {burns}" if burns else ""),
            ))
    return wanted


async def evaluate_slos(pool: asyncpg.Pool, cfg: EvaluatorConfig, now: datetime,
                        cache: LongWindowCache | None = None) -> list[Evaluation]:
    async with pool.acquire() as conn:
        async with conn.transaction():
            generation = await conn.fetchval(repo.NEXT_GENERATION)
            changed = await recompute_slices(conn, cfg.definitions)
        if cache is not None:
            cache.observe(generation, changed, complete=len(changed) < repo.MAX_SLICED_PER_TICK,
                          hour_now=floor_hour(now))
        async with conn.transaction():
            # Enough memory to hash-aggregate the window scans instead of sorting them on disk.
            await conn.execute("SET LOCAL work_mem = '64MB'")
            counts, histograms = await read_counts(conn, cfg, now, cache)
        evaluations = evaluate_counts(counts, histograms, cfg, now)
        async with conn.transaction():
            await repo.put_statuses(conn, [(e.service, e.definition.name, e.status) for e in evaluations], now)
            await conn.execute(repo.DELETE_STALE_STATUSES, now)
            await service.apply_alerts(conn, wanted=wanted_alerts(evaluations), tiers=SLO_TIERS, now=now)
    for e in evaluations:
        BUDGET_REMAINING.labels(e.service, e.definition.name).set(e.status["budget"]["remaining_percent"] / 100)
    EVALUATED.set(len(evaluations))
    return evaluations


async def evaluate_capacity(pool: asyncpg.Pool, cfg: EvaluatorConfig, now: datetime) -> list[dict]:
    hour_now = floor_hour(now)
    start = hour_now - timedelta(weeks=cfg.capacity_weeks) + HOUR
    async with pool.acquire() as conn:
        daily_rows = await conn.fetch(repo.DAILY_UTILISATION, start, hour_now + HOUR)
        latest_rows = await conn.fetch(repo.LATEST_UTILISATION, hour_now - timedelta(days=2), hour_now + HOUR)
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
            status = {
                "service": key[0], "resource": key[1], "current_percent": round(f.current * 100, 3),
                "trend_percent_per_week": round(f.per_week * 100, 3) if f.per_week is not None else None,
                "trend": f.trend, "threshold_percent": round(f.threshold * 100, 3), "scaling_needed_by": f.scaling_needed_by,
                "headroom_percent": round((f.threshold - f.current) * 100, 3), "alert": f.alert,
                "weeks": cfg.capacity_weeks, "evaluated_at": now,
            }
            rows.append((key[0], key[1], status))
            if f.alert:
                wanted.append(Wanted(
                    service=key[0], subject=key[1], tier="capacity",
                    summary=f"{key[0]} {key[1]} reaches {status['threshold_percent']:g}% by {f.scaling_needed_by}",
                    description=f"current {status['current_percent']:.1f}%, trend {f.trend}",
                ))
        async with conn.transaction():
            await repo.put_capacity(conn, rows, now)
            await conn.execute(repo.DELETE_STALE_CAPACITY, now)
            await service.apply_alerts(conn, wanted=wanted, tiers=CAPACITY_TIERS, now=now)
    return [r[2] for r in rows]


async def prune(pool: asyncpg.Pool, cfg: EvaluatorConfig, now: datetime) -> None:
    keep_hours = max(cfg.retention, timedelta(weeks=cfg.capacity_weeks) + timedelta(days=1))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(repo.PRUNE_MINUTES, now - cfg.retention)
        await conn.execute(repo.PRUNE_HOURS, now - keep_hours)
        await conn.execute(repo.PRUNE_SLICES, now - keep_hours)
        await conn.execute(repo.PRUNE_PROCESSED, now - cfg.late_window - HOUR)


class Evaluator:
    def __init__(self, pool: asyncpg.Pool, cfg: EvaluatorConfig, *, clock, interval_s: float, capacity_interval_s: float = 600) -> None:
        self._pool, self._cfg, self._clock = pool, cfg, clock
        self._interval_s, self._capacity_interval_s = interval_s, capacity_interval_s
        self._stopping = asyncio.Event()
        self._last_capacity = self._last_prune = float("-inf")
        self._cache = LongWindowCache()

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> bool:
        """One evaluation if this replica holds the lock; False if another one does."""
        async with self._pool.acquire() as lock_conn:
            if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
                return False
            try:
                now = self._clock()
                started = time.perf_counter()
                evaluations = await evaluate_slos(self._pool, self._cfg, now, self._cache)
                EVALUATION_SECONDS.observe(time.perf_counter() - started)
                if time.monotonic() - self._last_capacity >= self._capacity_interval_s:
                    await evaluate_capacity(self._pool, self._cfg, now)
                    self._last_capacity = time.monotonic()
                if time.monotonic() - self._last_prune >= 3600:
                    await prune(self._pool, self._cfg, now)
                    self._last_prune = time.monotonic()
                log.debug("slos evaluated", slos=len(evaluations), seconds=round(time.perf_counter() - started, 3))
                return True
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed tick is retried at the next one
                log.error("slo evaluation failed", error=repr(exc), exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)
