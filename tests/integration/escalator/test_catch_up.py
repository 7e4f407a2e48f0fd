"""Catch-up after downtime on the real PostgreSQL: an incident nobody acknowledged while the
escalator could not act (its clock jumps two hours between ticks) gets one late page per role, each
saying how late it is, instead of every missed step and repeat at once; the skipped timers say why."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.escalator import repository as repo, service
from services.escalator.app import MIGRATIONS
from services.escalator.incidents_client import IncidentsClient
from services.escalator.oncall_config import load_yaml
from services.escalator.ticker import Ticker
from shared.db import migrate
from shared.events import PageRequested, decode
from tests.conftest import create_database
from tests.escalator_support import CONFIG, START, incident_event

pytestmark = pytest.mark.integration


async def test_after_a_gap_each_role_gets_one_late_page_and_the_missed_steps_are_skipped(postgres_server):
    pool = await asyncpg.create_pool(create_database(postgres_server), min_size=1, max_size=3, init=repo.init_connection)
    store = service.ConfigStore()
    async with pool.acquire() as conn:
        await migrate(conn, schema=repo.SCHEMA, directory=MIGRATIONS)
        async with conn.transaction():
            await store.store(conn, load_yaml(CONFIG), source="file", by="test", now=START)
            await service.apply_incident_event(conn, incident_event(42, kind="opened", version=1, at=START),
                                               store=store, now=START)
    now = [START]
    ticker = Ticker(pool, store=store, clock=lambda: now[0], incidents=IncidentsClient(None, None), batch=2)
    try:
        assert await ticker.tick() == 1  # the initial page, on time
        planned = await pool.fetch("SELECT * FROM escalator.timer WHERE action = 'page' AND state = 'pending' "
                                   "AND due_at <= $1", START + timedelta(hours=2))
        assert len(planned) >= 4, "the SEV1 policy should have escalations and repeats due within two hours"
        now[0] = START + timedelta(hours=2)  # the escalator was down meanwhile
        while await ticker.tick():  # batch=2: the catch-up must see past one claim's batch
            pass
        pages = await pool.fetch("SELECT * FROM escalator.page ORDER BY sent_at, page_id")
        late = [p for p in pages if p["sent_at"] == now[0]]
        assert sorted((p["target"], p["role"]) for p in late) == [("bob", "primary"), ("dave", "backup")]
        payloads = [decode(PageRequested, row["value"]) for row in await pool.fetch(
            "SELECT value FROM escalator.outbox WHERE topic LIKE '%pages%'")]
        notes = {p.target: p.late for p in payloads if p.occurred_at == now[0]}
        assert all(note and " late (Vigil could not page at " in note for note in notes.values()), notes
        skipped = await pool.fetch("SELECT outcome FROM escalator.timer WHERE state = 'cancelled'")
        assert len(skipped) == len(planned) - 2
        assert all(row["outcome"].startswith("skipped on catch-up: due ") for row in skipped)
        assert await pool.fetchval("SELECT count(*) FROM escalator.timer WHERE state = 'pending' AND due_at <= $1",
                                   now[0]) == 0
    finally:
        await pool.close()


async def test_every_alert_resolving_closes_the_pending_pages_and_says_why(postgres_server):
    pool = await asyncpg.create_pool(create_database(postgres_server), min_size=1, max_size=2, init=repo.init_connection)
    store = service.ConfigStore()
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema=repo.SCHEMA, directory=MIGRATIONS)
            async with conn.transaction():
                await store.store(conn, load_yaml(CONFIG), source="file", by="test", now=START)
                await service.apply_incident_event(conn, incident_event(43, kind="opened", version=1, at=START),
                                                   store=store, now=START)
            quiet = incident_event(43, kind="alerts_resolved", version=2, at=START, status="mitigating")
            async with conn.transaction():
                applied = await service.apply_incident_event(conn, quiet, store=store, now=START + timedelta(minutes=2))
        assert applied.outcome.startswith("every alert resolved: escalation stopped")
        rows = await pool.fetch("SELECT state, outcome FROM escalator.timer WHERE incident_id = 43 AND due_at > $1",
                                START + timedelta(minutes=2))
        assert rows and {r["state"] for r in rows} == {"cancelled"}
        assert all("every alert resolved" in r["outcome"] for r in rows)
    finally:
        await pool.close()
