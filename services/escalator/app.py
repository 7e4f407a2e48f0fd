"""The composition root of the escalator: nothing is created at import time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
import structlog
from fastapi import FastAPI

from services.escalator import handover_job, handover_routes, repository, routes, service, shift_notices
from services.escalator.budgets import budget_events_loop
from services.escalator.config import EscalatorSettings
from services.escalator.consumer import incident_events_loop
from services.escalator.incidents_client import IncidentsClient
from services.escalator.ticker import Ticker
from shared.clock import Clock, utc_now
from shared.events import Topic
from shared.outbox import OutboxRelay
from shared.service import Runtime, ServiceSpec, build_app

log = structlog.get_logger("vigil.escalator")
MIGRATIONS = Path(__file__).parent / "migrations"

SPEC = ServiceSpec(
    name="escalator", title="Vigil escalator", ce_source=service.CE_SOURCE,
    topics=(Topic.INCIDENTS, Topic.PAGES, Topic.TICKETS, Topic.PEOPLE, Topic.SHIFTS, Topic.BUDGETS,
            Topic.HANDOVERS),
    description="Escalation policies, on-call schedules and durable timers: incidents become pages and tickets.",
    routers=(routes.router, handover_routes.router), schema=repository.SCHEMA, migrations=MIGRATIONS, init_connection=repository.init_connection,
    # Pages leave without waiting for the WAL flush of their "published" mark: a PostgreSQL crash
    # may re-send the last ones (same page ids, dropped by consumers), never lose one.
    relay_marks_without_flush=True,
)


@dataclass
class EscalatorContext:
    pool: asyncpg.Pool
    clock: Clock
    store: service.ConfigStore
    ticker: Ticker
    link_base: str | None = None  # pages link to the incident there
    relay: OutboxRelay | None = None  # this process's outbox relay (the consumer wakes it while it leads)


def create_app(settings: EscalatorSettings, *, clock: Clock = utc_now, run_relay: bool = True) -> FastAPI:
    if not settings.escalator_incidents_url:
        log.warning("VIGIL_ESCALATOR_INCIDENTS_URL is not set: acknowledgement timeouts cannot re-page")

    async def start(rt: Runtime) -> dict:
        store = service.ConfigStore()
        async with rt.pool.acquire() as conn:
            async with conn.transaction():
                await service.import_file(conn, store, settings.escalator_config_file, now=clock())
            await store.current(conn)
        incidents = IncidentsClient(settings.escalator_incidents_url, settings.escalator_incidents_token)
        rt.on_stop(incidents.close)
        # Pages link to the incident where a person opens it: the console, else the incident API.
        link_base = (f"{settings.escalator_public_url}/incidents" if settings.escalator_public_url
                     else f"{settings.escalator_incidents_url}/api/v1/incidents" if settings.escalator_incidents_url else None)
        ticker = Ticker(
            rt.pool, store=store, clock=clock, incidents=incidents, batch=settings.escalator_tick_batch,
            max_idle_s=settings.escalator_max_idle_s, incident_link=link_base,
            tick_timeout_s=settings.escalator_tick_timeout_s,
        )
        ctx = EscalatorContext(pool=rt.pool, clock=clock, store=store, ticker=ticker, link_base=link_base, relay=rt.relay)
        rt.app.state.escalator = ctx  # tests that move the clock call ctx.ticker.wake()
        loop = incident_events_loop(ctx, settings, rt.producer)
        rt.work.start("consume-incidents", loop.run, loop.stop)
        budgets = budget_events_loop(ctx, settings, rt.producer)
        rt.work.start("consume-budgets", budgets.run, budgets.stop)
        rt.work.start("ticker", ticker.run, ticker.stop)
        if settings.escalator_shift_notices:
            lead = timedelta(seconds=settings.escalator_shift_notice_lead_s)
            rt.work.every("shift-notices", lambda: shift_notices.announce_due(rt.pool, store, now=clock(), lead=lead),
                          interval_s=settings.escalator_shift_notice_interval_s, timeout_s=settings.escalator_tick_timeout_s)
        if settings.escalator_handovers:  # the incident service drafts the handoff (vigil.handovers.v1)
            handover_lead = timedelta(seconds=settings.escalator_handover_lead_s)
            rt.work.every("handovers", lambda: handover_job.announce_handovers(rt.pool, store, now=clock(), lead=handover_lead),
                          interval_s=settings.escalator_shift_notice_interval_s, timeout_s=settings.escalator_tick_timeout_s)
        return {"escalator": ctx}

    return build_app(SPEC, settings, start=start, clock=clock, run_relay=run_relay)
