"""Series ingestion pipelined against the real PostgreSQL: batches are folded while an earlier
batch's buckets are being stored; when that store fails, it and every batch folded on top of it
fail and leave no trace, so the sender's retries count each increase exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.slo import repository as repo
from services.slo.app import MIGRATIONS
from services.slo.definitions_file import parse_definitions
from services.slo.series import remote_write
from services.slo.series.feeds import feeds_of
from services.slo.series.fold import SeriesFold
from services.slo.series.service import EarlierBatchNotStored, SeriesIngest
from shared.db import create_pool, migrate

pytestmark = pytest.mark.integration
CONFIG = """
slos:
  - {{name: availability, title: Availability, service: {service}, indicator: success_ratio, target: 0.99,
     total: 'requests_total{{job="{service}"}}', bad: 'requests_total{{job="{service}",code="500"}}'}}
"""


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, init=repo.init_connection, max_size=3)
    async with pool.acquire() as conn:
        await migrate(conn, schema=repo.SCHEMA, directory=MIGRATIONS)
    yield pool
    await pool.close()


def new_ingest() -> tuple[str, SeriesIngest]:
    service = f"pipelined-{uuid.uuid4().hex[:6]}"
    return service, SeriesIngest(SeriesFold(feeds_of(parse_definitions(CONFIG.format(service=service)))), late_window=timedelta(hours=1))


def scrape(service: str, at_ms: int, n: int) -> bytes:
    """One sample per series: the 200s count 11 per scrape (10 + 1 of the 500s' series), the 500s 1."""
    ok, bad = ({"__name__": "requests_total", "job": service, "code": code} for code in ("200", "500"))
    return remote_write.decompress(remote_write.encode_write_request([(ok, [(at_ms, 10.0 * n)]), (bad, [(at_ms, 1.0 * n)])]),
                                   max_bytes=1 << 20)


async def send(ingest: SeriesIngest, pool, data: bytes) -> None:
    await ingest.ingest(pool, remote_write.series(data, ingest.known_keys), labels_of=remote_write.labels_of, now=datetime.now(UTC))


async def stored(pool, service: str) -> tuple[int, int]:
    row = await pool.fetchrow("SELECT coalesce(sum(requests), 0) AS r, coalesce(sum(errors), 0) AS e FROM slo.minute_bucket "
                              "WHERE service = $1", service)
    return row["r"], row["e"]


async def test_a_failed_store_fails_the_batches_folded_on_top_of_it_and_their_retries_count_once(pool, database_url):
    service, ingest = new_ingest()
    t0 = (int(time.time() * 1000) // 60_000 - 5) * 60_000 + 1000
    scrapes = [scrape(service, t0 + n * 15_000, n) for n in range(4)]
    await send(ingest, pool, scrapes[0])  # the baselines: nothing to store
    locker = await asyncpg.connect(database_url)
    try:
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE slo.minute_bucket IN ACCESS EXCLUSIVE MODE")
        first = asyncio.create_task(send(ingest, pool, scrapes[1]))
        pid = None
        while pid is None:  # the first batch's store waits for the lock
            await asyncio.sleep(0.05)
            pid = await locker.fetchval("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%added_minutes%'")
        later = [asyncio.create_task(send(ingest, pool, s)) for s in scrapes[2:]]
        await asyncio.sleep(0.2)
        assert not any(t.done() for t in later)  # folded, waiting for the first batch's store
        await locker.execute("SELECT pg_cancel_backend($1)", pid)
        with pytest.raises(asyncpg.QueryCanceledError):
            await first
        for task in later:
            with pytest.raises(EarlierBatchNotStored):
                await task
        await tx.rollback()
    finally:
        await locker.close()
    assert await stored(pool, service) == (0, 0)
    for s in scrapes[1:]:  # Prometheus sends them again, in order
        await send(ingest, pool, s)
    assert await stored(pool, service) == (3 * 11, 3 * 1)
    for s in scrapes:  # and again (a retry after a lost answer): duplicates, nothing more
        await send(ingest, pool, s)
    assert await stored(pool, service) == (3 * 11, 3 * 1)


async def test_batches_in_flight_together_count_every_increase_once(pool):
    service, ingest = new_ingest()
    t0 = (int(time.time() * 1000) // 60_000 - 10) * 60_000 + 1000
    await asyncio.gather(*(send(ingest, pool, scrape(service, t0 + n * 15_000, n)) for n in range(30)))
    assert await stored(pool, service) == (29 * 11, 29 * 1)
