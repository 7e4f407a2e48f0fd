"""The composition root of ingest: nothing is created at import time."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.ingest import routes
from services.ingest.config import IngestSettings
from shared.clock import Clock, utc_now
from shared.events import Topic
from shared.kafka import EventProducer
from shared.observability import configure_tracing, health_router
from shared.runtime import freeze_startup_heap

CE_SOURCE = "/vigil/ingest"
GC_GEN0_THRESHOLD = 20_000


def create_app(settings: IngestSettings, *, clock: Clock = utc_now) -> FastAPI:
    configure_tracing(service_name="vigil-ingest", otlp_endpoint=settings.otlp_endpoint)
    producer = EventProducer(settings, ce_source=CE_SOURCE, ensure=[Topic.ALERTS, Topic.dlq(Topic.ALERTS)])

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        producer.start()  # connects in the background: until then the webhook answers 503
        # A 50-alert notification allocates thousands of short-lived objects; without this the
        # collector walked the whole start-up heap every few requests (docs/performance.md).
        freeze_startup_heap(gen0_threshold=GC_GEN0_THRESHOLD)
        try:
            yield {"ingest": routes.IngestContext(settings=settings, producer=producer, clock=clock)}
        finally:
            await producer.stop()

    app = FastAPI(
        # FastAPI's own per-request tracing cost ~27% of the CPU of a 1-alert webhook (docs/performance.md);
        # the webhook's `ingest.produce` span still starts the trace that follows the alert through Kafka.
        telemetry={"tracing": False},
        title="Vigil ingest",
        version="1",
        description="Alertmanager webhook target: alerts in, one event per alert on Kafka.",
        lifespan=lifespan,
    )
    routes.install(app)
    app.include_router(health_router({"kafka": producer.check}))
    return app
