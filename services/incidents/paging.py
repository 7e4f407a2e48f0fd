"""The units of work of the page, ticket and delivery consumers: the pages and tickets the escalator
requested and what the notifier's deliveries came to, written into their incident's timeline once
per page (ticket) id and delivery event id, inside the caller's transaction; a page or ticket whose
escalation the error-budget policy changed adds why, once per incident. `page_entry`, `ticket_entry`,
`policy_entry` and `delivery_text` are the pure wording."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.incidents import repository as repo
from services.incidents.lifecycle import Entry
from shared.clock import Clock
from shared.events import DeliveryUpdated, PageRequested, TicketRequested


def policy_entry(event: PageRequested | TicketRequested) -> tuple[Entry, str] | None:
    """PURE: the timeline line saying why the error-budget policy changed the incident's escalation,
    e.g. "escalation changed by the error-budget policy: medium → page: checkout's error budget is
    exhausted (availability: -4 % left)", with its dedup key: one line per incident, however many
    of its pages and tickets carry the note."""
    if not event.policy_note:
        return None
    entry = Entry("budget_policy", f"escalation changed by the error-budget policy: {event.policy_note}", "escalator")
    return entry, f"budget-policy:{event.incident_id}"


def page_entry(page: PageRequested) -> Entry:
    """PURE: "paged <who> (<reason>)", or "notified …" for a non-paging notification."""
    verb = "paged" if page.channel == "page" else "notified"
    return Entry("page", f"{verb} {page.target} ({page.reason})", "escalator")


def ticket_entry(ticket: TicketRequested) -> Entry:
    """PURE: "ticket <id> due <when>"."""
    return Entry("ticket", f"ticket {ticket.ticket_id} due {ticket.due_at.isoformat()}", "escalator")


async def _record(conn: asyncpg.Connection, event: PageRequested | TicketRequested, entry: Entry, *, dedup_key: str) -> bool:
    """Write the entry of a page or ticket into its incident's timeline once per `dedup_key`,
    preceded (once per incident) by why the error-budget policy changed the escalation."""
    if await repo.get_incident_row(conn, event.incident_id) is None:
        return False
    if (policy := policy_entry(event)) is not None:
        await repo.add_timeline(conn, event.incident_id, [policy[0]], at=event.occurred_at, dedup_key=policy[1])
    await repo.add_timeline(conn, event.incident_id, [entry], at=event.occurred_at, dedup_key=dedup_key)
    return True


async def record_page(conn: asyncpg.Connection, page: PageRequested, *, now: datetime) -> bool:
    """Write "paged <who> (<reason>)" into the incident's timeline, once per page id."""
    return await _record(conn, page, page_entry(page), dedup_key=f"page:{page.page_id}")


async def record_ticket(conn: asyncpg.Connection, ticket: TicketRequested, *, now: datetime) -> bool:
    return await _record(conn, ticket, ticket_entry(ticket), dedup_key=f"ticket:{ticket.ticket_id}")


async def record_pages(conn: asyncpg.Connection, pages: Sequence[PageRequested], *, clock: Clock) -> None:
    """`record_page` for each page, in order, in the caller's transaction (a consumer poll)."""
    for page in pages:
        await record_page(conn, page, now=clock())


async def record_tickets(conn: asyncpg.Connection, tickets: Sequence[TicketRequested], *, clock: Clock) -> None:
    """`record_ticket` for each ticket, in order, in the caller's transaction (a consumer poll)."""
    for ticket in tickets:
        await record_ticket(conn, ticket, now=clock())


# Who accepted a message of each kind, as the timeline names it.
PEERS = {"email": "SMTP", "webhook": "the webhook receiver", "slack": "Slack", "apprise": "Apprise"}


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def delivery_text(delivery: DeliveryUpdated) -> str:
    """PURE: the timeline line of a delivery, e.g. "email to alice accepted by SMTP: 250 2.0.0 Ok
    (attempt 1)", "slack to bob failed after 5 attempts: HTTP 410 channel_is_archived", "webhook to
    carol cancelled (acknowledged)". A method whose id is not its kind is named: "email (home) to …"."""
    how = delivery.kind if delivery.method == delivery.kind else f"{delivery.kind} ({delivery.method})"
    said = delivery.error or delivery.answer
    if delivery.state == "sent":
        text = f"{how} to {delivery.person} accepted by {PEERS[delivery.kind]}"
        text += f": {delivery.answer}" if delivery.answer else ""
        text += f" (attempt {delivery.attempts})"
    elif delivery.state == "failed":
        text = f"{how} to {delivery.person} failed after {_count(delivery.attempts, 'attempt')}"
        text += f": {said}" if said else ""
    else:
        text = f"{how} to {delivery.person} cancelled" + (f" ({said})" if said else "")
    if delivery.bundled_with:
        text += f" (with {_count(delivery.bundled_with, 'other incident')})"
    return text


async def record_delivery(conn: asyncpg.Connection, delivery: DeliveryUpdated, *, now: datetime) -> bool:
    """Write `delivery_text` into the incident's timeline, once per delivery event id."""
    if await repo.get_incident_row(conn, delivery.incident_id) is None:
        return False
    entry = Entry("delivery", delivery_text(delivery), "notifier")
    await repo.add_timeline(conn, delivery.incident_id, [entry], at=delivery.occurred_at,
                            dedup_key=f"delivery:{delivery.event_id}")
    return True


async def record_deliveries(conn: asyncpg.Connection, deliveries: Sequence[DeliveryUpdated], *, clock: Clock) -> None:
    """`record_delivery` for each delivery, in order, in the caller's transaction (a consumer poll)."""
    for delivery in deliveries:
        await record_delivery(conn, delivery, now=clock())
