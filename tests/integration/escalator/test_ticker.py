"""The ticker's loop on the real PostgreSQL: a tick that overruns its deadline is cancelled, logged
as an error naming the deadline, and the loop goes on; the timer the stuck tick had claimed stays
pending and fires on the next tick, its page logged with the incident's INC-<n>."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.escalator import repository as repo, service
from services.escalator.app import MIGRATIONS
from services.escalator.incidents_client import IncidentsClient
from services.escalator.oncall_config import load_yaml
from services.escalator.ticker import Ticker
from shared.db import migrate
from tests.conftest import create_database
from tests.escalator_support import CONFIG, START, incident_event

pytestmark = pytest.mark.integration


class FirstTickHangs(Ticker):
    """Its first tick claims the due timers and then hangs (as on a lock wait or a peer that never
    answers); the later ticks are the real ones."""

    ticks = 0
    claimed: list = []

    async def _fire_due(self) -> int:
        self.ticks += 1
        if self.ticks == 1:
            async with self._pool.acquire() as conn, conn.transaction():
                self.claimed = await repo.claim_due(conn, now=self._clock(), limit=10)
                await asyncio.sleep(3600)
        return await super()._fire_due()


async def test_a_stuck_tick_is_cut_off_at_its_deadline_and_the_loop_goes_on(postgres_server):
    pool = await asyncpg.create_pool(create_database(postgres_server), min_size=1, max_size=3, init=repo.init_connection)
    store = service.ConfigStore()
    async with pool.acquire() as conn:
        await migrate(conn, schema=repo.SCHEMA, directory=MIGRATIONS)
        async with conn.transaction():
            await store.store(conn, load_yaml(CONFIG), source="file", by="test", now=START)
            # Planned, not fired: the first page is due now and left to the ticker.
            applied = await service.apply_incident_event(conn, incident_event(42, kind="opened", version=1, at=START),
                                                         store=store, now=START)
    assert len(applied.due_now) == 1
    ticker = FirstTickHangs(pool, store=store, clock=lambda: START, incidents=IncidentsClient(None, None),
                            max_idle_s=0.05, tick_timeout_s=0.3)
    with capture_logs() as logs:
        task = asyncio.create_task(ticker.run())
        try:
            until = time.monotonic() + 15
            while not await pool.fetchval("SELECT count(*) FROM escalator.page") and time.monotonic() < until:
                await asyncio.sleep(0.02)
            assert not task.done(), "the loop died"
        finally:
            ticker.stop()
            await asyncio.wait_for(task, 10)
    await pool.close()
    assert [t["id"] for t in ticker.claimed] == applied.due_now  # the stuck tick held the timer
    assert ticker.ticks >= 2
    overran = [e for e in logs if e["event"].startswith("tick overran its deadline")]
    assert [(e["log_level"], e["timeout_s"]) for e in overran] == [("error", 0.3)]
    pages = [e for e in logs if e["event"] == "page sent"]
    assert [(e["incident_id"], e["person"], e["step"]) for e in pages] == [("INC-42", "bob", 0)]
    fired = [e for e in logs if e["event"] == "timer fired"]
    assert [(e["incident_id"], e["outcome"]) for e in fired] == [("INC-42", "paged bob (initial)")]
