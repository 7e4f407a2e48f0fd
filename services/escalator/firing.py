"""Firing due timers: the pages, notifications and tickets of a timer whose time has come (to
whoever is on call for its role then: both engineers during a handoff overlap), and the
acknowledgement-timeout check. Everything is written in the caller's transaction, the events to the
outbox; page and ticket ids are unique in the database, so a timer fired twice sends nothing twice.

Three ways in, one way to fire: the consumer fires the timers an incident event planned for now
inside that event's transaction (`fire_due_now`; a batch's pages in one statement,
`fire_batch_due_now`), the ticker the timers it claimed (`fire_claimed`). Each page is built by
`page_of`, the people and the reason of a page/notify timer come from `pages_of`, and a fired timer
is counted and logged by `record_fired`, whatever the path."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg
import httpx
import structlog
from prometheus_client import Counter, Histogram

from services.escalator import repository as repo
from services.escalator.incidents_client import IncidentsClient
from services.escalator.oncall_config import OnCallConfig
from services.escalator.policy import CATCH_UP_AFTER, IncidentState, PlannedStep, catch_up, decide
from services.escalator.service import CE_SOURCE, BatchApplied, ConfigStore, DueNow, Who, planned_of
from shared.events import POLICY_NOTE_MAX, PageRequested, TicketRequested
from shared.metrics import own_registry
from shared.outbox import channel, enqueue, enqueue_many, outbox_row

log = structlog.get_logger("vigil.escalator.firing")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
LATENESS = Histogram(
    "vigil_escalator_timer_lateness_seconds", "Time from a timer's due time to when it fired",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300), registry=METRICS,
)
ACTIONS = Counter("vigil_escalator_actions_total", "Pages, notifications and tickets sent", ["action"],
                  registry=METRICS)
FAILED = Counter("vigil_escalator_timer_failures_total", "Timer firings that failed and will be retried",
                 registry=METRICS)
SKIPPED = Counter("vigil_escalator_timers_skipped_on_catch_up_total",
                  "Page timers not fired after a gap because a later step of the same role fired instead", registry=METRICS)
RETRY_AFTER = timedelta(seconds=5)


@dataclass(frozen=True)
class Fired:
    """What firing a timer did; `unacknowledge` asks the caller to clear a lapsed acknowledgement
    through the incident service before the transaction commits. `number`: the incident's INC-<n>."""

    outcome: str
    sent: int = 0
    action: str = ""
    unacknowledge: str | None = None
    number: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    """One page to send: its row (the columns of `repo.insert_page`), its event and its outbox row."""

    columns: dict
    event: PageRequested
    outbox: tuple


def links_for(link_base: str | None, incident_id: int) -> dict[str, str]:
    """`link_base`: where an incident opens, its id appended (the console's `/incidents`, or the API's)."""
    return {"incident": f"{link_base}/{incident_id}"} if link_base else {}


def policy_note(incident) -> str | None:
    """Why the error-budget policy changed the incident's escalation (its `budget_note`), carried by
    each of its pages and tickets so the incident service can put it into the timeline (once)."""
    note = incident.get("budget_note")
    return note if note is None or len(note) <= POLICY_NOTE_MAX else note[:POLICY_NOTE_MAX - 1] + "…"


def on_call(step: PlannedStep, who: Who, now: datetime) -> tuple[str, ...]:
    """The people on call for the step's role at `now`, each once."""
    return tuple(dict.fromkeys(who(step.role, now)))


def page_of(step: PlannedStep, person: str, page_id: str, *, timer_id: str, reason: str, incident,
            config: OnCallConfig, link_base: str | None, now: datetime, late: str | None = None) -> Page:
    event = PageRequested(
        event_id=page_id, page_id=page_id, target=person, role=step.role, schedule=incident["schedule"],
        channel=step.action, reason=reason, step=max(step.step, 0), repetition=step.repetition,
        contact=config.contact(person), due_at=step.due_at, links=links_for(link_base, incident["id"]),
        occurred_at=now, source="escalator", incident_id=incident["id"], number=incident["number"],
        severity=incident["severity"], title=incident["title"], late=late, policy_note=policy_note(incident),
    )
    columns = dict(page_id=page_id, timer_id=timer_id, incident_id=incident["id"], target=person, role=step.role,
                   channel=step.action, reason=reason, due_at=step.due_at)
    return Page(columns, event, outbox_row(event, ce_source=CE_SOURCE))


def pages_of(step: PlannedStep, *, timer_id: str, incident, who: Who, config: OnCallConfig, link_base: str | None,
             now: datetime, late: str | None = None) -> tuple[list[Page], str]:
    """The pages of a page/notify timer firing at `now`, one per person on call for its role, and
    the timer's outcome (no pages, and the outcome says so, when no one is on call). `late`: what
    the pages say when they are sent on catch-up after a gap (`policy.catch_up`)."""
    targets = on_call(step, who, now)
    if not targets:
        return [], f"no one on call for {step.role}"
    # A step planned empty ("no one on call for <role>") that finds someone now pages as an escalation.
    reason = "escalation" if step.reason.startswith("no one on call") else step.reason
    step = replace(step, targets=targets)
    pages = [page_of(step, person, page_id, timer_id=timer_id, reason=reason, incident=incident, config=config,
                     link_base=link_base, now=now, late=late) for person, page_id in step.page_ids()]
    verb = "paged" if step.action == "page" else "notified"
    return pages, f"{verb} {', '.join(targets)} ({reason}{'; late, on catch-up' if late else ''})"


def page_sent(page: PageRequested) -> None:
    """The one line per page sent, so that grepping an incident's INC-<n> finds its pages."""
    log.info("page sent", incident_id=page.number, person=page.target, step=page.step, repetition=page.repetition,
             channel=page.channel, reason=page.reason, page_id=page.page_id)


def record_fired(step: PlannedStep, *, number: str, outcome: str, sent: int, now: datetime) -> None:
    """Count a fired timer (lateness; pages, notifications, tickets) and log it."""
    lateness = (now - step.due_at).total_seconds()
    LATENESS.observe(lateness)
    if sent:
        ACTIONS.labels(step.action).inc(sent)
    log.info("timer fired", incident_id=number, action=step.action, step=step.step,
             outcome=outcome, lateness_ms=round(lateness * 1000, 1))


async def fire_timer(
    conn: asyncpg.Connection, timer: asyncpg.Record, *, store: ConfigStore, config: OnCallConfig, now: datetime,
    link_base: str | None, who: Who | None = None, late: str | None = None,
) -> Fired:
    """Carry out one due timer: pages/notifications to whoever is on call now for its role, a
    ticket, or the acknowledgement-timeout check. `who`: the on-call answers when the caller has them;
    `late`: the catch-up note its pages carry."""
    incident = await repo.get_incident(conn, timer["incident_id"], for_update=True)
    number = incident["number"]
    step = planned_of(timer)
    if timer["action"] == "ack_check":
        state = IncidentState(id=incident["id"], version=incident["version"], severity=incident["severity"],
                              status=incident["status"], acknowledged_at=incident["acknowledged_at"])
        decision = decide(kind="ack_timeout", incident=state, planned=[], config=store.policy_of(incident["policy"]),
                          targets={}, now=now)
        return Fired(decision.reason, action="ack_check", unacknowledge=decision.unacknowledge, number=number)
    who = who or await store.who_is_on_call_fn(conn, config, incident["schedule"], start=now, end=now + timedelta(seconds=1))
    if step.action == "ticket":
        targets = on_call(step, who, now)
        assignee = targets[0] if targets else None
        ticket_id = timer["id"]  # one ticket per step, whoever is assigned
        if await repo.insert_ticket(conn, ticket_id=ticket_id, timer_id=timer["id"], incident_id=incident["id"],
                                    assignee=assignee, due_at=step.ticket_due_at, now=now):
            ticket = TicketRequested(
                event_id=ticket_id, ticket_id=ticket_id, due_at=step.ticket_due_at, assignee=assignee, occurred_at=now,
                source="escalator", incident_id=incident["id"], number=number, severity=incident["severity"],
                title=incident["title"], policy_note=policy_note(incident),
            )
            await enqueue(conn, schema=repo.SCHEMA, event=ticket, ce_source=CE_SOURCE)
            log.info("ticket opened", incident_id=number, person=assignee, step=step.step, ticket_id=ticket_id,
                     due_at=step.ticket_due_at.isoformat())
        return Fired(f"ticket for {assignee or 'nobody (unassigned)'}", sent=1, action="ticket", number=number)
    pages, outcome = pages_of(step, timer_id=timer["id"], incident=incident, who=who, config=config,
                              link_base=link_base, now=now, late=late)
    sent = 0
    for page in pages:
        if await repo.insert_page(conn, **page.columns, now=now):
            await enqueue_many(conn, schema=repo.SCHEMA, rows=[page.outbox])
            page_sent(page.event)
            sent += 1
    return Fired(outcome, sent=sent, action=step.action, number=number)


async def finish(conn: asyncpg.Connection, timer: asyncpg.Record, fired: Fired, *, now: datetime) -> None:
    """Mark the timer fired with what it did, and record it."""
    await repo.finish_timer(conn, timer["id"], outcome=fired.outcome, now=now)
    record_fired(planned_of(timer), number=fired.number, outcome=fired.outcome, sent=fired.sent, now=now)


async def fire_due_now(conn: asyncpg.Connection, timer_ids: list[str], *, store: ConfigStore, config: OnCallConfig,
                       now: datetime, link_base: str | None, who: Who | None = None) -> None:
    """Fire the just-planned timers that are already due inside the planning transaction, instead of
    a commit, a NOTIFY and a tick later (an opened incident's first page). Each in a savepoint: one
    that fails stays pending and the ticker retries it. The acknowledgement check is the ticker's."""
    for timer in await repo.lock_pending(conn, timer_ids):
        try:
            async with conn.transaction():
                fired = await fire_timer(conn, timer, store=store, config=config, now=now, link_base=link_base, who=who)
                await finish(conn, timer, fired, now=now)
        except (asyncpg.PostgresConnectionError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - left pending for the ticker
            log.error("firing a due timer at once failed; the ticker retries it", timer=timer["id"], error=repr(exc))
            await conn.execute("SELECT pg_notify($1, '')", repo.TIMER_CHANNEL)  # it is due: wake the ticker at commit


async def fire_batch_due_now(conn: asyncpg.Connection, applied: BatchApplied, *, store: ConfigStore, now: datetime,
                             link_base: str | None, outbox_channel: str | None = channel(repo.SCHEMA)) -> None:
    """Fire a batch's due-now timers in its transaction, in the order the one-by-one path fires
    them: each run of page/notify timers this batch inserted in one statement (`repo.fire_pages`:
    the same pages, outbox rows and outcomes as `fire_timer` one by one), any other timer (a ticket,
    one stored before) through `fire_due_now`. No savepoint around a run: when its statement fails,
    the caller rolls the whole batch back and applies it the one-by-one way, where a failing timer
    stays pending for the ticker. `outbox_channel` None: the pages' statements do not NOTIFY the
    relay (the caller wakes its own after the commit); the other timers' firings always do."""
    run: list[DueNow] = []
    for item in [*applied.due_now, None]:
        if item is not None and item.inserted and item.step.action in ("page", "notify"):
            run.append(item)
            continue
        if run:
            await _fire_pages(conn, run, config=applied.config, now=now, link_base=link_base, outbox_channel=outbox_channel)
            run = []
        if item is not None:
            await fire_due_now(conn, [item.step.id], store=store, config=applied.config, now=now, link_base=link_base,
                               who=item.who)


async def _fire_pages(conn: asyncpg.Connection, due: list[DueNow], *, config: OnCallConfig, now: datetime,
                      link_base: str | None, outbox_channel: str | None) -> None:
    fired = [(item, *pages_of(item.step, timer_id=item.step.id, incident=item.incident, who=item.who, config=config,
                              link_base=link_base, now=now)) for item in due]
    pages = [page for _item, timer_pages, _outcome in fired for page in timer_pages]
    new = await repo.fire_pages(conn, [p.columns for p in pages], [p.outbox for p in pages],
                                [(item.step.id, outcome) for item, _pages, outcome in fired],
                                now=now, outbox_channel=outbox_channel)
    for item, timer_pages, outcome in fired:
        sent = [page.event for page in timer_pages if page.event.page_id in new]
        for page in sent:
            page_sent(page)
        record_fired(item.step, number=item.incident["number"], outcome=outcome, sent=len(sent), now=now)


async def fire_claimed(conn: asyncpg.Connection, timers: list[asyncpg.Record], *, store: ConfigStore,
                       config: OnCallConfig, now: datetime, link_base: str | None, incidents: IncidentsClient) -> None:
    """Fire the timers the ticker claimed, each in a savepoint: one that fails is retried
    `RETRY_AFTER` later and never blocks the others. After a gap, an incident's pages that came due
    meanwhile are caught up once (`policy.catch_up`), not one per missed step."""
    for timer, late in await _caught_up(conn, timers, now=now):
        try:
            async with conn.transaction():
                await _fire_claimed(conn, timer, store=store, config=config, now=now, link_base=link_base,
                                    incidents=incidents, late=late)
        except (asyncpg.PostgresConnectionError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - isolate the timer, retry it later
            FAILED.inc()
            log.error("timer failed, will retry", timer=timer["id"], incident_id=f"INC-{timer['incident_id']}",
                      error=repr(exc), attempt=timer["attempts"] + 1, exc_info=timer["attempts"] == 0)
            await repo.retry_timer(conn, timer["id"], at=now + RETRY_AFTER, outcome=f"failed, retrying: {exc!r}")


async def _caught_up(conn: asyncpg.Connection, timers: list[asyncpg.Record], *,
                     now: datetime) -> list[tuple[asyncpg.Record, str | None]]:
    """The claimed timers to fire, oldest first, each with its catch-up note. The late incidents'
    other due page timers (beyond this claim's batch) are locked and weighed too; the skipped ones
    are closed with the reason."""
    late = {t["incident_id"] for t in timers if t["action"] in ("page", "notify") and now - t["due_at"] > CATCH_UP_AFTER}
    rows = {t["id"]: t for t in timers}
    for row in await repo.lock_due_pages_of(conn, sorted(late), now=now):
        rows.setdefault(row["id"], row)
    if not late:
        return [(t, None) for t in timers]
    plan = catch_up([planned_of(t) for t in rows.values()], now=now)
    if plan.skipped:
        await repo.skip_timers(conn, plan.skipped, now=now)
        SKIPPED.inc(len(plan.skipped))
        log.warning("caught up after a gap: earlier pages skipped, the latest due page of each role sent late",
                    incidents=[f"INC-{i}" for i in sorted(late)], skipped=len(plan.skipped))
    fire = [(rows[step.id], note) for step, note in plan.fire]
    return sorted(fire, key=lambda item: (item[0]["fire_at"], item[0]["step"]))


async def _fire_claimed(conn: asyncpg.Connection, timer: asyncpg.Record, *, store: ConfigStore, config: OnCallConfig,
                        now: datetime, link_base: str | None, incidents: IncidentsClient, late: str | None) -> None:
    fired = await fire_timer(conn, timer, store=store, config=config, now=now, link_base=link_base, late=late)
    if fired.unacknowledge:
        try:
            outcome = await incidents.unacknowledge(timer["incident_id"], reason=fired.unacknowledge, key=timer["id"])
        except (httpx.HTTPError, RuntimeError) as exc:
            await repo.retry_timer(conn, timer["id"], at=now + RETRY_AFTER, outcome=f"unacknowledge failed, retrying: {exc}")
            log.warning("ack timeout: unacknowledge failed, will retry", incident_id=fired.number, error=str(exc))
            return
        await repo.set_ack_timed_out(conn, timer["incident_id"], True)
        fired = Fired(f"{fired.unacknowledge}: {outcome}", action="ack_check", number=fired.number)
    await finish(conn, timer, fired, now=now)
