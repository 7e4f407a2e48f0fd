"""The heartbeat checker, a time-driven loop like the escalator's ticker: it claims monitors whose
deadline (`due_at`) passed with `FOR UPDATE SKIP LOCKED` in small batches (so replicas never fire one
deadline twice), fires them (`states.check`: down, alert into the outbox) in the claiming
transaction, and sleeps until the next deadline — woken early by NOTIFY when a ping or an edit moved
one close. A monitor fires at or after its deadline, never before; lateness (fired − due) is a
histogram. After downtime each overdue monitor fires once, oldest first. A tick that fails or
overruns its deadline is logged and retried; it never kills the loop."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Counter, Histogram

from services.ingest.heartbeats import repository as repo
from services.ingest.heartbeats import states
from services.ingest.heartbeats.service import carry_out
from shared.clock import Clock
from shared.metrics import own_registry

log = structlog.get_logger("vigil.ingest.heartbeats")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
LATENESS = Histogram(
    "vigil_ingest_heartbeat_check_lateness_seconds", "Time from a monitor's deadline to when the checker fired its alert",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300), registry=METRICS,
)
FIRED = Counter("vigil_ingest_heartbeat_alerts_fired_total", "Heartbeat alerts fired by the checker (missed deadlines)",
                registry=METRICS)
# Rows due but locked by another replica's tick: look again soon, without spinning.
BUSY_WAIT_S = 0.02


class Checker:
    def __init__(self, pool: asyncpg.Pool, *, clock: Clock, ce_source: str, batch: int, max_idle_s: float,
                 tick_timeout_s: float, notify_within: timedelta) -> None:
        self._pool = pool
        self._clock = clock
        self._ce_source = ce_source
        self._batch = batch
        self._max_idle_s = max_idle_s
        self._tick_timeout_s = tick_timeout_s
        self._notify_within = notify_within
        self._wake = asyncio.Event()
        self._wake_at: datetime | None = None  # when the sleeping loop looks next (clock time); None: awake
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look at the clock and the deadlines now."""
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
            except Exception as exc:
                failures += 1
                log.warning("heartbeat checker failed, will retry", error=repr(exc), attempt=failures,
                            exc_info=failures == 1 and not isinstance(exc, (OSError, asyncpg.PostgresError,
                                                                            asyncpg.InterfaceError)))
                await self._sleep(min(0.2 * 2**failures, 5.0))

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        """A deadline moved to `payload`: wake up unless already asleep until before it."""
        due = None
        if payload:
            with contextlib.suppress(ValueError):
                due = datetime.fromisoformat(payload)
        if due is not None and self._wake_at is not None and due >= self._wake_at:
            return
        self._wake.set()

    async def _loop(self, conn: asyncpg.Connection) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            fired = await self.tick()
            if fired >= self._batch:
                continue  # more may be due
            async with asyncio.timeout(self._tick_timeout_s):
                next_due = await repo.next_due(conn)
            delay = self._max_idle_s
            if next_due is not None:
                delay = min(max((next_due - self._clock()).total_seconds(), 0.0), self._max_idle_s)
                if delay == 0.0 and fired == 0:
                    delay = BUSY_WAIT_S  # due, yet nothing claimed: another replica holds it now
            if delay > 0:
                # No await between here and the wait: a notification either sees this wake-up time
                # or (None, while ticking) always wakes the loop.
                self._wake_at = self._clock() + timedelta(seconds=delay)
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                finally:
                    self._wake_at = None

    async def tick(self) -> int:
        """Fire every monitor due now (up to one batch) in one transaction; returns how many."""
        deadline = asyncio.timeout(self._tick_timeout_s)
        try:
            async with deadline:
                return await self._fire_due()
        except Exception as exc:
            if deadline.expired():
                log.error("heartbeat tick overran its deadline; its monitors fire on the next tick",
                          timeout_s=self._tick_timeout_s, error=repr(exc))
            elif isinstance(exc, (asyncpg.PostgresError, OSError)):
                log.error("heartbeat tick failed; its monitors fire on the next tick", error=str(exc))
            else:
                raise
            await self._sleep(0.5)
            return 0

    async def _fire_due(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            now = self._clock()
            claimed = [repo.monitor_of(row) for row in await repo.claim_due(conn, now=now, limit=self._batch)]
            if not claimed:
                return 0
            changes = [(monitor, states.check(monitor, now)) for monitor in claimed]
            await carry_out(conn, changes, now=now, ce_source=self._ce_source, notify_within=self._notify_within)
        fired = [(before, decision) for before, decision in changes if decision.alerts]
        committed = self._clock()  # fired: the alerts are committed (the outbox relays them)
        for before, _ in fired:
            LATENESS.observe((committed - before.due_at).total_seconds())
        FIRED.inc(len(fired))
        if fired:
            log.info("heartbeat alerts fired", count=len(fired),
                     monitors=[before.name for before, _ in fired[:10]],
                     most_late_s=round(max((committed - b.due_at).total_seconds() for b, _ in fired), 3))
        return len(claimed)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
