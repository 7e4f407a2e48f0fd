"""The composition root of the notifier: nothing is created at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import structlog
from fastapi import FastAPI

from services.notifier import dispatcher as dispatching, one_click, repository, routes, sending
from services.notifier.config import NotifierSettings
from services.notifier.consumer import loops
from services.notifier.dispatcher import Dispatcher
from services.notifier.incidents_client import IncidentsClient
from services.notifier.service import CE_SOURCE
from shared.clock import Clock, utc_now
from shared.events import Topic
from shared.service import Runtime, ServiceSpec, build_app

log = structlog.get_logger("vigil.notifier")
MIGRATIONS = Path(__file__).parent / "migrations"

SPEC = ServiceSpec(
    name="notifier", title="Vigil notifier", ce_source=CE_SOURCE,
    topics=(Topic.PAGES, Topic.TICKETS, Topic.INCIDENTS, Topic.PEOPLE, Topic.DELIVERIES, Topic.SHIFTS, Topic.REPORTS),
    description="Delivers pages, tickets and shift notices to people (e-mail, Slack, signed webhooks, Apprise) "
    "with delivery tracking, retries, throttling that bundles, and one-click acknowledgement.",
    routers=(routes.router, one_click.router), schema=repository.SCHEMA, migrations=MIGRATIONS,
    init_connection=repository.init_connection,
)


@dataclass
class NotifierContext:
    pool: asyncpg.Pool
    clock: Clock
    settings: NotifierSettings
    dispatcher: Dispatcher
    incidents: IncidentsClient
    started_at: datetime  # pages for unknown people wait a while after it (service.PERSON_GRACE)


def create_app(settings: NotifierSettings, *, clock: Clock = utc_now, run_relay: bool = True) -> FastAPI:
    if not settings.notifier_smtp_host:
        log.warning("VIGIL_NOTIFIER_SMTP_HOST is not set: e-mail contact methods cannot be delivered")
    if not settings.notifier_public_url:
        log.warning("VIGIL_NOTIFIER_PUBLIC_URL is not set: messages carry no acknowledge links")

    async def start(rt: Runtime) -> dict:
        http = httpx.AsyncClient(timeout=settings.notifier_send_timeout_s, follow_redirects=False)
        rt.on_stop(http.aclose)
        channels = sending.Channels.from_settings(settings, http=http, env=os.environ, clock=clock)
        incidents = IncidentsClient(
            settings.notifier_incidents_url,
            settings.notifier_incidents_token.get_secret_value() if settings.notifier_incidents_token else None,
        )
        rt.on_stop(incidents.close)
        dispatcher = Dispatcher(
            rt.pool, clock=clock, send=channels.send, limits_for=channels.limits_for,
            send_timeout_s=settings.notifier_send_timeout_s, retry_for_s=settings.notifier_retry_for_s,
            batch=settings.notifier_dispatch_batch, concurrency=settings.notifier_send_concurrency,
            max_idle_s=settings.notifier_max_idle_s,
        )
        ctx = NotifierContext(pool=rt.pool, clock=clock, settings=settings, dispatcher=dispatcher, incidents=incidents,
                              started_at=clock())
        rt.app.state.notifier = ctx  # tests that move the clock call ctx.dispatcher.wake()
        for name, loop in loops(ctx, settings, rt.producer):
            rt.work.start(name, loop.run, loop.stop)
        rt.work.start("dispatcher", dispatcher.run, dispatcher.stop)
        rt.work.every("oldest-pending-gauge", lambda: dispatching.measure_oldest_pending(rt.pool, clock()),
                      interval_s=5.0, timeout_s=10.0)
        return {"notifier": ctx}

    return build_app(SPEC, settings, start=start, clock=clock, run_relay=run_relay)
