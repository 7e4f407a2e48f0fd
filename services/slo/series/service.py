"""The unit of work of series ingestion: one remote-write request or OTLP export is worked out by
the in-memory `SeriesFold`, its buckets are added in one transaction, and only then does the fold
keep the batch's last samples — so a request answered with an error (and retried by the sender)
leaves no trace. One batch at a time: a series' samples must be compared in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import Counter, Gauge

from services.slo import repository as repo
from services.slo.buckets import roll_up_hours
from services.slo.series.fold import Prepared, SeriesFold, SeriesSamples
from shared.metrics import own_registry

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
SAMPLES = Counter("vigil_slo_series_samples_total", "Remote-write and OTLP samples, by what they were", ["outcome"],
                  registry=METRICS)
ACTIVE = Gauge("vigil_slo_series_active", "Series an SLO selects whose last sample is kept", registry=METRICS)
FUTURE = timedelta(minutes=5)


class SeriesIngest:
    def __init__(self, fold: SeriesFold, *, late_window: timedelta) -> None:
        self.fold = fold
        self.late_window = late_window
        self.lock = asyncio.Lock()
        self._forgot_at = time.monotonic()

    async def ingest(self, pool: asyncpg.Pool, batch: Iterable[SeriesSamples], *, labels_of: Callable[[Hashable], dict[str, str]],
                     now: datetime) -> Prepared:
        now_ms = int(now.timestamp() * 1000)
        async with self.lock:
            prepared = self.fold.prepare(batch, labels_of=labels_of, now_ms=now_ms, oldest_ms=int((now - self.late_window).timestamp() * 1000),
                                         future_ms=int(FUTURE.total_seconds() * 1000))
            if prepared.buckets:
                async with pool.acquire() as conn:
                    await repo.add_buckets_at_once(conn, minutes=prepared.buckets, hours=roll_up_hours(prepared.buckets))
            self.fold.commit(prepared)
            if time.monotonic() - self._forgot_at >= self.fold.max_gap_ms / 1000:
                self.fold.forget_idle()
                self._forgot_at = time.monotonic()
            ACTIVE.set(self.fold.active_series)
        for outcome, n in prepared.outcomes.items():
            SAMPLES.labels(outcome).inc(n)
        return prepared
