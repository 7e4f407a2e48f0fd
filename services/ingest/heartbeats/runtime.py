"""What ingest runs for its heartbeats: once ingest's database is there (events_v2/store.py owns the
pool and applies the migrations), the outbox relay of the `ingest` schema and the checker, until
ingest stops."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from services.ingest.events_v2.store import KeyStore
from services.ingest.heartbeats.checker import Checker
from services.ingest.heartbeats.service import SCHEMA
from shared.clock import Clock
from shared.kafka import EventProducer
from shared.outbox import OutboxRelay

log = structlog.get_logger("vigil.ingest.heartbeats")


class Heartbeats:
    """The checker and the outbox relay of ingest's heartbeats, started once the database is there."""

    def __init__(self, store: KeyStore, *, producer: EventProducer, clock: Clock, ce_source: str, batch: int,
                 max_idle_s: float, tick_timeout_s: float) -> None:
        self.store = store
        self.clock = clock
        self.ce_source = ce_source
        self._producer = producer
        self._batch = batch
        self._max_idle_s = max_idle_s
        self._tick_timeout_s = tick_timeout_s
        self.checker: Checker | None = None
        self.relay: OutboxRelay | None = None
        self._stopping = asyncio.Event()
        # As the checker's (shared/due_loop.py): a deadline sooner than this needs its NOTIFY.
        self.notify_within = timedelta(seconds=2 * max_idle_s)

    @property
    def ready(self) -> bool:
        return self.store.ready

    def stop(self) -> None:
        self._stopping.set()
        for part in (self.checker, self.relay):
            if part is not None:
                part.stop()

    async def run(self) -> None:
        while not self.store.ready:  # the store connects and migrates in the background
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.2)
            if self._stopping.is_set():
                return
        pool = self.store.pool
        self.relay = OutboxRelay(pool, schema=SCHEMA, producer=self._producer, poll_interval_s=0.5)
        self.checker = Checker(pool, clock=self.clock, ce_source=self.ce_source, batch=self._batch,
                               max_idle_s=self._max_idle_s, tick_timeout_s=self._tick_timeout_s)
        if self._stopping.is_set():
            return
        log.info("heartbeat checker and outbox relay started")
        await asyncio.gather(self.relay.run(), self.checker.run())
