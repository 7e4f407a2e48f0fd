"""The units of work of the incident service: what the alert consumer, the page/ticket consumer and
the HTTP routes do, inside the caller's transaction. Decisions come from the pure modules
(`alerts`, `lifecycle`); this module carries them out with the repository and the outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.incidents import repository as repo
from services.incidents.alerts import Outcome, classify, group_of, timeline_text, title_of
from services.incidents.config import GroupingRules
from services.incidents.lifecycle import Change, Entry, Incident, alert_severity_seen, all_alerts_resolved, reopen
from shared.events import AlertEvent, IncidentEvent, PageRequested, TicketRequested
from shared.outbox import enqueue

CE_SOURCE = "/vigil/incidents"


class NotFound(Exception):
    pass


async def publish(conn: asyncpg.Connection, row: asyncpg.Record, kinds: list[str], *, actor: str | None, now: datetime) -> None:
    for kind in kinds:
        event = IncidentEvent(
            event_id=IncidentEvent.id_for(incident_id=row["id"], version=row["version"], kind=kind),
            occurred_at=now, source="incidents", kind=kind, incident_id=row["id"], number=f"INC-{row['id']}",
            version=row["version"], title=row["title"], severity=row["severity"], status=row["status"],
            acknowledged_by=row["acknowledged_by"], commander=row["commander"], actor=actor,
            labels=row["labels"], detected_at=row["detected_at"],
        )
        await enqueue(conn, schema=repo.SCHEMA, event=event, ce_source=CE_SOURCE)


async def apply(conn: asyncpg.Connection, change: Change, *, now: datetime, actor: str | None = None) -> asyncpg.Record:
    """Store a lifecycle decision: the incident, its timeline entries and its events (outbox)."""
    incident = change.incident
    await repo.save_lifecycle(conn, incident, now)
    await repo.add_timeline(conn, incident.id, change.entries, at=now)
    row = await repo.get_incident_row(conn, incident.id)
    actor = actor or (change.entries[0].actor if change.entries else None)
    await publish(conn, row, list(change.events), actor=actor, now=now)
    return row


async def change_incident(
    conn: asyncpg.Connection, incident_id: int, decide: Callable[[Incident], Change], *, now: datetime
) -> tuple[asyncpg.Record, Change]:
    """Lock the incident, let `decide` (a lifecycle function; may raise Refused) say what changes,
    and store it. An idempotent repeat writes nothing."""
    row = await repo.get_incident_row(conn, incident_id, for_update=True)
    if row is None:
        raise NotFound(f"no incident INC-{incident_id}")
    change = decide(repo.incident_from_row(row))
    if change.changed:
        row = await apply(conn, change, now=now)
    return row, change


async def open_incident(
    conn: asyncpg.Connection, *, group_key: str, title: str, severity: int, detected_by: str, labels: dict,
    started_at: datetime, now: datetime, actor: str, opened_text: str, impact_text: str | None = None,
    commander: str | None = None, severity_source: str = "alerts", detected_at: datetime | None = None,
) -> asyncpg.Record | None:
    """Open a new incident; None if the group already has an open one (a concurrent transaction won)."""
    incident_id = await repo.insert_incident(
        conn, group_key=group_key, title=title, severity=severity, detected_by=detected_by, labels=labels,
        started_at=started_at, detected_at=detected_at or now, impact_text=impact_text, commander=commander,
        severity_source=severity_source,
    )
    if incident_id is None:
        return None
    await repo.add_timeline(conn, incident_id, [Entry("opened", opened_text, actor)], at=now)
    row = await repo.get_incident_row(conn, incident_id)
    await publish(conn, row, ["opened"], actor=actor, now=now)
    return row


async def handle_alert(conn: asyncpg.Connection, event: AlertEvent, *, rules: GroupingRules, now: datetime) -> Outcome | None:
    """Fold one alert event into occurrences and incidents. Returns what it was (None: a duplicate
    event id, nothing done)."""
    if not await repo.mark_processed(conn, event.event_id):
        return None
    occurrence = await repo.get_occurrence(conn, event.fingerprint, event.starts_at)
    outcome = classify(event, occurrence)
    severity = rules.severity_of(event.labels)
    group = group_of(event, group_by=rules.group_by)
    if outcome in (Outcome.REPEAT, Outcome.STALE_FIRING, Outcome.REPEAT_RESOLVE):
        await repo.touch_occurrence(conn, event, now)
    elif outcome is Outcome.ORPHAN_RESOLVE:
        await repo.insert_occurrence(conn, event=event, incident_id=None, severity=severity, group_key=group, now=now)
    elif outcome is Outcome.NEW_FIRING:
        await _attach_new_firing(conn, event, severity=severity, group=group, rules=rules, now=now)
    elif outcome is Outcome.RESOLVE:
        await repo.resolve_occurrence(conn, event, now)
        if occurrence.incident_id is not None:
            await _alert_resolved(conn, event, occurrence.incident_id, rules=rules, now=now)
    return outcome


async def _attach_new_firing(
    conn: asyncpg.Connection, event: AlertEvent, *, severity: int, group: str, rules: GroupingRules, now: datetime
) -> None:
    incident = await repo.open_incident_of_group(conn, group)
    if incident is None and rules.reopen_window is not None:
        resolved = await repo.recently_resolved_with_fingerprint(conn, event.fingerprint, now - rules.reopen_window)
        if resolved is not None:
            change = reopen(resolved, by="vigil", reason=f"alert {event.fingerprint} fired again", now=now)
            await apply(conn, change, now=now)
            incident = change.incident
    if incident is None:
        row = await open_incident(
            conn, group_key=group, title=title_of(event), severity=severity, detected_by="alert",
            labels=event.labels, started_at=event.starts_at, now=now, actor="vigil",
            detected_at=event.occurred_at,  # when Vigil received the alert, not when it was folded
            opened_text=f"opened from alert {event.labels.get('alertname', event.fingerprint)}",
        )
        if row is None:  # another consumer opened the group's incident a moment ago
            incident = await repo.open_incident_of_group(conn, group)
        else:
            incident = repo.incident_from_row(row)
    await repo.insert_occurrence(conn, event=event, incident_id=incident.id, severity=severity, group_key=group, now=now)
    await repo.note_alert_start(conn, incident.id, event.starts_at)
    await repo.add_timeline(conn, incident.id, [Entry("alert_firing", timeline_text(event), "alertmanager")], at=now)
    change = alert_severity_seen(incident, severity=severity)
    if change.changed:
        await apply(conn, change, now=now)


async def _alert_resolved(conn: asyncpg.Connection, event: AlertEvent, incident_id: int, *, rules: GroupingRules, now: datetime) -> None:
    row = await repo.get_incident_row(conn, incident_id, for_update=True)
    await repo.add_timeline(conn, incident_id, [Entry("alert_resolved", timeline_text(event), "alertmanager")], at=now)
    if await repo.firing_count(conn, incident_id) == 0:
        change = all_alerts_resolved(repo.incident_from_row(row), auto_resolve_sevs=rules.auto_resolve_sevs, now=now)
        if change.changed:
            await apply(conn, change, now=now)


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
