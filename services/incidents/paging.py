"""The units of work of the page and ticket consumer: the pages and tickets the escalator
requested, written into their incident's timeline once per page (ticket) id, inside the caller's
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.incidents import repository as repo
from services.incidents.lifecycle import Entry
from shared.clock import Clock
from shared.events import PageRequested, TicketRequested


async def record_page(conn: asyncpg.Connection, page: PageRequested, *, now: datetime) -> bool:
    """Write "paged <who> (<reason>)" into the incident's timeline, once per page id."""
    if await repo.get_incident_row(conn, page.incident_id) is None:
        return False
    verb = "paged" if page.channel == "page" else "notified"
    entry = Entry("page", f"{verb} {page.target} ({page.reason})", "escalator")
    await repo.add_timeline(conn, page.incident_id, [entry], at=page.occurred_at, dedup_key=f"page:{page.page_id}")
    return True


async def record_ticket(conn: asyncpg.Connection, ticket: TicketRequested, *, now: datetime) -> bool:
    if await repo.get_incident_row(conn, ticket.incident_id) is None:
        return False
    entry = Entry("ticket", f"ticket {ticket.ticket_id} due {ticket.due_at.isoformat()}", "escalator")
    await repo.add_timeline(conn, ticket.incident_id, [entry], at=ticket.occurred_at, dedup_key=f"ticket:{ticket.ticket_id}")
    return True


async def record_pages(conn: asyncpg.Connection, pages: Sequence[PageRequested], *, clock: Clock) -> None:
    """`record_page` for each page, in order, in the caller's transaction (a consumer poll)."""
    for page in pages:
        await record_page(conn, page, now=clock())


async def record_tickets(conn: asyncpg.Connection, tickets: Sequence[TicketRequested], *, clock: Clock) -> None:
    """`record_ticket` for each ticket, in order, in the caller's transaction (a consumer poll)."""
    for ticket in tickets:
        await record_ticket(conn, ticket, now=clock())
