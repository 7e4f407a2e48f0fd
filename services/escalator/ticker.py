"""The time-driven loop (on `shared/due_loop.py`): claims due timers with `FOR UPDATE SKIP LOCKED`
(so replicas never fire one twice), fires them (`firing`) in the claiming transaction, and sleeps
until the next due time — woken early by NOTIFY when timers are stored. A timer fires at or after
its due time, never before; lateness (fired − due) is exported as a histogram. Each tick runs under
a deadline; a tick that fails or overruns it is logged and retried, it never kills the loop. After
downtime the overdue timers fire at once, oldest first."""

from __future__ import annotations

import time
from datetime import datetime

import asyncpg
import structlog
from prometheus_client import Gauge

from services.escalator import firing, repository as repo
from services.escalator.incidents_client import IncidentsClient
from services.escalator.service import ConfigStore
from shared.clock import Clock
from shared.due_loop import DueLoop
from shared.metrics import own_registry

log = structlog.get_logger("vigil.escalator.ticker")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
PENDING = Gauge("vigil_escalator_timers_pending", "Timers waiting for their due time", registry=METRICS)


class Ticker(DueLoop):
    channel = repo.TIMER_CHANNEL
    what = "timers"

    def __init__(
        self, pool: asyncpg.Pool, *, store: ConfigStore, clock: Clock, incidents: IncidentsClient,
        batch: int = 200, max_idle_s: float = 5.0, incident_link: str | None = None, tick_timeout_s: float = 30.0,
    ) -> None:
        """`tick_timeout_s`: the deadline of one tick (claiming and firing a batch): a tick still
        running then is cancelled, its transaction rolled back, and its timers fire on a later tick."""
        super().__init__(pool, clock=clock, batch=batch, max_idle_s=max_idle_s, tick_timeout_s=tick_timeout_s, log=log)
        self._store = store
        self._incidents = incidents
        self._incident_link = incident_link
        self._gauge_at = 0.0

    def timers_stored(self, due: datetime | None) -> None:
        """Timers were stored (committed), the earliest due at `due` (None: unknown); the consumer
        calls it after a commit that did not NOTIFY (`DueLoop.due_stored`)."""
        self.due_stored(due)

    async def _next_due(self, conn: asyncpg.Connection) -> datetime | None:
        return await repo.next_due(conn)

    async def _idle(self, conn: asyncpg.Connection) -> None:
        if time.monotonic() - self._gauge_at > 1.0:
            self._gauge_at = time.monotonic()
            PENDING.set(await repo.pending_count(conn))

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
