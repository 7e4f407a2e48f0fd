"""The composition root of the escalator: nothing is created at import time."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog
from fastapi import FastAPI

from services.escalator import repository, routes, service
from services.escalator.config import EscalatorSettings
from services.escalator.consumer import incident_events_loop
from services.escalator.incidents_client import IncidentsClient
from services.escalator.ticker import Ticker
from shared.clock import Clock, utc_now
from shared.db import create_pool, migrate
from shared.events import Topic
from shared.http_errors import install_error_handlers
from shared.kafka import EventProducer
from shared.observability import configure_tracing, health_router
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundWork

log = structlog.get_logger("vigil.escalator")
MIGRATIONS = Path(__file__).parent / "migrations"
TOPICS = [Topic.INCIDENTS, Topic.PAGES, Topic.TICKETS]


@dataclass
class EscalatorContext:
    pool: asyncpg.Pool
    clock: Clock
    store: service.ConfigStore
    ticker: Ticker
    link_base: str | None = None  # pages link to the incident there
    relay: OutboxRelay | None = None  # this process's outbox relay (the consumer wakes it while it leads)


def create_app(settings: EscalatorSettings, *, clock: Clock = utc_now, run_relay: bool = True) -> FastAPI:
    if not settings.database_url:
        raise ValueError("the escalator needs VIGIL_DATABASE_URL")
    configure_tracing(service_name="vigil-escalator", otlp_endpoint=settings.otlp_endpoint)
    producer = EventProducer(settings, ce_source=service.CE_SOURCE, ensure=[*TOPICS, *(Topic.dlq(t) for t in TOPICS)])
    state: dict = {}
    if not settings.escalator_incidents_url:
        log.warning("VIGIL_ESCALATOR_INCIDENTS_URL is not set: acknowledgement timeouts cannot re-page")

    async def postgres_ok() -> bool:
        async with state["pool"].acquire() as conn:
            return await conn.fetchval("SELECT 1") == 1

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pool = await create_pool(settings.database_url, init=repository.init_connection)
        store = service.ConfigStore()
        async with pool.acquire() as conn:
            await migrate(conn, schema=repository.SCHEMA, directory=MIGRATIONS)
            async with conn.transaction():
                await service.import_file(conn, store, settings.escalator_config_file, now=clock())
            await store.current(conn)
        incidents = IncidentsClient(settings.escalator_incidents_url, settings.escalator_incidents_token)
        link_base = settings.escalator_public_url or settings.escalator_incidents_url
        ticker = Ticker(
            pool, store=store, clock=clock, incidents=incidents, batch=settings.escalator_tick_batch,
            max_idle_s=settings.escalator_max_idle_s, incident_link=link_base,
        )
        # Pages leave without waiting for the WAL flush of their "published" mark: a PostgreSQL
        # crash may re-send the last ones (same page ids, dropped by consumers), never lose one.
        relay = OutboxRelay(pool, schema=repository.SCHEMA, producer=producer, mark_without_flush=True) if run_relay else None
        ctx = EscalatorContext(pool=pool, clock=clock, store=store, ticker=ticker, link_base=link_base, relay=relay)
        state["pool"] = pool
        app.state.escalator = ctx  # tests that move the clock call ctx.ticker.wake()
        producer.start()
        loop = incident_events_loop(ctx, settings, producer)
        work = BackgroundWork()
        work.start("consume-incidents", loop.run, loop.stop)
        work.start("ticker", ticker.run, ticker.stop)
        if relay is not None:
            work.start("outbox-relay", relay.run, relay.stop)
        try:
            yield {"escalator": ctx, "api_tokens": settings.token_roles()}
        finally:
            await work.stop()
            await incidents.close()
            await producer.stop()
            await pool.close()

    app = FastAPI(
        title="Vigil escalator",
        version="1",
        description="Escalation policies, on-call schedules and durable timers: incidents become pages and tickets.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(health_router({"kafka": producer.check, "postgres": postgres_ok}))
    return app
