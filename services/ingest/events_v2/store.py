"""Ingest's PostgreSQL, for the Events v2 endpoint only, and the integration keys in memory.

Ingest's first job, the Alertmanager webhook, needs no database. So the skeleton does not own this
pool (a service with a schema cannot start, and is not ready, without PostgreSQL): this loop connects
in the background, applies ingest's migrations, loads the keys in use and keeps them current —
reloaded on every NOTIFY of a key change (any replica's) and at least every `refresh_s` — so a
revoked key stops working within a second (at worst `refresh_s`) everywhere, while each event is
looked up in a dict. Until the first load, and while PostgreSQL is away, `/v2/enqueue` answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
import structlog
from prometheus_client import Gauge

from services.ingest.events_v2 import repository as repo
from services.ingest.events_v2.keys import IntegrationKey, digest
from shared.clock import Clock
from shared.db import create_pool, migrate
from shared.metrics import own_registry

log = structlog.get_logger("vigil.ingest")

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
PRUNE_EVERY_S = 3600.0
METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
KEYS = Gauge("vigil_ingest_integration_keys", "Integration keys in use, as this replica last loaded them",
             registry=METRICS)
STORE_UP = Gauge("vigil_ingest_events_v2_store_up", "1 while ingest's PostgreSQL is reachable and its keys loaded",
                 registry=METRICS)


class KeyStore:
    def __init__(self, database_url: str, *, clock: Clock, refresh_s: float, retention: timedelta) -> None:
        self._database_url = database_url
        self._clock = clock
        self._refresh_s = refresh_s
        self._retention = retention
        self.pool: asyncpg.Pool | None = None
        self._keys: dict[bytes, IntegrationKey] = {}
        self.loaded = False  # the keys were read at least once: lookups mean something
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._pruned_at = 0.0

    def lookup(self, routing_key: str) -> IntegrationKey | None:
        return self._keys.get(digest(routing_key))

    @property
    def ready(self) -> bool:
        return self.loaded and self.pool is not None

    def keys_changed(self) -> None:
        """Reload the keys now (this process changed one; NOTIFY tells the other replicas)."""
        self._changed.set()

    async def reload(self) -> None:
        async with self.pool.acquire() as conn:
            self._keys = await repo.active_keys(conn)
        self.loaded = True
        KEYS.set(len(self._keys))

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def run(self) -> None:
        """Connect, migrate, then keep the keys current until stopped; never dies of PostgreSQL."""
        failures = 0
        while not self._stopping.is_set():
            try:
                if self.pool is None:
                    self.pool = await create_pool(self._database_url, min_size=1, max_size=10)
                    async with self.pool.acquire() as conn:
                        await migrate(conn, schema=repo.SCHEMA, directory=MIGRATIONS)
                async with self.pool.acquire() as listener:
                    await listener.add_listener(repo.KEY_CHANNEL, self._on_notify)
                    try:
                        await self._follow()
                    finally:
                        with contextlib.suppress(Exception):
                            await listener.remove_listener(repo.KEY_CHANNEL, self._on_notify)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the webhook must not care; events v2 answers 503 meanwhile
                failures += 1
                STORE_UP.set(0)
                log.warning("events v2 store unavailable, will retry", error=repr(exc), attempt=failures,
                            exc_info=failures == 1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), min(0.2 * 2**failures, 5.0))

    def _on_notify(self, _conn, _pid, _channel, _payload: str) -> None:
        self._changed.set()

    async def _follow(self) -> None:
        while not self._stopping.is_set():
            self._changed.clear()
            await self.reload()
            STORE_UP.set(1)
            if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
                await self._prune()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._refresh_s)

    async def _prune(self) -> None:
        """Forget dedup keys resolved longer ago than the retention: a retried resolve of one is
        answered 202 and sends nothing more."""
        async with self.pool.acquire() as conn:
            pruned = await repo.prune(conn, resolved_before=self._clock() - self._retention)
        self._pruned_at = time.monotonic()
        if pruned:
            log.info("resolved dedup keys forgotten", count=pruned)
