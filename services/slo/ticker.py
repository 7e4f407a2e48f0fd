"""The evaluator's time-driven loop: every interval, if this replica holds the evaluator's lock
(one replica evaluates at a time), evaluate every SLO of every service, now and then the capacity
forecasts and the pruning (the units of work are in `service`). Each tick runs under a deadline; a
tick that fails or overruns it is logged and retried at the next one, and never ends the loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib

import asyncpg
import structlog
from prometheus_client import Histogram

from services.slo import repository as repo, service
from services.slo.evaluation import EvaluatorConfig
from services.slo.window_cache import LongWindowCache
from shared.metrics import own_registry

log = structlog.get_logger("vigil.slo.evaluator")
LOCK_KEY = zlib.crc32(b"vigil-slo-evaluator")
# A tick of 4,000 SLOs takes 0.6-1.2 s; one still running after a minute is stuck (a hung query).
TICK_TIMEOUT_S = 60.0
PRUNE_INTERVAL_S = 3600

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
EVALUATION_SECONDS = Histogram(
    "vigil_slo_evaluation_seconds", "Time to evaluate every SLO of every service once",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=METRICS,
)


class TickOverran(TimeoutError):
    """A tick still running at its deadline: cut short, retried at the next interval."""


class Evaluator:
    def __init__(self, pool: asyncpg.Pool, cfg: EvaluatorConfig, *, clock, interval_s: float, capacity_interval_s: float = 600,
                 tick_timeout_s: float = TICK_TIMEOUT_S) -> None:
        self._pool, self._cfg, self._clock = pool, cfg, clock
        self._interval_s, self._capacity_interval_s, self._tick_timeout_s = interval_s, capacity_interval_s, tick_timeout_s
        self._stopping = asyncio.Event()
        self._last_capacity = self._last_prune = float("-inf")
        self._cache = LongWindowCache()

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> bool:
        """One evaluation if this replica holds the lock; False if another one does. Raises
        TickOverran when the work runs past the deadline (the lock is released all the same)."""
        async with self._pool.acquire() as lock_conn:
            if not await repo.try_lock(lock_conn, LOCK_KEY):
                return False
            try:
                async with asyncio.timeout(self._tick_timeout_s) as deadline:
                    await self._evaluate()
                return True
            except TimeoutError as exc:
                if deadline.expired():  # not a query's own command timeout
                    raise TickOverran(f"the tick ran past its deadline of {self._tick_timeout_s:g} s") from exc
                raise
            finally:
                await repo.unlock(lock_conn, LOCK_KEY)

    async def _evaluate(self) -> None:
        now = self._clock()
        started = time.perf_counter()
        evaluations = await service.evaluate_slos(self._pool, self._cfg, now, self._cache)
        EVALUATION_SECONDS.observe(time.perf_counter() - started)
        if time.monotonic() - self._last_capacity >= self._capacity_interval_s:
            await service.evaluate_capacity(self._pool, self._cfg, now)
            self._last_capacity = time.monotonic()
        if time.monotonic() - self._last_prune >= PRUNE_INTERVAL_S:
            await service.prune(self._pool, self._cfg, now)
            self._last_prune = time.monotonic()
        log.debug("slos evaluated", slos=len(evaluations), seconds=round(time.perf_counter() - started, 3))

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed tick is retried at the next one
                # A tick cut short may have left the kept sums half-updated: the next one reads in full.
                self._cache = LongWindowCache()
                if isinstance(exc, TickOverran):
                    log.error("slo evaluation overran its deadline and was cut off; it runs again next interval",
                              timeout_s=self._tick_timeout_s)
                else:
                    log.error("slo evaluation failed", error=repr(exc), exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)
