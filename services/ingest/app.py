"""The composition root of ingest: nothing is created at import time."""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest import routes
from services.ingest.config import IngestSettings
from shared.clock import Clock, utc_now
from shared.events import Topic
from shared.service import Runtime, ServiceSpec, build_app

CE_SOURCE = "/vigil/ingest"
# For the process that runs ingest (its entry point applies them: shared/runtime.tune_gc). A
# 50-alert notification allocates thousands of short-lived objects; with the default 700 the
# collector ran every few requests (docs/performance.md).
GC_THRESHOLDS = (20_000, 10, 10)

SPEC = ServiceSpec(
    name="ingest", title="Vigil ingest", ce_source=CE_SOURCE, topics=(Topic.ALERTS,),
    description="Alertmanager webhook target: alerts in, one event per alert on Kafka.",
    # FastAPI's own per-request tracing cost ~27% of the CPU of a 1-alert webhook (docs/performance.md);
    # the webhook's `ingest.produce` span still starts the trace that follows the alert through Kafka.
    request_tracing=False,
)


def create_app(settings: IngestSettings, *, clock: Clock = utc_now) -> FastAPI:
    async def start(rt: Runtime) -> dict:
        # The producer connects in the background: until then the webhook answers 503.
        return {"ingest": routes.IngestContext(settings=settings, producer=rt.producer, clock=clock)}

    app = build_app(SPEC, settings, start=start, clock=clock)
    routes.install(app)
    return app
