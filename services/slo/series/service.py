"""The unit of work of series ingestion: one remote-write request or OTLP export is worked out by
the in-memory `SeriesFold` and its buckets are added in one statement; a request answered with an
error (and retried by the sender) leaves no trace.

Pipelined, so that the process decodes the next request while PostgreSQL stores this one: a batch
is prepared and committed to the fold at once (one step of the event loop: no other batch runs in
between, so series see their samples in arrival order), and its buckets are stored after the
previous batch's buckets were — together with the batches folded while it waited, in one statement.
When a store fails, its batches and every batch committed after them are reverted, newest first,
and all of them answer with an error: their increases were worked out from samples that are now
taken back, so the senders must send them again."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Container, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import Counter, Gauge

from services.slo import repository as repo
from services.slo.buckets import Bucket, BucketKey, roll_up_hours
from services.slo.series.fold import Committed, Prepared, SeriesFold, SeriesSamples
from shared.metrics import own_registry

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
SAMPLES = Counter("vigil_slo_series_samples_total", "Remote-write and OTLP samples, by what they were", ["outcome"],
                  registry=METRICS)
ACTIVE = Gauge("vigil_slo_series_active", "Series an SLO selects whose last sample is kept", registry=METRICS)
FUTURE = timedelta(minutes=5)


class EarlierBatchNotStored(ConnectionError):
    """This batch was worked out on top of (or stored together with) a batch whose buckets could not
    be stored: it is reverted with it. A ConnectionError, so the answer is the outage's 503
    (shared/http_errors.py) and the sender retries."""


@dataclass(slots=True, eq=False)  # compared by identity
class _Unstored:
    prepared: Prepared
    committed: Committed
    stored: asyncio.Future  # None once its buckets are stored; an exception when they will not be
    in_store: bool = False  # its buckets are in a statement sent to PostgreSQL


def _merged(batches: list[dict[BucketKey, Bucket]]) -> dict[BucketKey, Bucket]:
    if len(batches) == 1:
        return batches[0]
    out: dict[BucketKey, Bucket] = {}
    for buckets in batches:
        for key, bucket in buckets.items():
            mine = out.get(key)
            if mine is None:
                out[key] = bucket.copy()
            else:
                mine.merge(bucket)
    return out


class SeriesIngest:
    def __init__(self, fold: SeriesFold, *, late_window: timedelta) -> None:
        self.fold = fold
        self.late_window = late_window
        self._unstored: deque[_Unstored] = deque()  # committed to the fold, buckets not yet stored; oldest first
        self._forgot_at = time.monotonic()

    @property
    def known_keys(self) -> Container[Hashable]:
        """The keys of the series the fold tracks (each read before as labels and nothing else)."""
        return self.fold.series

    async def ingest(self, pool: asyncpg.Pool, batch: Iterable[SeriesSamples], *, labels_of: Callable[[Hashable], dict[str, str]],
                     now: datetime) -> Prepared:
        now_ms = int(now.timestamp() * 1000)
        # From here to the append: no await, so batches are prepared and committed one at a time.
        prepared = self.fold.prepare(batch, labels_of=labels_of, now_ms=now_ms, oldest_ms=int((now - self.late_window).timestamp() * 1000),
                                     future_ms=int(FUTURE.total_seconds() * 1000))
        previous = self._unstored[-1].stored if self._unstored else None
        this = _Unstored(prepared, self.fold.commit(prepared), asyncio.get_running_loop().create_future())
        self._unstored.append(this)
        if time.monotonic() - self._forgot_at >= self.fold.max_gap_ms / 1000:
            self.fold.forget_idle()  # the unstored batches' series were just touched: they stay
            self._forgot_at = time.monotonic()
        try:
            if previous is not None:
                await asyncio.shield(previous)  # stores in commit order; raises when it was not stored
            if not this.stored.done():  # not stored already with an earlier batch's group
                await self._store_group(pool)
        except BaseException as exc:
            if not this.in_store:  # a store in flight with it (or its own) answers for it when it ends
                self._revert_from(this, exc)
            raise
        ACTIVE.set(self.fold.active_series)
        for outcome, n in prepared.outcomes.items():
            SAMPLES.labels(outcome).inc(n)
        return prepared

    async def _store_group(self, pool: asyncpg.Pool) -> None:
        """Store the buckets of every unstored batch in one statement: the oldest's store is due
        (every earlier one was stored) and the later ones were folded meanwhile, waiting for it —
        under load one write (and one WAL flush) takes several requests at once."""
        group = list(self._unstored)
        for b in group:
            b.in_store = True
        buckets = _merged([b.prepared.buckets for b in group])
        try:
            if buckets:
                async with pool.acquire() as conn:
                    await repo.add_buckets_at_once(conn, minutes=buckets, hours=roll_up_hours(buckets))
        except BaseException as exc:
            self._revert_from(group[0], exc)
            raise
        for b in group:
            self._unstored.popleft()  # they are the oldest: each earlier batch left when it was stored
            b.stored.set_result(None)

    def _revert_from(self, failed: _Unstored, exc: BaseException) -> None:
        """Revert `failed` and every batch committed after it, newest first; each of them fails."""
        if failed not in self._unstored:
            return  # reverted already, with an earlier batch
        while self._unstored:
            last = self._unstored.pop()
            self.fold.revert(last.committed)
            if not last.stored.done():  # what the batch after it sees: retry (whatever this one's own answer)
                last.stored.set_exception(EarlierBatchNotStored(f"a batch stored with or before this one could not be stored "
                                                                f"({type(exc).__name__}); send this one again"))
                last.stored.exception()  # retrieved: the newest has nobody waiting, and must not log "never retrieved"
            if last is failed:
                break
        ACTIVE.set(self.fold.active_series)
