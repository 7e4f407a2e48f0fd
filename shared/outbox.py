"""The transactional outbox: events are written to `<schema>.outbox` in the same transaction as the
change they describe, and a relay produces them to Kafka afterwards. A crash between the commit and
the produce loses nothing; a relay that dies after producing but before marking sends duplicates at
worst, which consumers drop by event id.

One relay per schema is active at a time (a Postgres advisory lock), so events leave in the order
they were written. The relay wakes on NOTIFY right after a commit and polls as a fallback.

Each round is one statement: it marks the rows the previous round produced and reads the next
pending ones (a row whose transaction committed late, with a smaller id, is still pending and read).
Until then the produced rows stay unmarked, so a relay that stops early re-sends them (duplicates,
dropped by event id), exactly as one that dies between producing and marking always could.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib

import asyncpg
import structlog
from prometheus_client import Counter, Gauge

from shared.db import ACQUIRE_TIMEOUT_S
from shared.events import Event, encode
from shared.kafka import EventProducer, Message, ProducerUnavailable, current_traceparent
from shared.metrics import PerService

log = structlog.get_logger("vigil.outbox")

# In the registry of the producer's service (shared/metrics.py).
RELAYED = PerService(lambda registry: Counter(
    "vigil_outbox_relayed_total", "Outbox events produced to Kafka", ["schema"], registry=registry))
PENDING = PerService(lambda registry: Gauge(
    "vigil_outbox_pending", "Outbox events not yet produced to Kafka", ["schema"], registry=registry))


def channel(schema: str) -> str:
    return f"{schema}_outbox"


def outbox_row(event: Event, *, ce_source: str) -> tuple:
    """The outbox row of `event` (event id, topic, key, value, headers), encoded now."""
    key, value, headers = encode(event, ce_source=ce_source, traceparent=current_traceparent())
    return (event.event_id, event.topic, key, value, json.dumps([[k, v.decode()] for k, v in headers]))


async def enqueue(conn: asyncpg.Connection, *, schema: str, event: Event, ce_source: str) -> None:
    """Write `event` to the outbox inside the caller's transaction (idempotent by event id)."""
    # One round trip: the row and the relay's wake-up (a NOTIFY is delivered when the transaction commits).
    await conn.execute(
        f"WITH stored AS (INSERT INTO {schema}.outbox (event_id, topic, key, value, headers) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (event_id) DO NOTHING) SELECT pg_notify($6, '')",
        *outbox_row(event, ce_source=ce_source), channel(schema),
    )


async def enqueue_many(conn: asyncpg.Connection, *, schema: str, rows: list[tuple]) -> None:
    """`enqueue` for many events (rows from `outbox_row`) in one statement: the rows get their ids
    (the relay's order) in the list's order, and the relay is woken once."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    await conn.execute(
        f"WITH stored AS (INSERT INTO {schema}.outbox (event_id, topic, key, value, headers) "
        "SELECT event_id, topic, key, value, headers "
        "FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[]) "
        "WITH ORDINALITY AS r(event_id, topic, key, value, headers, n) ORDER BY n "
        "ON CONFLICT (event_id) DO NOTHING) SELECT pg_notify($6, '')",
        *columns, channel(schema),
    )


# What a dependency's outage raises here; anything else is also retried, with its traceback logged.
EXPECTED_FAULTS = (ProducerUnavailable, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        schema: str,
        producer: EventProducer,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        produce_timeout_s: float = 10.0,
        round_timeout_s: float = 60.0,
        keep_published_s: float = 24 * 3600,
        mark_without_flush: bool = False,
    ) -> None:
        """`mark_without_flush`: the rounds that mark rows commit with `synchronous_commit = off`
        (the relay does not wait for that WAL flush). A PostgreSQL crash can then forget the marks of
        the last few hundred ms, and those events are produced again: more of the duplicates the
        relay may already send, never a loss (the rows themselves were committed by their writers)."""
        self._pool = pool
        self._schema = schema
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._produce_timeout_s = produce_timeout_s
        self._round_timeout_s = round_timeout_s
        self._keep_published_s = keep_published_s
        self._lock_key = zlib.crc32(f"vigil-outbox:{schema}".encode())
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_housekeeping = 0.0
        self._mark_without_flush = mark_without_flush
        self._produced: list[int] = []  # produced to Kafka, marked by the next round
        # True while this relay holds the schema's lock and listens: a writer in this process may then
        # wake it with `wake()` after its commit instead of a NOTIFY (see `wake`).
        self.leading = False
        self._select = (
            f"SELECT id, topic, key, value, headers FROM {schema}.outbox "
            "WHERE published_at IS NULL ORDER BY id LIMIT $1"
        )
        # The CTE runs to completion whatever the rest reads; the SELECT sees the rows as they were
        # before it, so the marked ids are left out explicitly.
        self._mark_and_select = (
            f"WITH marked AS (UPDATE {schema}.outbox SET published_at = now() WHERE id = ANY($2::bigint[])) "
            f"SELECT id, topic, key, value, headers FROM {schema}.outbox "
            "WHERE published_at IS NULL AND id <> ALL($2::bigint[])"
            + (" AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL" if mark_without_flush else "")
            + " ORDER BY id LIMIT $1"
        )

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Relay now: what a NOTIFY on the schema's channel does, for a writer in this process that
        committed outbox rows without one (while `leading`). Should the relay stop leading before it
        reads them, they stay pending and the next leader relays them when it takes over."""
        self._wake.set()

    async def run(self) -> None:
        """Relay until stopped; survives Kafka and Postgres outages (retries with backoff)."""
        # Start relaying once the producer first connected (it retries by itself): a round before
        # that could only fail, and its warning would mean nothing.
        connected = asyncio.ensure_future(self._producer.wait_connected())
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([connected, stopping], return_when=asyncio.FIRST_COMPLETED)
        connected.cancel()
        stopping.cancel()
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._lead_and_relay()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - pages depend on the relay: it must outlive any fault
                # Kafka or PostgreSQL gone (a restart drops the leader's connection under it: asyncpg
                # then raises InterfaceError "released back to the pool"), or anything unforeseen:
                # back off, lead again on a fresh connection, relay what is still pending.
                failures += 1
                log.warning("outbox relay failed, will retry", schema=self._schema, error=f"{type(exc).__name__}: {exc}",
                            attempt=failures, exc_info=failures == 1 and not isinstance(exc, EXPECTED_FAULTS))
                await self._sleep(min(0.2 * 2**failures, 10.0))

    async def _lead_and_relay(self) -> None:
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                await self._sleep(self._poll_interval_s * 5)  # another replica relays
                return
            await conn.add_listener(channel(self._schema), self._on_notify)
            self.leading = True
            try:
                while not self._stopping.is_set():
                    self._wake.clear()
                    async with asyncio.timeout(self._round_timeout_s):  # a hung statement or send: lead again
                        relayed = await self.relay_once(conn)
                        if relayed < self._batch_size:
                            await self._housekeeping(conn)
                    if relayed == 0:  # nothing pending and nothing left to mark
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
            finally:
                self.leading = False
                with contextlib.suppress(Exception):
                    await self.mark_produced(conn)
                try:
                    await conn.remove_listener(channel(self._schema), self._on_notify)
                    await conn.execute("SELECT pg_advisory_unlock($1)", self._lock_key)
                except Exception:  # noqa: BLE001 - a broken connection (PostgreSQL went away):
                    conn.terminate()  # the pool replaces it instead of taking it back with its listener

    def _on_notify(self, *_args) -> None:
        self._wake.set()

    async def relay_once(self, conn: asyncpg.Connection) -> int:
        """Mark what the previous round produced, produce the oldest pending events (one batch);
        returns how many were produced (they are marked by the next round or `mark_produced`)."""
        if self._produced:
            rows = await conn.fetch(self._mark_and_select, self._batch_size, self._produced)
        else:
            rows = await conn.fetch(self._select, self._batch_size)
        self._produced = []  # the statement committed: marked
        if not rows:
            return 0
        messages = [
            Message(r["topic"], r["key"], r["value"], [(k, v.encode()) for k, v in json.loads(r["headers"])])
            for r in rows
        ]
        await self._producer.publish_raw(messages, timeout_s=self._produce_timeout_s)
        self._produced = [r["id"] for r in rows]
        RELAYED.of(self._producer.service).labels(self._schema).inc(len(rows))
        return len(rows)

    async def mark_produced(self, conn: asyncpg.Connection) -> None:
        """Mark the rows produced since the last round (before stopping)."""
        if self._produced:
            await conn.execute(
                f"UPDATE {self._schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])", self._produced
            )
            self._produced = []

    async def _housekeeping(self, conn: asyncpg.Connection) -> None:
        now = time.monotonic()
        if now - self._last_housekeeping < 30:
            return
        self._last_housekeeping = now
        await conn.execute(
            f"DELETE FROM {self._schema}.outbox WHERE published_at < now() - make_interval(secs => $1)",
            self._keep_published_s,
        )
        PENDING.of(self._producer.service).labels(self._schema).set(
            await conn.fetchval(f"SELECT count(*) FROM {self._schema}.outbox WHERE published_at IS NULL")
        )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
