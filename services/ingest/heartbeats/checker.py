"""The heartbeat checker, a time-driven loop like the escalator's ticker (`shared/due_loop.py`): it
claims monitors whose deadline (`due_at`) passed with `FOR UPDATE SKIP LOCKED` in small batches (so
replicas never fire one deadline twice), fires them (`states.check`: down, alert into the outbox) in
the claiming transaction, and sleeps until the next deadline — woken early by NOTIFY when a ping or
an edit moved one close. A monitor fires at or after its deadline, never before; lateness (fired −
due) is a histogram. After downtime each overdue monitor fires once, oldest first."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog
from prometheus_client import Counter, Histogram

from services.ingest.heartbeats import repository as repo
from services.ingest.heartbeats import states
from services.ingest.heartbeats.service import carry_out
from shared.clock import Clock
from shared.due_loop import DueLoop
from shared.metrics import own_registry

log = structlog.get_logger("vigil.ingest.heartbeats")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
LATENESS = Histogram(
    "vigil_ingest_heartbeat_check_lateness_seconds", "Time from a monitor's deadline to when the checker fired its alert",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300), registry=METRICS,
)
FIRED = Counter("vigil_ingest_heartbeat_alerts_fired_total", "Heartbeat alerts fired by the checker (missed deadlines)",
                registry=METRICS)


class Checker(DueLoop):
    channel = repo.TIMER_CHANNEL
    what = "heartbeat monitors"

    def __init__(self, pool: asyncpg.Pool, *, clock: Clock, ce_source: str, batch: int, max_idle_s: float,
                 tick_timeout_s: float) -> None:
        super().__init__(pool, clock=clock, batch=batch, max_idle_s=max_idle_s, tick_timeout_s=tick_timeout_s, log=log)
        self._ce_source = ce_source

    async def _next_due(self, conn: asyncpg.Connection) -> datetime | None:
        return await repo.next_due(conn)

    async def _fire_due(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            now = self._clock()
            claimed = [repo.monitor_of(row) for row in await repo.claim_due(conn, now=now, limit=self._batch)]
            if not claimed:
                return 0
            changes = [(monitor, states.check(monitor, now)) for monitor in claimed]
            await carry_out(conn, changes, now=now, ce_source=self._ce_source, notify_within=self.notify_within)
        fired = [before for before, decision in changes if decision.alerts]
        committed = self._clock()  # fired: the alerts are committed (the outbox relays them)
        lateness = [(committed - before.due_at).total_seconds() for before in fired]
        for late_s in lateness:
            LATENESS.observe(late_s)
        FIRED.inc(len(fired))
        if fired:
            log.info("heartbeat alerts fired", count=len(fired), monitors=[m.name for m in fired[:10]],
                     most_late_s=round(max(lateness), 3))
        return len(claimed)
