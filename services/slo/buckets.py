"""PURE: folding metrics events into per-minute (and per-hour) buckets.

Folding is a sum, so it is independent of order; an event id already folded adds nothing. The
consumer folds one poll's events with this, then adds the result to the stored buckets in one
transaction together with the event ids (so a redelivered batch folds nothing twice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.slo.definitions import bucket_key
from services.slo.windows import floor_hour, floor_minute
from shared.events import MetricsEvent

RESOURCES = ("cpu", "memory", "storage", "network")

# The key text of each histogram bound seen (a service sends the same few bounds in every event),
# so that folding does not format a float per bound and event. Bounded against odd producers.
_BOUND_KEYS: dict[float, str] = {}
_MAX_BOUND_KEYS = 4096


def _bound_key(le: float) -> str:
    key = _BOUND_KEYS.get(le)
    if key is None:
        key = bucket_key(le)
        if len(_BOUND_KEYS) < _MAX_BOUND_KEYS:
            _BOUND_KEYS[le] = key
    return key


@dataclass
class Bucket:
    """The sums of every event folded into one service's minute (or hour)."""

    requests: int = 0
    errors: int = 0
    events: int = 0
    latency: dict[str, int] = field(default_factory=dict)  # cumulative count per bucket key ("0.1", "+Inf")
    utilisation_sum: dict[str, float] = field(default_factory=dict)
    utilisation_samples: dict[str, int] = field(default_factory=dict)

    def add(self, event: MetricsEvent) -> None:
        self.requests += event.requests
        self.errors += event.errors
        self.events += 1
        latency = self.latency
        if latency:
            for b in event.latency_buckets:
                key = _BOUND_KEYS.get(b.le) or _bound_key(b.le)
                latency[key] = latency.get(key, 0) + b.count
        else:
            # A bucket's first event (most often its only one): a validated event's bounds are
            # strictly ascending, so their keys are distinct and each count is set, not added.
            for b in event.latency_buckets:
                latency[_BOUND_KEYS.get(b.le) or _bound_key(b.le)] = b.count
        u, sums, samples = event.utilisation, self.utilisation_sum, self.utilisation_samples
        if u.cpu is not None:
            sums["cpu"] = sums.get("cpu", 0.0) + u.cpu
            samples["cpu"] = samples.get("cpu", 0) + 1
        if u.memory is not None:
            sums["memory"] = sums.get("memory", 0.0) + u.memory
            samples["memory"] = samples.get("memory", 0) + 1
        if u.storage is not None:
            sums["storage"] = sums.get("storage", 0.0) + u.storage
            samples["storage"] = samples.get("storage", 0) + 1
        if u.network is not None:
            sums["network"] = sums.get("network", 0.0) + u.network
            samples["network"] = samples.get("network", 0) + 1

    def copy(self) -> Bucket:
        """A new bucket with the same sums (the first minute of an hour, say)."""
        return Bucket(self.requests, self.errors, self.events, dict(self.latency), dict(self.utilisation_sum),
                      dict(self.utilisation_samples))

    def merge(self, other: Bucket) -> None:
        """Add the sums of `other` (another minute of the same hour, say)."""
        self.requests += other.requests
        self.errors += other.errors
        self.events += other.events
        for mine, theirs in ((self.latency, other.latency), (self.utilisation_sum, other.utilisation_sum),
                             (self.utilisation_samples, other.utilisation_samples)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


BucketKey = tuple[str, datetime]  # (service, minute or hour start in UTC)


def fold(events: Iterable[MetricsEvent], *, seen: set[str] | None = None) -> dict[BucketKey, Bucket]:
    """Per-minute buckets of `events`, skipping ids in `seen` and repeats (`seen` is updated)."""
    seen = set() if seen is None else seen
    buckets: dict[BucketKey, Bucket] = {}
    minutes: dict[datetime, datetime] = {}  # interval start -> its UTC minute (a poll has few distinct ones)
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        minute = minutes.get(event.interval_start)
        if minute is None:
            minute = minutes[event.interval_start] = floor_minute(event.interval_start)
        key = (event.service, minute)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = Bucket()
        bucket.add(event)
    return buckets


def roll_up_hours(minutes: dict[BucketKey, Bucket]) -> dict[BucketKey, Bucket]:
    """The hour buckets that the minute buckets add to."""
    hours: dict[BucketKey, Bucket] = {}
    hour_of: dict[datetime, datetime] = {}
    for (service, minute), b in minutes.items():
        hour = hour_of.get(minute)
        if hour is None:
            hour = hour_of[minute] = floor_hour(minute)
        h = hours.get((service, hour))
        if h is None:
            hours[(service, hour)] = b.copy()
        else:
            h.merge(b)
    return hours


def quantile(q: float, latency: dict[str, int]) -> float | None:
    """The q-quantile in seconds of a cumulative histogram, interpolated linearly within the bucket
    as Prometheus' histogram_quantile does; None without observations, the highest finite bound
    when the quantile falls in the +Inf bucket."""
    bounds = sorted(((float(k), c) for k, c in latency.items()), key=lambda kv: kv[0])
    if not bounds or bounds[-1][1] == 0:
        return None
    rank = q * bounds[-1][1]
    prev_le, prev_count = 0.0, 0
    for le, count in bounds:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le
