"""The window sums the evaluator reads each tick (`read_counts`: every SLO's counts per window),
and the part of them it keeps from one tick to the next (`LongWindowCache`), so that a tick reads
only what changed since the last one and still counts what a full read counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

import asyncpg

from services.slo import repository as repo
from services.slo.budget import Counts
from services.slo.definitions import definitions_for
from services.slo.evaluation import LONG_WINDOWS, SHORT_WINDOWS, EvaluatorConfig, WindowCounts
from services.slo.window_queries import slice_sums, window_changes, window_sums
from services.slo.windows import MINUTE, ROLLING_PERIOD, calendar_month, floor_hour, floor_minute

HOUR = timedelta(hours=1)


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


async def _long_sums(conn: asyncpg.Connection, defs, *, sliced: list[str], starts: list[datetime], end: datetime,
                     histogram_start: datetime | None) -> tuple[dict, dict, dict]:
    long_rows = await window_sums(conn, table="hour_bucket", time_column="hour", definitions=defs,
                                  starts=starts, end=end, bad_minutes=False)
    slices = await slice_sums(conn, names=sliced, starts=starts, end=end) if sliced else {}
    histograms = await repo.latency_sums(conn, start=histogram_start, end=end) if histogram_start is not None else {}
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
        cache.short_rows = await window_sums(conn, table="minute_bucket", time_column="minute", definitions=defs,
                                             starts=clipped, end=boundary, bad_minutes=True)
        cache.short_stale = set()
    elif delta:
        rows = cache.short_rows
        changes = await window_changes(conn, defs, old_starts=old_starts, old_end=old_boundary,
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
        again = await window_sums(conn, table="minute_bucket", time_column="minute", definitions=defs,
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
        short_rows = await window_sums(conn, table="minute_bucket", time_column="minute", definitions=defs,
                                       starts=short_starts, end=minute_now + MINUTE, bad_minutes=True)
    else:
        # The minutes before the boundary from the cache, the last few read; both are segments of
        # every window, so their sums add up.
        boundary = minute_now - SHORT_BOUNDARY_LAG
        short_rows = _add_sums(await _completed_minutes(conn, defs, cache, short_starts, boundary), await window_sums(
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
