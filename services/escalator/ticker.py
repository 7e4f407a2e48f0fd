"""The time-driven loop: claims due timers with `FOR UPDATE SKIP LOCKED` (so replicas never fire
one twice), fires them (`firing`) in the claiming transaction, and sleeps until the next due time —
woken early by NOTIFY when timers are stored. A timer fires at or after its due time, never before;
lateness (fired − due) is exported as a histogram. Each tick runs under a deadline; a tick that
fails or overruns it is logged and retried, it never kills the loop. After downtime the overdue
timers fire at once, oldest first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Gauge

from services.escalator import firing, repository as repo
from services.escalator.incidents_client import IncidentsClient
from services.escalator.service import ConfigStore
from shared.clock import Clock
from shared.metrics import own_registry

log = structlog.get_logger("vigil.escalator.ticker")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
PENDING = Gauge("vigil_escalator_timers_pending", "Timers waiting for their due time", registry=METRICS)


class Ticker:
    def __init__(
        self, pool: asyncpg.Pool, *, store: ConfigStore, clock: Clock, incidents: IncidentsClient,
        batch: int = 200, max_idle_s: float = 5.0, incident_link: str | None = None, tick_timeout_s: float = 30.0,
    ) -> None:
        """`tick_timeout_s`: the deadline of one tick (claiming and firing a batch): a tick still
        running then is cancelled, its transaction rolled back, and its timers fire on a later tick."""
        self._pool = pool
        self._store = store
        self._clock = clock
        self._incidents = incidents
        self._batch = batch
        self._max_idle_s = max_idle_s
        self._incident_link = incident_link
        self._tick_timeout_s = tick_timeout_s
        self._wake = asyncio.Event()
        self._wake_at: datetime | None = None  # when the sleeping loop looks next (clock time); None: awake
        self._stopping = asyncio.Event()
        self._gauge_at = 0.0
        # Timers due later than this need no NOTIFY: every ticker (same setting on every replica)
        # reads the next due time at least every max_idle_s, so all of them see such a timer in time.
        self.notify_within = timedelta(seconds=2 * max_idle_s)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look at the clock and the timers now (NOTIFY does this; tests moving a clock do too)."""
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                async with self._pool.acquire() as listener:
                    await listener.add_listener(repo.TIMER_CHANNEL, self._on_notify)
                    try:
                        await self._loop(listener)
                    finally:
                        with contextlib.suppress(Exception):
                            await listener.remove_listener(repo.TIMER_CHANNEL, self._on_notify)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the ticker must never die: pages depend on it
                failures += 1
                log.warning("ticker failed, will retry", error=repr(exc), attempt=failures, exc_info=failures == 1)
                await self._sleep(min(0.2 * 2**failures, 5.0))

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        """Timers were stored. The payload is the earliest due time among them (empty: unknown)."""
        due = None
        if payload:
            with contextlib.suppress(ValueError):
                due = datetime.fromisoformat(payload)
        self.timers_stored(due)

    def timers_stored(self, due: datetime | None) -> None:
        """Timers were stored (committed), the earliest due at `due` (None: unknown): when the ticker
        is asleep until before that anyway, nothing needs to change. NOTIFY calls it; so does this
        process's consumer after a commit that did not NOTIFY."""
        if due is not None and self._wake_at is not None and due >= self._wake_at:
            return
        self._wake.set()

    async def _loop(self, conn: asyncpg.Connection) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            fired = await self.tick()
            if fired >= self._batch:
                continue  # more may be due
            # Under the same deadline: a listener connection that stops answering is replaced (`run`).
            async with asyncio.timeout(self._tick_timeout_s):
                next_due = await repo.next_due(conn)
                if time.monotonic() - self._gauge_at > 1.0:
                    self._gauge_at = time.monotonic()
                    PENDING.set(await repo.pending_count(conn))
            delay = self._max_idle_s
            if next_due is not None:
                delay = min(max((next_due - self._clock()).total_seconds(), 0.0), self._max_idle_s)
            if delay > 0:
                # No await between here and the wait: a notification either sees this wake-up
                # time or (None, while ticking) always wakes the loop.
                self._wake_at = self._clock() + timedelta(seconds=delay)
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                finally:
                    self._wake_at = None

    async def tick(self) -> int:
        """Fire every timer due now (up to one batch) in one transaction, within the tick's deadline;
        returns how many."""
        deadline = asyncio.timeout(self._tick_timeout_s)
        try:
            async with deadline:
                return await self._fire_due()
        except Exception as exc:
            if deadline.expired():  # TimeoutError, or whatever the cancelled work raised on its way out
                log.error("tick overran its deadline and was cancelled; its timers stay pending and fire on the "
                          "next tick", timeout_s=self._tick_timeout_s, error=repr(exc))
            elif isinstance(exc, (asyncpg.PostgresError, OSError)):
                log.error("tick failed; its timers stay pending and fire on the next tick", error=str(exc))
            else:
                raise
            await self._sleep(0.5)
            return 0

    async def _fire_due(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            now = self._clock()
            due = await repo.claim_due(conn, now=now, limit=self._batch)
            if not due:
                return 0
            config = await self._store.current(conn)
            await firing.fire_claimed(conn, due, store=self._store, config=config, now=now,
                                      link_base=self._incident_link, incidents=self._incidents)
        return len(due)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
