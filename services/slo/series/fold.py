"""PURE (state in memory, no I/O): series samples → per-minute increases → the SLO buckets.

`SeriesFold` keeps, per series that an SLO selects, its last sample and which bucket sums it feeds,
nothing more. `prepare()` works out a batch (a remote-write request, an OTLP export) without
changing that state; the caller stores the batch's buckets and then `commit()`s it — so a batch
whose buckets could not be stored (and that the sender will retry) leaves no trace.

Increases are floats (spread over minute boundaries, rates of float counters); buckets hold whole
counts. Each bucket sum keeps its rounding remainder, so over any run of minutes the stored counts
differ from the exact increases by less than one.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.slo.buckets import Bucket, BucketKey
from services.slo.series.counters import MINUTE_MS, LastSample, spread, step, step_delta
from services.slo.series.feeds import Feed, Target, targets_for

MAX_UNSELECTED = 200_000  # series remembered as "no SLO selects it" before that memory is dropped

# A batch's series: its key (the same for every batch: remote-write's label bytes), how to get its
# labels (only called for a series not seen before), its samples — (timestamp ms, counter value),
# or for delta series (timestamp ms, increase, start ms) — and whether it is a delta series.
SeriesSamples = tuple[Hashable, Callable[[], dict[str, str]], Iterable[tuple], bool]


@dataclass(slots=True)
class Tracked:
    targets: tuple[Target, ...]
    last: LastSample | None = None


@dataclass
class Prepared:
    """A batch worked out: the buckets to add and the state to keep once they are stored."""

    buckets: dict[BucketKey, Bucket]
    lasts: dict[Hashable, LastSample | None] = field(default_factory=dict)
    remainders: dict[Target, float] = field(default_factory=dict)
    outcomes: Tally = field(default_factory=Tally)
    new_series: dict[Hashable, Tracked] = field(default_factory=dict)


class SeriesFold:
    def __init__(self, feeds: tuple[Feed, ...], *, max_gap_ms: int = 15 * MINUTE_MS, max_spread_ms: int = 10 * MINUTE_MS) -> None:
        self.feeds = feeds
        self.max_gap_ms = max_gap_ms
        self.max_spread_ms = max_spread_ms
        self.series: dict[Hashable, Tracked] = {}
        self.unselected: set[Hashable] = set()
        self.remainders: dict[Target, float] = {}

    @property
    def active_series(self) -> int:
        return len(self.series)

    def _tracked(self, key: Hashable, labels: Callable[[], dict[str, str]], prepared: Prepared) -> Tracked | None:
        tracked = self.series.get(key) or prepared.new_series.get(key)
        if tracked is not None or key in self.unselected:
            return tracked
        targets = targets_for(labels(), self.feeds)
        if not targets:
            if len(self.unselected) >= MAX_UNSELECTED:
                self.unselected.clear()
            self.unselected.add(key)  # only a cache: safe to keep even if the batch is not committed
            return None
        tracked = prepared.new_series[key] = Tracked(targets)
        return tracked

    def prepare(self, batch: Iterable[SeriesSamples], *, now_ms: int, oldest_ms: int, future_ms: int) -> Prepared:
        """The increases of `batch`'s samples at or after `oldest_ms` and before `now_ms + future_ms`."""
        prepared = Prepared(buckets={})
        sums: dict[tuple[Target, int], float] = {}
        lasts = prepared.lasts
        outcomes = prepared.outcomes
        newest_ms = now_ms + future_ms
        for key, labels, samples, delta in batch:
            tracked = self._tracked(key, labels, prepared)
            if tracked is None:
                outcomes["unselected"] += 1
                continue
            last = lasts[key] if key in lasts else tracked.last
            for sample in samples:
                t_ms = sample[0]
                if t_ms < oldest_ms or t_ms > newest_ms:
                    outcomes["too_late" if t_ms < oldest_ms else "future"] += 1
                    continue
                if delta:
                    last, outcome, increase, since_ms = step_delta(last, t_ms, sample[2], sample[1])
                else:
                    since_ms = last.t_ms if last is not None else t_ms
                    last, outcome, increase = step(last, t_ms, sample[1], max_gap_ms=self.max_gap_ms)
                outcomes[outcome] += 1
                if outcome != "increase" or not increase:
                    continue
                for minute_ms, share in spread(since_ms, t_ms, increase, max_spread_ms=self.max_spread_ms):
                    for target in tracked.targets:
                        k = (target, minute_ms)
                        sums[k] = sums.get(k, 0.0) + share * target.sign
            lasts[key] = last
        prepared.buckets = self._round(sums, prepared.remainders)
        return prepared

    def _round(self, sums: dict[tuple[Target, int], float], remainders: dict[Target, float]) -> dict[BucketKey, Bucket]:
        buckets: dict[BucketKey, Bucket] = {}
        minutes: dict[int, datetime] = {}
        for (target, minute_ms), amount in sorted(sums.items(), key=lambda kv: kv[0][1]):
            exact = amount + remainders.get(target, self.remainders.get(target, 0.0))
            whole = round(exact)
            remainders[target] = exact - whole
            if not whole:
                continue
            minute = minutes.get(minute_ms)
            if minute is None:
                minute = minutes[minute_ms] = datetime.fromtimestamp(minute_ms / 1000, UTC)
            bucket = buckets.get((target.service, minute))
            if bucket is None:
                bucket = buckets[(target.service, minute)] = Bucket()
            if target.field == "requests":
                bucket.requests += whole
                bucket.events += 1
            elif target.field == "errors":
                bucket.errors += whole
            else:
                bucket.latency[target.le] = bucket.latency.get(target.le, 0) + whole  # type: ignore[index]
        return buckets

    def commit(self, prepared: Prepared) -> None:
        """Keep what `prepared` saw: its series' last samples and the rounding remainders."""
        self.series.update(prepared.new_series)
        series = self.series
        for key, last in prepared.lasts.items():
            series[key].last = last
        self.remainders.update(prepared.remainders)

    def forget_idle(self, *, now_ms: int) -> int:
        """Drop the series without a sample for `max_gap_ms` (their next sample is a baseline anyway)."""
        cutoff = now_ms - self.max_gap_ms
        idle = [k for k, t in self.series.items() if t.last is None or t.last.t_ms < cutoff]
        for k in idle:
            del self.series[k]
        return len(idle)
