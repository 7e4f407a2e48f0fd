"""The composition root of ingest: nothing is created at import time."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from services.ingest import routes
from services.ingest.config import IngestSettings
from services.ingest.events_v2 import routes as events_v2
from services.ingest.events_v2.store import KeyStore
from services.ingest.heartbeats import routes as heartbeats
from services.ingest.heartbeats.runtime import Heartbeats
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
    description="Alertmanager webhook and PagerDuty Events API v2 target: alerts in, one event per alert on Kafka.",
    # FastAPI's own per-request tracing cost ~27% of the CPU of a 1-alert webhook (docs/performance.md);
    # the webhook's `ingest.produce` span still starts the trace that follows the alert through Kafka.
    request_tracing=False,
)


def create_app(settings: IngestSettings, *, clock: Clock = utc_now) -> FastAPI:
    """Ingest; with a database URL also PagerDuty Events v2 and its integration keys, and heartbeat
    monitors. The skeleton keeps no pool for ingest: the webhook must work, and ingest be ready,
    without PostgreSQL (events_v2/store.py connects in the background)."""

    async def start(rt: Runtime) -> dict:
        # The producer connects in the background: until then the webhook answers 503.
        state = {"ingest": routes.IngestContext(settings=settings, producer=rt.producer, clock=clock)}
        if settings.database_url:
            store = KeyStore(settings.database_url, clock=clock, refresh_s=settings.ingest_key_refresh_s,
                             retention=timedelta(days=settings.ingest_dedup_retention_days))
            rt.work.start("events-v2-store", store.run, store.stop)
            rt.on_stop(store.close)
            state["events_v2"] = events_v2.EventsV2Context(settings=settings, producer=rt.producer, clock=clock, store=store)
            monitors = Heartbeats(store, producer=rt.producer, clock=clock, ce_source=CE_SOURCE,
                                  batch=settings.ingest_heartbeat_batch, max_idle_s=settings.ingest_heartbeat_max_idle_s,
                                  tick_timeout_s=settings.ingest_heartbeat_tick_timeout_s)
            rt.work.start("heartbeats", monitors.run, monitors.stop)
            state["heartbeats"] = heartbeats.HeartbeatsContext(settings=settings, heartbeats=monitors)
        return state

    app = build_app(SPEC, settings, start=start, clock=clock)
    routes.install(app)
    if settings.database_url:
        events_v2.install(app)
        heartbeats.install(app)
    return app
