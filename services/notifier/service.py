"""What the notifier does with each event it consumes, in the caller's transaction: keep people and
incident states, plan a page's, ticket's or shift notice's deliveries (policy.plan), cancel what an
acknowledgement or resolution makes pointless, and put every outcome for the timeline into the
outbox (a shift notice or a test message concerns no incident: it has no timeline)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import asyncpg
import structlog

from services.notifier import policy, repository as repo
from services.notifier.reports import ADDRESS_PERSON, address_method, recipient_source_id
from shared.events import (
    DeliveryUpdated, IncidentEvent, PageRequested, PersonUpdated, ReportPublished, ShiftNotice, TicketRequested,
    deterministic_id,
)
from shared.outbox import enqueue_many, outbox_row

log = structlog.get_logger("vigil.notifier")

CE_SOURCE = "/vigil/notifier"
# A page for someone the notifier does not know yet waits this long for their PersonUpdated (it comes
# on another topic, and at start the people are still being read) before it says nobody is reachable.
PERSON_GRACE = timedelta(seconds=60)
# A shift notice read this long after its boundary (the notifier was down) would only confuse.
SHIFT_NOTICE_STALE = timedelta(hours=1)
WITHOUT_TIMELINE = frozenset({"test", "shift", "report"})  # delivery sources that concern no incident


class PersonNotYetKnown(RuntimeError):
    """Retried by the consumer loop (the offset waits) until the person is known or the grace ends."""


def delivery_event(row: asyncpg.Record | dict, *, now: datetime) -> DeliveryUpdated:
    """The timeline's view of a delivery row in its final state (sent, failed, cancelled)."""
    return DeliveryUpdated(
        event_id=deterministic_id("delivery-outcome", row["id"], row["state"], str(row["attempts"])),
        occurred_at=now, source="notifier", delivery_id=row["id"], incident_id=row["incident_id"],
        page_id=row["source_id"] if row["source"] == "page" else None, person=row["person"], method=row["method"],
        kind=row["kind"], state=row["state"], attempts=row["attempts"], answer=(row["answer"] or None) and row["answer"][:2000],
        error=(row["last_error"] or None) and row["last_error"][:2000], bundled_with=row["bundled_with"],
    )


async def publish_outcomes(conn: asyncpg.Connection, rows: Iterable[asyncpg.Record | dict], *, now: datetime) -> None:
    events = [delivery_event(row, now=now) for row in rows if row["source"] not in WITHOUT_TIMELINE]
    if events:
        await enqueue_many(conn, schema=repo.SCHEMA, rows=[outbox_row(e, ce_source=CE_SOURCE) for e in events])


async def apply_person(conn: asyncpg.Connection, event: PersonUpdated) -> None:
    await repo.upsert_person(conn, event)


async def apply_incident_event(conn: asyncpg.Connection, event: IncidentEvent, *, now: datetime) -> int:
    """Keep the incident's state; an acknowledgement, a resolution or every alert resolving cancels
    the steps not yet sent.
    Returns how many were cancelled."""
    if not await repo.record_incident(conn, event) or event.kind not in ("acknowledged", "resolved", "alerts_resolved"):
        return 0
    why = "every alert resolved" if event.kind == "alerts_resolved" else f"{event.kind} by {event.actor or 'someone'}"
    cancelled = await repo.cancel_open(conn, event.incident_id, why=why, now=now)
    await publish_outcomes(conn, cancelled, now=now)
    return len(cancelled)


def _await_person(name: str, requested_at: datetime, *, now: datetime, known_since: datetime) -> None:
    if now - max(requested_at, known_since) < PERSON_GRACE:
        raise PersonNotYetKnown(f"{name} is not (yet) in the notifier's copy of people")


async def apply_page(conn: asyncpg.Connection, page: PageRequested, *, now: datetime, started_at: datetime) -> list[str]:
    """Plan the page's deliveries by the person's rules; returns the ids stored now (none on a replay).
    `started_at`: when this process started (its copy of people may still be catching up)."""
    person = await repo.person(conn, page.target)
    if person is None:
        _await_person(page.target, page.occurred_at, now=now, known_since=started_at)
    planned = policy.plan(
        page.page_id, page.channel, person.methods if person else (), person.page_rules if person else (),
        person.notify_rules if person else (), page.occurred_at,
    )
    if not planned:
        await _unreachable(conn, page.page_id, page.incident_id, page.target, source="page", now=now)
        return []
    quieted = await repo.quieted_since(conn, page.incident_id, page.occurred_at)
    payload = page.model_dump(mode="json")
    rows = [
        _row(p, source="page", source_id=page.page_id, incident_id=page.incident_id, number=page.number,
             severity=page.severity, title=page.title, channel=page.channel, person=page.target,
             address=person.method(p.method_id).address, payload=payload, requested_at=page.occurred_at,
             cancelled=quieted)
        for p in planned
    ]
    return await repo.insert_deliveries(conn, rows)


async def _plan_notify(conn: asyncpg.Connection, name: str, source_id: str, requested_at: datetime, *, now: datetime,
                       started_at: datetime) -> tuple[repo.Person | None, list[policy.PlannedDelivery]]:
    """The person and the deliveries of a non-paging message to them (their notify rules); a
    person not known yet is waited for (PersonNotYetKnown) within the grace."""
    person = await repo.person(conn, name)
    if person is None:
        _await_person(name, requested_at, now=now, known_since=started_at)
    planned = policy.plan(source_id, "notify", person.methods if person else (), (), person.notify_rules if person else (),
                          requested_at)
    return person, planned


async def apply_ticket(conn: asyncpg.Connection, ticket: TicketRequested, *, now: datetime, started_at: datetime) -> list[str]:
    """A ticket reaches its assignee (if any) through their non-paging rules."""
    if not ticket.assignee:
        return []
    person, planned = await _plan_notify(conn, ticket.assignee, ticket.ticket_id, ticket.occurred_at, now=now,
                                         started_at=started_at)
    if not planned:
        await _unreachable(conn, ticket.ticket_id, ticket.incident_id, ticket.assignee, source="ticket", now=now)
        return []
    payload = ticket.model_dump(mode="json")
    rows = [
        _row(p, source="ticket", source_id=ticket.ticket_id, incident_id=ticket.incident_id, number=ticket.number,
             severity=ticket.severity, title=ticket.title, channel="notify", person=ticket.assignee,
             address=person.method(p.method_id).address, payload=payload, requested_at=ticket.occurred_at, cancelled=None)
        for p in planned
    ]
    return await repo.insert_deliveries(conn, rows)


async def apply_shift(conn: asyncpg.Connection, notice: ShiftNotice, *, now: datetime, started_at: datetime) -> list[str]:
    """A shift notice reaches the person through their non-paging rules; returns the ids stored now."""
    if now - notice.at > SHIFT_NOTICE_STALE:
        log.warning("shift notice too late to send", person=notice.person, schedule=notice.schedule, kind=notice.kind,
                    at=notice.at.isoformat())
        return []
    person, planned = await _plan_notify(conn, notice.person, notice.notice_id, notice.occurred_at, now=now,
                                         started_at=started_at)
    if not planned:
        log.warning("no contact method for a shift notice", person=notice.person, schedule=notice.schedule)
        return []
    payload = notice.model_dump(mode="json")
    title = f"On call for {notice.schedule} ({notice.tier})"
    rows = [
        _row(p, source="shift", source_id=notice.notice_id, incident_id=0, number="", severity=4, title=title,
             channel="notify", person=notice.person, address=person.method(p.method_id).address, payload=payload,
             requested_at=notice.occurred_at, cancelled=None)
        for p in planned
    ]
    return await repo.insert_deliveries(conn, rows)


async def apply_report(conn: asyncpg.Connection, report: ReportPublished, *, now: datetime,
                       started_at: datetime) -> list[str]:
    """A scheduled report reaches each recipient: an address directly, a person through their
    non-paging rules; returns the ids stored now (none on a replay)."""
    rows = []
    for recipient in dict.fromkeys(report.recipients):
        source_id = recipient_source_id(report, recipient)
        method = address_method(recipient)
        if method is not None:
            person, planned = ADDRESS_PERSON, policy.plan(source_id, "notify", (method,), (), (), report.occurred_at)
            address_of = {method.id: method.address}
        else:
            known, planned = await _plan_notify(conn, recipient, source_id, report.occurred_at, now=now, started_at=started_at)
            person, address_of = recipient, {m.id: m.address for m in known.methods} if known else {}
        if not planned:
            log.warning("no contact method for a report", person=recipient, kind=report.kind, period=report.period)
        rows += [
            _row(p, source="report", source_id=source_id, incident_id=0, number="", severity=4, title=report.title,
                 channel="notify", person=person, address=address_of[p.method_id], payload=report.model_dump(mode="json"),
                 requested_at=report.occurred_at, cancelled=None)
            for p in planned
        ]
    return await repo.insert_deliveries(conn, rows) if rows else []


def _row(p: policy.PlannedDelivery, *, source: str, source_id: str, incident_id: int, number: str, severity: int,
         title: str, channel: str, person: str, address: str, payload: dict, requested_at: datetime,
         cancelled: str | None) -> tuple:
    state, why = ("cancelled", f"{cancelled} before it was due") if cancelled else ("pending", None)
    return (p.delivery_id, source, source_id, incident_id, number, severity, title, channel, person, p.method_id,
            p.kind, address, p.step, payload, requested_at, p.due_at, state, p.due_at, why)


async def _unreachable(conn: asyncpg.Connection, source_id: str, incident_id: int, person: str, *, source: str,
                       now: datetime) -> None:
    """Nobody can be told: say so on the incident's timeline (once per page or ticket)."""
    log.warning("no contact method", person=person, incident_id=f"INC-{incident_id}", source=source)
    row = {"id": deterministic_id("delivery", source_id, "none"), "source": source, "source_id": source_id,
           "incident_id": incident_id, "person": person, "method": "none", "kind": "none", "state": "failed",
           "attempts": 0, "answer": None, "last_error": f"{person} has no contact method the notifier knows",
           "bundled_with": 0}
    await publish_outcomes(conn, [row], now=now)
