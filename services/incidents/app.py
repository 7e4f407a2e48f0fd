"""The composition root of the incident service: nothing is created at import time."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.incidents import open_gauge, repository, routes
from services.incidents.config import IncidentsSettings
from services.incidents.consumer import consumer_loops
from services.incidents.ops import record_routes, report_routes, routes as ops_routes, service as ops_service
from services.incidents.ops.peers import Peers
from services.incidents.service import OnResolved
from shared.clock import Clock, utc_now
from shared.db import create_pool, migrate
from shared.events import Topic
from shared.kafka import EventProducer
from shared.http_errors import install_error_handlers
from shared.observability import configure_tracing, health_router
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundWork, freeze_startup_heap

MIGRATIONS = Path(__file__).parent / "migrations"
CE_SOURCE = "/vigil/incidents"
TOPICS = [Topic.INCIDENTS, Topic.ALERTS, Topic.PAGES, Topic.TICKETS]


@dataclass
class IncidentsContext:
    pool: asyncpg.Pool
    clock: Clock
    on_resolved: OnResolved | None = None  # the core's resolve hook (consumers and routes)


def create_app(settings: IncidentsSettings, *, clock: Clock = utc_now, run_relay: bool = True) -> FastAPI:
    if not settings.database_url:
        raise ValueError("the incident service needs VIGIL_DATABASE_URL")
    configure_tracing(service_name="vigil-incidents", otlp_endpoint=settings.otlp_endpoint)
    producer = EventProducer(settings, ce_source=CE_SOURCE, ensure=[*TOPICS, *(Topic.dlq(t) for t in TOPICS)])
    state: dict = {}

    async def postgres_ok() -> bool:
        async with state["pool"].acquire() as conn:
            return await conn.fetchval("SELECT 1") == 1

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        pool = await create_pool(settings.database_url, init=repository.init_connection)
        async with pool.acquire() as conn:
            await migrate(conn, schema=repository.SCHEMA, directory=MIGRATIONS)
        ctx = IncidentsContext(pool=pool, clock=clock, on_resolved=ops_service.open_for_resolved)
        state["pool"] = pool
        producer.start()
        work = BackgroundWork()
        for loop in consumer_loops(ctx, settings, producer):
            work.start(f"consume-{loop.topic}", loop.run, loop.stop)
        if run_relay:
            # The relay's marks do not wait for their WAL flush: a PostgreSQL crash may re-send the
            # last events (consumers drop them by event id), never lose one (shared/outbox.py).
            relay = OutboxRelay(pool, schema=repository.SCHEMA, producer=producer, mark_without_flush=True)
            work.start("outbox-relay", relay.run, relay.stop)
        stopping = asyncio.Event()
        work.start("open-incidents-gauge", lambda: open_gauge.keep_fresh(pool, stopping), stopping.set)
        # What exists now (the app, its modules, settings, the pool) lives as long as the process:
        # keep it out of the garbage collector's full collections, which otherwise walk all of it
        # again and again while the consumer allocates events and rows.
        freeze_startup_heap()
        try:
            peers = Peers(
                slo_url=settings.incidents_slo_url, escalator_url=settings.incidents_escalator_url,
                ingest_url=settings.incidents_ingest_url, token=settings.incidents_peer_token,
                timeout_s=settings.incidents_peer_timeout_s,
            )
            ops = ops_service.OpsContext(
                zone=settings.incidents_report_zone, runbook_max_age_days=settings.incidents_runbook_max_age_days,
                peers=peers, checks={"kafka": producer.check, "postgres": postgres_ok},
            )
            yield {"incidents": ctx, "api_tokens": settings.token_roles(), "ops": ops}
        finally:
            await work.stop()
            await producer.stop()
            await pool.close()

    app = FastAPI(
        title="Vigil incidents",
        version="1",
        description="Incidents opened from alerts, their lifecycle and timeline; the API for incident tools.",
        lifespan=lifespan,
    )

    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(ops_routes.router)
    app.include_router(report_routes.router)
    app.include_router(record_routes.router)
    app.include_router(health_router({"kafka": producer.check, "postgres": postgres_ok}))
    return app
