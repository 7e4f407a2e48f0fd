"""The report schedule's loop (docs/operations.md "The schedule"): each tick plans the next period of
every kind the schedule produces (`report_timer` rows, idempotent), claims the due ones under
`FOR UPDATE SKIP LOCKED` with a lease, and carries out what the pure `schedule.on_claimed` decides:
produce the report; or — the service was down over several periods — mark the missed period
superseded and produce the latest one instead; or move a row the changed rules now put later. Producing is one transaction: the row is marked done
first (a second producer finds it done and stops), the report is computed and stored as
`POST /api/v1/reports/…` stores it (what people wrote stays), and `ReportPublished` goes into the
outbox for the notifier. The reminders kind is the same timer producing, instead of a report, one
digest per person (ops/reminders.py), each a `ReportPublished` addressed to that person. A failing tick is logged and retried by the supervisor; the lease lets
another replica take over a row whose producer died."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Counter

from services.incidents import repository as incident_repo
from services.incidents.ops import reminders, reminders_repository, report_timers, service
from services.incidents.ops.schedule import Due, ReportSchedule, Reschedule, Supersede, announcement, next_due, on_claimed
from shared.clock import Clock
from shared.events import ReportPublished
from shared.metrics import own_registry
from shared.outbox import enqueue

log = structlog.get_logger("vigil.incidents.schedule")

REPORTS_PRODUCED = Counter("vigil_incidents_reports_produced_total", "Reports the schedule produced (each period once).",
                           ["kind"], registry=own_registry(__name__))
CE_SOURCE = "/vigil/incidents"
SCHEDULE_ACTOR = "schedule"
CONSOLE_KIND = {"daily_check": "daily-check", "weekly_review": "weekly-review", "monthly_review": "monthly-review"}


def report_url(console_url: str | None, kind: str, period: str) -> str | None:
    """The report's console page, or None without a console URL."""
    return f"{console_url}/operations/reports/{CONSOLE_KIND[kind]}/{period}" if console_url else None


@dataclass
class ReportScheduler:
    pool: asyncpg.Pool
    ops: service.OpsContext
    schedule: ReportSchedule
    clock: Clock
    recipients: tuple[str, ...] = ()
    console_url: str | None = None
    lease: timedelta = timedelta(minutes=5)
    batch: int = 10
    postmortem_reminder_days: int = reminders.DEFAULT_POSTMORTEM_AFTER_DAYS

    async def tick(self) -> int:
        """One round; returns how many reports it produced."""
        now = self.clock()
        async with self.pool.acquire() as conn:
            for kind in self.schedule.enabled():
                due = next_due(self.schedule, kind, now)
                await report_timers.plan(conn, kind=kind, period=due.period.label, due_at=due.due_at)
            claimed = await report_timers.claim_due(conn, now=now, lease_until=now + self.lease, limit=self.batch)
        produced = 0
        for row in claimed:
            produced += await self._carry_out(row["kind"], row["period"], now)
        return produced

    async def _carry_out(self, kind: str, period: str, now: datetime) -> int:
        decision = on_claimed(self.schedule, kind, period, now)
        if decision is None:
            async with self.pool.acquire() as conn:
                await report_timers.finish(conn, kind=kind, period=period, now=now, outcome="dropped",
                                           note="the schedule no longer produces it")
            return 0
        if isinstance(decision, Reschedule):
            async with self.pool.acquire() as conn:
                await report_timers.reschedule(conn, kind=kind, period=period, due_at=decision.due_at)
            return 0
        if isinstance(decision, Supersede):
            latest = decision.latest
            async with self.pool.acquire() as conn, conn.transaction():
                await report_timers.finish(conn, kind=kind, period=period, now=now, outcome="superseded",
                                           note=f"missed while the service was down; {latest.period.label} produced instead")
                mine = await report_timers.plan_leased(conn, kind=kind, period=latest.period.label, due_at=latest.due_at,
                                                       lease_until=now + self.lease)
            log.info("missed report superseded", kind=kind, period=period, latest=latest.period.label)
            if mine is None:  # already produced, or planned and claimed like any other row
                return 0
            return int(await self.produce(latest, now))
        return int(await self.produce(decision.due, now))

    async def produce(self, due: Due, now: datetime) -> bool:
        """Compute, store and publish `due`'s report, once: False when its row was done already."""
        if due.kind == "reminders":
            return await self.send_reminders(due, now)
        inputs = await service.peer_inputs(self.ops.peers, kind=due.kind)  # before the transaction: peers may be slow
        self_ok = await self.ops.self_check() if due.kind == "daily_check" else True
        async with self.pool.acquire() as conn, conn.transaction():
            if not await report_timers.finish(conn, kind=due.kind, period=due.period.label, now=now, outcome="produced"):
                return False
            data = await service.report_data(conn, kind=due.kind, period=due.period, octx=self.ops, inputs=inputs,
                                             self_ok=self_ok, now=now)
            await service.store_report(conn, kind=due.kind, period=due.period, data=data, by=SCHEDULE_ACTOR,
                                       zone=self.ops.zone, now=now)
            title, summary = announcement(due.kind, due.period.label, data)
            event = ReportPublished(
                event_id=ReportPublished.id_for(kind=due.kind, period=due.period.label), occurred_at=now,
                source="incidents", kind=due.kind, period=due.period.label, title=title, summary=summary[:2000],
                url=report_url(self.console_url, due.kind, due.period.label), recipients=self.recipients,
            )
            await enqueue(conn, schema=incident_repo.SCHEMA, event=event, ce_source=CE_SOURCE)
        REPORTS_PRODUCED.labels(kind=due.kind).inc()
        log.info("report produced", kind=due.kind, period=due.period.label, due_at=due.due_at.isoformat(),
                 late_s=round((now - due.due_at).total_seconds()), recipients=len(self.recipients))
        return True

    async def send_reminders(self, due: Due, now: datetime) -> bool:
        """Publish the day's reminder digests, one per person with something due, once: False when
        the day's row was done already. The digest's event id is (person, day): a second producer
        would publish nothing the notifier has not seen."""
        day = due.period.first_day
        async with self.pool.acquire() as conn, conn.transaction():
            if not await report_timers.finish(conn, kind=due.kind, period=due.period.label, now=now, outcome="produced"):
                return False
            digests = reminders.digests(
                calendar=self.schedule.calendar, day=day, now=now,
                action_items=await reminders_repository.open_action_items(conn),
                postmortems=await reminders_repository.unpublished_postmortems(conn),
                runbooks=await reminders_repository.runbooks_with_review(conn),
                postmortem_after_days=self.postmortem_reminder_days,
            )
            for digest in digests:
                title, summary = reminders.digest_text(digest)
                event = ReportPublished(
                    event_id=digest.event_id, occurred_at=now, source="incidents", kind="reminders", period=day.isoformat(),
                    title=title[:200], summary=summary[:2000],
                    url=f"{self.console_url}/operations/action-items" if self.console_url else None,
                    recipients=(digest.person,),
                )
                await enqueue(conn, schema=incident_repo.SCHEMA, event=event, ce_source=CE_SOURCE)
        REPORTS_PRODUCED.labels(kind=due.kind).inc()
        log.info("reminders sent", day=day.isoformat(), people=len(digests), due_at=due.due_at.isoformat(),
                 late_s=round((now - due.due_at).total_seconds()))
        return True
