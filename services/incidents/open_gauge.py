"""`vigil_incidents_open{severity}`: open incidents per SEV, for dashboards and alerts. Refreshed
from the database every few seconds by each replica (a dashboard takes the max), so it is right
whoever changed the incidents — consumer, API or another replica."""

from __future__ import annotations

import asyncpg
from prometheus_client import Gauge
from shared.metrics import own_registry

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
OPEN = Gauge("vigil_incidents_open", "Incidents not resolved, by SEV (1 = SEV1)", ["severity"], registry=METRICS)
OPEN_BY_SEVERITY = "SELECT severity, count(*) AS n FROM incidents.incident WHERE status <> 'resolved' GROUP BY severity"


async def refresh(conn: asyncpg.Connection) -> None:
    counts = {r["severity"]: r["n"] for r in await conn.fetch(OPEN_BY_SEVERITY)}
    for sev in (1, 2, 3, 4):
        OPEN.labels(str(sev)).set(counts.get(sev, 0))


async def refresh_from(pool: asyncpg.Pool) -> None:
    """One refresh: the service runs it every few seconds under a deadline (shared/supervision.py)."""
    async with pool.acquire() as conn:
        await refresh(conn)
