"""The composition root of the SLO service: nothing is created at import time."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.slo import repository, routes
from services.slo.consumer import GC_THRESHOLDS, consumer_loop, tune_gc  # noqa: F401 - GC_THRESHOLDS: for the entry point
from services.slo.ticker import Evaluator
from services.slo.config import SloSettings
from services.slo.definitions import SloDefinition
from services.slo.evaluation import EvaluatorConfig
from shared.clock import Clock, utc_now
from shared.db import create_pool, migrate
from shared.events import Topic
from shared.http_errors import install_error_handlers
from shared.kafka import EventProducer
from shared.observability import configure_tracing, health_router
from shared.outbox import OutboxRelay
from shared.runtime import BackgroundWork

MIGRATIONS = Path(__file__).parent / "migrations"
CE_SOURCE = "/vigil/slo"
TOPICS = [Topic.METRICS, Topic.ALERTS]


@dataclass
class SloContext:
    pool: asyncpg.Pool
    clock: Clock
    settings: SloSettings
    definitions: tuple[SloDefinition, ...]
    producer: EventProducer


def evaluator_config(settings: SloSettings, definitions: tuple[SloDefinition, ...]) -> EvaluatorConfig:
    return EvaluatorConfig(
        definitions=definitions, zone=settings.slo_calendar_timezone, min_events=settings.slo_min_events,
        capacity_threshold=settings.slo_capacity_threshold, capacity_weeks=settings.slo_capacity_weeks,
        capacity_lead=timedelta(days=settings.slo_capacity_lead_days), retention=timedelta(days=settings.slo_retention_days),
        late_window=timedelta(seconds=settings.slo_late_event_window_s),
    )


def create_app(
    settings: SloSettings, *, clock: Clock = utc_now, run_relay: bool = True, run_evaluator: bool = True,
) -> FastAPI:
    if not settings.database_url:
        raise ValueError("the SLO service needs VIGIL_DATABASE_URL")
    configure_tracing(service_name="vigil-slo", otlp_endpoint=settings.otlp_endpoint)
    producer = EventProducer(settings, ce_source=CE_SOURCE, ensure=[*TOPICS, *(Topic.dlq(t) for t in TOPICS)])
    definitions = settings.definitions()
    state: dict = {}

    async def postgres_ok() -> bool:
        async with state["pool"].acquire() as conn:
            return await conn.fetchval("SELECT 1") == 1

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        pool = await create_pool(settings.database_url, init=repository.init_connection)
        async with pool.acquire() as conn:
            await migrate(conn, schema=repository.SCHEMA, directory=MIGRATIONS)
        ctx = SloContext(pool=pool, clock=clock, settings=settings, definitions=definitions, producer=producer)
        state["pool"] = pool
        producer.start()
        work = BackgroundWork()
        loop = consumer_loop(ctx, settings, producer)
        tune_gc()
        work.start(f"consume-{loop.topic}", loop.run, loop.stop)
        if run_evaluator:
            evaluator = Evaluator(pool, evaluator_config(settings, definitions), clock=clock,
                                  interval_s=settings.slo_evaluate_interval_s, capacity_interval_s=settings.slo_capacity_interval_s)
            state["evaluator"] = evaluator
            work.start("slo-evaluator", evaluator.run, evaluator.stop)
        if run_relay:
            relay = OutboxRelay(pool, schema=repository.SCHEMA, producer=producer)
            work.start("outbox-relay", relay.run, relay.stop)
        try:
            yield {"slo": ctx, "api_tokens": settings.token_roles()}
        finally:
            await work.stop()
            await producer.stop()
            await pool.close()

    app = FastAPI(
        title="Vigil SLO",
        version="1",
        description="Error budgets kept from the metrics stream, burn-rate alerts, capacity forecasts.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(health_router({"kafka": producer.check, "postgres": postgres_ok}))
    return app
