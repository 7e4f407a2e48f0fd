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
        for b in event.latency_buckets:
            key = bucket_key(b.le)
            self.latency[key] = self.latency.get(key, 0) + b.count
        for resource in RESOURCES:
            value = getattr(event.utilisation, resource)
            if value is not None:
                self.utilisation_sum[resource] = self.utilisation_sum.get(resource, 0.0) + value
                self.utilisation_samples[resource] = self.utilisation_samples.get(resource, 0) + 1


BucketKey = tuple[str, datetime]  # (service, minute or hour start in UTC)


def fold(events: Iterable[MetricsEvent], *, seen: set[str] | None = None) -> dict[BucketKey, Bucket]:
    """Per-minute buckets of `events`, skipping ids in `seen` and repeats (`seen` is updated)."""
    seen = set() if seen is None else seen
    buckets: dict[BucketKey, Bucket] = {}
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        key = (event.service, floor_minute(event.interval_start))
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = Bucket()
        bucket.add(event)
    return buckets


def roll_up_hours(minutes: dict[BucketKey, Bucket]) -> dict[BucketKey, Bucket]:
    """The hour buckets that the minute buckets add to."""
    hours: dict[BucketKey, Bucket] = {}
    for (service, minute), b in minutes.items():
        h = hours.setdefault((service, floor_hour(minute)), Bucket())
        h.requests += b.requests
        h.errors += b.errors
        h.events += b.events
        for k, v in b.latency.items():
            h.latency[k] = h.latency.get(k, 0) + v
        for k, v in b.utilisation_sum.items():
            h.utilisation_sum[k] = h.utilisation_sum.get(k, 0.0) + v
        for k, v in b.utilisation_samples.items():
            h.utilisation_samples[k] = h.utilisation_samples.get(k, 0) + v
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
