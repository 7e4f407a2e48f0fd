"""The shift-change handoff flow's units of work (the words and decisions are in the pure
`handovers`): a `HandoverDue` from vigil.handovers.v1 becomes a draft handoff, prefilled, with its
`handoff_due` message to the outgoing person in the same transaction (once per handover id: the
column is unique); the check every `incidents_schedule_check_s` claims, `FOR UPDATE SKIP LOCKED`,
the handoffs whose overlap started (the incoming person is asked once, `ack_requested_at`) and those
whose overlap ended unacknowledged (flagged once to the team, `flagged_at`). After downtime a
handoff whose overlap already ended is flagged without asking for the acknowledgement first."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from fastapi.encoders import jsonable_encoder
from prometheus_client import Counter

from services.incidents import repository as incident_repo
from services.incidents.lifecycle import SYSTEM
from services.incidents.ops import handoff_repository, service
from services.incidents.ops.handovers import (
    Notice,
    ack_notice,
    due_notice,
    event_id,
    period,
    unacknowledged_notice,
)
from shared.clock import Clock
from shared.events import HandoverDue, ReportPublished
from shared.metrics import own_registry
from shared.outbox import enqueue

log = structlog.get_logger("vigil.incidents.handoffs")

CE_SOURCE = "/vigil/incidents"
MACHINES = [SYSTEM, "escalator", "notifier", "schedule", "rotation"]  # not "actions taken" by a person
WEEK = timedelta(days=7)
SENT = Counter("vigil_incidents_handoff_messages_total", "Handoff flow messages put into the outbox", ["kind"],
               registry=own_registry(__name__))


async def prefilled(conn: asyncpg.Connection, *, now: datetime, today: date) -> dict:
    """What the outgoing person hands over (`service.handoff_data`: open incidents and action items,
    the last week's incidents, maintenance) with the pending tickets of open incidents, the actions
    people took this week and the silences in force."""
    data = await service.handoff_data(conn, now=now, today=today)
    tickets = await handoff_repository.pending_tickets(conn)
    actions = await handoff_repository.actions_between(conn, now - WEEK, now + timedelta(seconds=1), not_by=MACHINES)
    silences = await handoff_repository.silences_in_force(conn, now=now)
    data |= jsonable_encoder({
        "pending_tickets": [{"at": t["at"], "text": t["text"], "number": f"INC-{t['incident_id']}", "title": t["title"]}
                            for t in tickets],
        "actions_this_week": [{"at": a["at"], "kind": a["kind"], "text": a["text"], "actor": a["actor"],
                               "number": f"INC-{a['incident_id']}"} for a in actions],
        "silences": [{"id": s["id"], "starts_at": s["starts_at"], "ends_at": s["ends_at"], "created_by": s["created_by"],
                      "comment": s["comment"], "matchers": ", ".join(f"{m['name']}{m['op']}{m['value']}" for m in s["matchers"])}
                     for s in silences],
    })
    return data


async def send(conn: asyncpg.Connection, notice: Notice, *, handoff_id: int, console_url: str | None, now: datetime) -> None:
    event = ReportPublished(
        event_id=event_id(notice.kind, handoff_id), occurred_at=now, source="incidents", kind=notice.kind,
        period=period(handoff_id), title=notice.title[:200], summary=notice.summary[:2000],
        url=f"{console_url}/operations/handoffs/{handoff_id}" if console_url else None, recipients=notice.recipients,
    )
    await enqueue(conn, schema=incident_repo.SCHEMA, event=event, ce_source=CE_SOURCE)
    SENT.labels(kind=notice.kind).inc()


async def receive_handover(conn: asyncpg.Connection, event: HandoverDue, *, zone: str, console_url: str | None,
                           now: datetime) -> bool:
    """The handover's draft and its message to the outgoing person; False when it had one already."""
    today = now.astimezone(ZoneInfo(zone)).date()
    data = await prefilled(conn, now=now, today=today)
    draft = {"from_person": event.from_person, "to_person": event.to_person, "note": None, "things_to_watch": [],
             "data": data, "created_at": now, "acknowledged_by": None, "acknowledged_at": None, "status": "draft",
             "schedule": event.schedule, "handover_at": event.at, "overlap_ends_at": event.overlap_ends_at,
             "rotation_checked": True}
    row = await handoff_repository.insert_draft(
        conn, handover_id=event.handover_id, schedule=event.schedule, from_person=event.from_person,
        to_person=event.to_person, handover_at=event.at, overlap_ends_at=event.overlap_ends_at, data=data,
        markdown=service.render_handoff(draft, zone=zone), now=now,
    )
    if row is None:
        return False
    await send(conn, due_notice(dict(row), zone=zone), handoff_id=row["id"], console_url=console_url, now=now)
    log.info("handoff drafted", handoff_id=row["id"], schedule=event.schedule, from_person=event.from_person,
             to_person=event.to_person, at=event.at.isoformat())
    return True


async def check_handoffs(pool: asyncpg.Pool, *, clock: Clock, zone: str, console_url: str | None,
                         team: tuple[str, ...], batch: int = 100) -> int:
    """One check: ask for the acknowledgements due and flag the handoffs whose overlap ended
    unacknowledged, each once; returns how many messages it sent."""
    now = clock()
    sent = 0
    async with pool.acquire() as conn, conn.transaction():
        for row in await handoff_repository.unacknowledged(conn, now=now, limit=batch):
            flagged = {**dict(row), "status": "flagged", "flagged_at": now}
            updated = await handoff_repository.flag_handoff(conn, row["id"], markdown=service.render_handoff(flagged, zone=zone), now=now)
            await send(conn, unacknowledged_notice(dict(row), zone=zone, team=team), handoff_id=row["id"],
                       console_url=console_url, now=now)
            log.warning("handoff not acknowledged by the end of the overlap", handoff_id=updated["id"],
                        from_person=row["from_person"], to_person=row["to_person"])
            sent += 1
        for row in await handoff_repository.claim_ack_requests(conn, now=now, limit=batch):
            await send(conn, ack_notice(dict(row), zone=zone), handoff_id=row["id"], console_url=console_url, now=now)
            sent += 1
    return sent
