"""The time-driven loop over durable timers in PostgreSQL, shared by the escalator's ticker and
ingest's heartbeat checker: each tick claims due rows (the subclass's `_fire_due`, with
`FOR UPDATE SKIP LOCKED`, so replicas never act twice) and acts on them in the claiming transaction;
between ticks the loop sleeps until the next due time (`_next_due`), at most `max_idle_s`, and is
woken early by a NOTIFY on `channel` whose payload is the earliest due time stored (empty: unknown).
Each tick runs under a deadline; a tick that fails or overruns it is logged and retried, it never
kills the loop; a lost listener connection is replaced."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import asyncpg

from shared.clock import Clock

# Rows are due, yet the tick claimed none: another replica holds them right now. Look again soon
# rather than at once (which would spin until that replica commits).
BUSY_WAIT_S = 0.02


class DueLoop:
    channel: str  # NOTIFY channel of "rows were stored, the earliest due at <payload>"
    what: str = "timers"  # what its log lines call the rows

    def __init__(self, pool: asyncpg.Pool, *, clock: Clock, batch: int, max_idle_s: float, tick_timeout_s: float,
                 log) -> None:
        """`tick_timeout_s`: the deadline of one tick (claiming and acting on a batch): a tick still
        running then is cancelled, its transaction rolled back, and its rows are due on a later tick."""
        self._pool = pool
        self._clock = clock
        self._batch = batch
        self._max_idle_s = max_idle_s
        self._tick_timeout_s = tick_timeout_s
        self._log = log
        self._wake = asyncio.Event()
        self._wake_at: datetime | None = None  # when the sleeping loop looks next (clock time); None: awake
        self._stopping = asyncio.Event()
        # Rows due later than this need no NOTIFY: every loop (same setting on every replica) reads
        # the next due time at least every max_idle_s, so all of them see such a row in time.
        self.notify_within = timedelta(seconds=2 * max_idle_s)

    async def _fire_due(self) -> int:
        """Claim the rows due now (at most one batch) and act on them in one transaction; how many."""
        raise NotImplementedError

    async def _next_due(self, conn: asyncpg.Connection) -> datetime | None:
        raise NotImplementedError

    async def _idle(self, conn: asyncpg.Connection) -> None:
        """Before sleeping, under the tick's deadline (the escalator refreshes a gauge)."""

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look at the clock and the due rows now (tests that move a clock call it)."""
        self._wake.set()

    def due_stored(self, due: datetime | None) -> None:
        """Rows were stored (committed), the earliest due at `due` (None: unknown): when the loop is
        asleep until before that anyway, nothing needs to change. NOTIFY calls it; so does a writer in
        this process after a commit that did not NOTIFY."""
        if due is not None and self._wake_at is not None and due >= self._wake_at:
            return
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                async with self._pool.acquire() as listener:
                    await listener.add_listener(self.channel, self._on_notify)
                    try:
                        await self._loop(listener)
                    finally:
                        with contextlib.suppress(Exception):
                            await listener.remove_listener(self.channel, self._on_notify)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must never die: pages and alerts depend on it
                failures += 1
                self._log.warning(f"{self.what} loop failed, will retry", error=repr(exc), attempt=failures,
                                  exc_info=failures == 1)
                await self._sleep(min(0.2 * 2**failures, 5.0))

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        due = None
        if payload:
            with contextlib.suppress(ValueError):
                due = datetime.fromisoformat(payload)
        self.due_stored(due)

    async def _loop(self, conn: asyncpg.Connection) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            fired = await self.tick()
            if fired >= self._batch:
                continue  # more may be due
            # Under the same deadline: a listener connection that stops answering is replaced (`run`).
            async with asyncio.timeout(self._tick_timeout_s):
                next_due = await self._next_due(conn)
                await self._idle(conn)
            delay = self._max_idle_s
            if next_due is not None:
                delay = min(max((next_due - self._clock()).total_seconds(), 0.0), self._max_idle_s)
                if delay == 0.0 and fired == 0:
                    delay = BUSY_WAIT_S
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
        """Act on every row due now (up to one batch) in one transaction, within the tick's deadline;
        returns how many."""
        deadline = asyncio.timeout(self._tick_timeout_s)
        try:
            async with deadline:
                return await self._fire_due()
        except Exception as exc:
            if deadline.expired():  # TimeoutError, or whatever the cancelled work raised on its way out
                self._log.error(f"tick overran its deadline and was cancelled; its {self.what} stay pending and fire on "
                                "the next tick", timeout_s=self._tick_timeout_s, error=repr(exc))
            elif isinstance(exc, (asyncpg.PostgresError, OSError)):
                self._log.error(f"tick failed; its {self.what} stay pending and fire on the next tick", error=str(exc))
            else:
                raise
            await self._sleep(0.5)
            return 0

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
