"""PURE (state in memory, no I/O): series samples → per-minute increases → the SLO buckets.

`SeriesFold` keeps, per series that an SLO selects, its last sample and which bucket sums it feeds,
nothing more. `prepare()` works out a batch (a remote-write request, an OTLP export) without
changing that state; the caller stores the batch's buckets and then `commit()`s it — so a batch
whose buckets could not be stored (and that the sender will retry) leaves no trace. A caller that
commits before the buckets are stored (to work out the next batch meanwhile) `revert()`s the
commit when they could not be.

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

# A batch's series: its key (the same for every batch: remote-write's label bytes), its samples —
# (timestamp ms, counter value), or for delta series (timestamp ms, increase, start ms) — and
# whether it is a delta series. `prepare`'s `labels_of(key)` gives the labels of a key not seen before.
SeriesSamples = tuple[Hashable, Iterable[tuple], bool]


@dataclass(slots=True)
class Tracked:
    targets: int  # the index of its set of targets (`SeriesFold.target_sets`)
    last: LastSample | None = None
    touched: bool = True  # a sample arrived since the last `forget_idle`


@dataclass
class Prepared:
    """A batch worked out: the buckets to add and the state to keep once they are stored."""

    buckets: dict[BucketKey, Bucket]
    lasts: dict[Hashable, LastSample | None] = field(default_factory=dict)
    remainders: dict[Target, float] = field(default_factory=dict)
    outcomes: Tally = field(default_factory=Tally)
    new_series: dict[Hashable, Tracked] = field(default_factory=dict)


@dataclass(slots=True)
class Committed:
    """What a `commit` replaced: per series its last sample before, the series it added, and the
    remainders before (None: there was none)."""

    replaced: dict[Hashable, LastSample | None]
    new_keys: list[Hashable]
    remainders: dict[Target, float | None]


class SeriesFold:
    def __init__(self, feeds: tuple[Feed, ...], *, max_gap_ms: int = 15 * MINUTE_MS, max_spread_ms: int = 10 * MINUTE_MS) -> None:
        self.feeds = feeds
        self.max_gap_ms = max_gap_ms
        self.max_spread_ms = max_spread_ms
        self.series: dict[Hashable, Tracked] = {}
        self.unselected: set[Hashable] = set()
        self.remainders: dict[Target, float] = {}
        # The distinct sets of targets series feed (a few per service), by index: a batch sums its
        # increases per (set, minute), small ints, and spreads them over the targets once at the end.
        self.target_sets: list[tuple[Target, ...]] = []
        self._set_index: dict[tuple[Target, ...], int] = {}

    @property
    def active_series(self) -> int:
        return len(self.series)

    def _track(self, key: Hashable, labels: dict[str, str], prepared: Prepared) -> Tracked | None:
        targets = targets_for(labels, self.feeds)
        if not targets:
            if len(self.unselected) >= MAX_UNSELECTED:
                self.unselected.clear()
            self.unselected.add(key)  # only a cache: safe to keep even if the batch is not committed
            return None
        index = self._set_index.get(targets)
        if index is None:
            index = self._set_index[targets] = len(self.target_sets)
            self.target_sets.append(targets)
        tracked = prepared.new_series[key] = Tracked(index)
        return tracked

    def prepare(self, batch: Iterable[SeriesSamples], *, labels_of: Callable[[Hashable], dict[str, str]],
                now_ms: int, oldest_ms: int, future_ms: int) -> Prepared:
        """The increases of `batch`'s samples at or after `oldest_ms` and before `now_ms + future_ms`."""
        prepared = Prepared(buckets={})
        sums: dict[tuple[int, int], float] = {}
        lasts = prepared.lasts
        outcomes = prepared.outcomes
        series, new_series, unselected = self.series, prepared.new_series, self.unselected
        newest_ms, max_gap_ms, max_spread_ms = now_ms + future_ms, self.max_gap_ms, self.max_spread_ms
        increases = 0
        for key, samples, delta in batch:
            tracked = series.get(key)
            if tracked is None:
                tracked = new_series.get(key)
                if tracked is None:
                    if key in unselected:
                        outcomes["unselected"] += 1
                        continue
                    tracked = self._track(key, labels_of(key), prepared)
                    if tracked is None:
                        outcomes["unselected"] += 1
                        continue
            last = lasts.get(key, tracked.last)  # a stored None is a stored last sample too
            targets = tracked.targets
            for sample in samples:
                t_ms = sample[0]
                if t_ms < oldest_ms or t_ms > newest_ms:
                    outcomes["too_late" if t_ms < oldest_ms else "future"] += 1
                    continue
                value = sample[1]
                # The common case inline: a later sample of a counter that went up (or stayed).
                if (not delta and last is not None and last.t_ms < t_ms <= last.t_ms + max_gap_ms
                        and value >= last.value and value == value):
                    increase, since_ms = value - last.value, last.t_ms
                    last = LastSample(t_ms, value)
                    increases += 1
                else:
                    if delta:
                        last, outcome, increase, since_ms = step_delta(last, t_ms, sample[2], value)
                    else:
                        since_ms = last.t_ms if last is not None else t_ms
                        last, outcome, increase = step(last, t_ms, value, max_gap_ms=max_gap_ms)
                    if outcome != "increase":
                        outcomes[outcome] += 1
                        continue
                    increases += 1
                if not increase:
                    continue
                minute_ms = (t_ms - 1) // MINUTE_MS * MINUTE_MS
                if since_ms >= minute_ms:  # within one minute: no spreading
                    k = (targets, minute_ms)
                    sums[k] = sums.get(k, 0.0) + increase
                elif since_ms >= minute_ms - MINUTE_MS and t_ms - since_ms <= max_spread_ms:
                    # Over one minute boundary (a quarter of 15 s scrapes): `spread`'s two shares, inline.
                    span = t_ms - since_ms
                    k = (targets, minute_ms - MINUTE_MS)
                    sums[k] = sums.get(k, 0.0) + increase * (minute_ms - since_ms) / span
                    k = (targets, minute_ms)
                    sums[k] = sums.get(k, 0.0) + increase * (t_ms - minute_ms) / span
                else:
                    for minute_ms, share in spread(since_ms, t_ms, increase, max_spread_ms=max_spread_ms):
                        k = (targets, minute_ms)
                        sums[k] = sums.get(k, 0.0) + share
            lasts[key] = last
        if increases:
            outcomes["increase"] += increases
        prepared.buckets = self._round(sums, prepared.remainders)
        return prepared

    def _round(self, sums: dict[tuple[int, int], float], remainders: dict[Target, float]) -> dict[BucketKey, Bucket]:
        per_target: dict[tuple[Target, int], float] = {}
        for (index, minute_ms), amount in sums.items():
            for target in self.target_sets[index]:
                k = (target, minute_ms)
                per_target[k] = per_target.get(k, 0.0) + amount * target.sign
        buckets: dict[BucketKey, Bucket] = {}
        minutes: dict[int, datetime] = {}
        for (target, minute_ms), amount in sorted(per_target.items(), key=lambda kv: kv[0][1]):
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

    def commit(self, prepared: Prepared) -> Committed:
        """Keep what `prepared` saw: its series' last samples and the rounding remainders. Returns
        what it replaced, for `revert` (`prepared` is used up: its `lasts` now hold the replaced ones)."""
        series = self.series
        series.update(prepared.new_series)
        lasts = prepared.lasts
        for key, last in lasts.items():  # swapped in place: no allocation per series
            tracked = series[key]
            lasts[key] = tracked.last
            tracked.last = last
            tracked.touched = True
        remainders = self.remainders
        committed = Committed(lasts, list(prepared.new_series), {t: remainders.get(t) for t in prepared.remainders})
        remainders.update(prepared.remainders)
        return committed

    def revert(self, committed: Committed) -> None:
        """Undo a `commit` (whose buckets could not be stored after all). Commits made after it
        must be reverted first, newest first: each puts back what was there before it. Its series
        stay touched: at worst kept one `forget_idle` longer."""
        series = self.series
        for key, last in committed.replaced.items():
            tracked = series.get(key)
            if tracked is not None:
                tracked.last = last
        for key in committed.new_keys:
            series.pop(key, None)
        for target, remainder in committed.remainders.items():
            if remainder is None:
                self.remainders.pop(target, None)
            else:
                self.remainders[target] = remainder

    def forget_idle(self) -> int:
        """Drop the series that received no sample since the last call (called every `max_gap_ms`:
        a series silent that long starts from a baseline anyway). By arrival, not by the samples'
        timestamps, so a sender catching up on an old backlog keeps its series."""
        idle = [k for k, t in self.series.items() if not t.touched]
        for k in idle:
            del self.series[k]
        for t in self.series.values():
            t.touched = False
        return len(idle)
