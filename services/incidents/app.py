"""The composition root of the incident service: nothing is created at import time. One deployable
in two parts: the incident core and its operations wing (`ops/`), wired together here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.incidents import open_gauge, repository, routes
from services.incidents.config import IncidentsSettings
from services.incidents.consumer import consumer_loops
from services.incidents.ops import record_routes, report_routes, routes as ops_routes, service as ops_service
from services.incidents.ops.consumer import handover_loop
from services.incidents.ops.handover_flow import check_handoffs
from services.incidents.ops.peers import Peers
from services.incidents.ops.schedule import report_schedule
from services.incidents.ops.ticker import ReportScheduler
from services.incidents.ops.update_reminders import remind_updates_due
from services.incidents.service import OnResolved, settle_flapping
from services.incidents.severity import DEFAULT_CALENDAR
from services.incidents.silencing import routes as silence_routes, service as silencing
from shared.business_calendar import BusinessCalendar
from shared.clock import Clock, utc_now
from shared.events import Topic
from shared.service import Runtime, ServiceSpec, build_app

MIGRATIONS = Path(__file__).parent / "migrations"
CE_SOURCE = "/vigil/incidents"

SPEC = ServiceSpec(
    name="incidents", title="Vigil incidents", ce_source=CE_SOURCE,
    topics=(Topic.INCIDENTS, Topic.ALERTS, Topic.PAGES, Topic.TICKETS, Topic.DELIVERIES, Topic.REPORTS,
            Topic.HANDOVERS),
    description="Incidents opened from alerts, their lifecycle and timeline; the API for incident tools.",
    routers=(routes.router, ops_routes.router, report_routes.router, record_routes.router, silence_routes.router),
    schema=repository.SCHEMA, migrations=MIGRATIONS, init_connection=repository.init_connection,
    # The relay's marks do not wait for their WAL flush: a PostgreSQL crash may re-send the last
    # events (consumers drop them by event id), never lose one (shared/outbox.py).
    relay_marks_without_flush=True,
)


@dataclass
class IncidentsContext:
    pool: asyncpg.Pool
    clock: Clock
    on_resolved: OnResolved | None = None  # the core's resolve hook (consumers and routes)
    calendar: BusinessCalendar = DEFAULT_CALENDAR  # business days and hours of the SEV4 response deadline


def create_app(settings: IncidentsSettings, *, clock: Clock = utc_now, run_relay: bool = True) -> FastAPI:
    schedule = report_schedule(settings)  # a rule, country or subdivision that cannot work stops the start here
    async def start(rt: Runtime) -> dict:
        # A resolved incident opens its postmortem draft in the resolve's own transaction.
        ctx = IncidentsContext(pool=rt.pool, clock=clock, on_resolved=ops_service.open_for_resolved,
                               calendar=schedule.calendar)
        for loop in [*consumer_loops(ctx, settings, rt.producer), handover_loop(ctx, settings, rt.producer)]:
            rt.work.start(f"consume-{loop.topic}", loop.run, loop.stop)
        rt.work.every("open-incidents-gauge", lambda: open_gauge.refresh_from(rt.pool), interval_s=5.0, timeout_s=10.0)
        rules = settings.grouping()
        rt.work.every("settle-flapping", lambda: settle_flapping(rt.pool, rules=rules, now=clock(), on_resolved=ctx.on_resolved),
                      interval_s=settings.incidents_flap_check_s, timeout_s=60.0)
        # Alerts held by a silence whose end passed take the normal path, and incidents of an ended
        # maintenance window page again (each once, with any number of replicas).
        rt.work.every("silence-and-window-ends", lambda: silencing.check_ends(rt.pool, rules=rules, clock=clock),
                      interval_s=settings.incidents_silence_check_s, timeout_s=30.0)
        peers = Peers(
            slo_url=settings.incidents_slo_url, escalator_url=settings.incidents_escalator_url,
            ingest_url=settings.incidents_ingest_url, token=settings.incidents_peer_token,
            timeout_s=settings.incidents_peer_timeout_s,
        )
        ops = ops_service.OpsContext(
            zone=settings.incidents_report_zone, runbook_max_age_days=settings.incidents_runbook_max_age_days,
            peers=peers, checks=rt.checks, calendar=schedule.calendar,
        )
        # Scheduled reports: each (kind, period) produced once, whatever the replicas (ops/ticker.py).
        scheduler = ReportScheduler(rt.pool, ops, schedule, clock, recipients=tuple(settings.incidents_report_recipients),
                                    console_url=settings.incidents_public_url,
                                    postmortem_reminder_days=settings.incidents_postmortem_reminder_days)
        rt.work.every("report-schedule", scheduler.tick, interval_s=settings.incidents_schedule_check_s, timeout_s=120.0)
        if settings.incidents_update_reminders:  # the commander, when a promised next update passes (once each)
            rt.work.every("update-reminders", lambda: remind_updates_due(
                rt.pool, clock=clock, zone=settings.incidents_report_zone, console_url=settings.incidents_public_url),
                interval_s=settings.incidents_schedule_check_s, timeout_s=30.0)
        # The handoffs drafted from the escalator's handovers: the incoming person asked to acknowledge
        # when the overlap starts, the team told when it ends unacknowledged (each once, any replicas).
        rt.work.every("handoff-checks", lambda: check_handoffs(
            rt.pool, clock=clock, zone=settings.incidents_report_zone, console_url=settings.incidents_public_url,
            team=tuple(settings.incidents_report_recipients)), interval_s=settings.incidents_schedule_check_s, timeout_s=30.0)
        return {"incidents": ctx, "ops": ops, "grouping": rules}

    return build_app(SPEC, settings, start=start, clock=clock, run_relay=run_relay)
