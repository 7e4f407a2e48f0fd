"""Acknowledgements that arrive with the alerts: a monitoring tool that speaks PagerDuty's Events API
v2 acknowledges its alert (`event_action: acknowledge`), ingest puts an `AlertAcknowledged` on
`vigil.alerts.v1` keyed by the alert's fingerprint, and here the incident that alert belongs to is
acknowledged with the integration as the actor, the same lifecycle decision a person's
acknowledgement makes. Being on the alert's own partition, it is read after the alert's firing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import asyncpg
import structlog

from services.incidents import lifecycle, repository as repo, service
from shared.clock import Clock
from shared.events import AlertAcknowledged, AlertEvent

log = structlog.get_logger("vigil.incidents")

FoldAlerts = Callable[[asyncpg.Connection, list[AlertEvent]], Awaitable[object]]


async def acknowledge_alert(conn: asyncpg.Connection, event: AlertAcknowledged, *, now: datetime) -> str:
    """Acknowledge the incident of the acknowledged alert occurrence, once per event id. Returns what
    happened, for the log: an acknowledgement of an alert that is not firing (resolved, never seen)
    or whose incident is resolved changes nothing, as in PagerDuty."""
    if not await repo.mark_processed(conn, event.event_id):
        return "duplicate"
    occurrence = await repo.get_occurrence(conn, event.fingerprint, event.starts_at)
    if occurrence is None or occurrence.status != "firing" or occurrence.incident_id is None:
        return "no firing alert"
    try:
        _row, change = await service.change_incident(
            conn, occurrence.incident_id, lambda incident: lifecycle.acknowledge(incident, by=event.actor, now=now), now=now,
        )
    except lifecycle.Refused as exc:  # its incident is resolved
        return f"refused: {exc}"
    return "acknowledged" if change.changed else "already acknowledged"


def holds_acknowledgements(events: Sequence[AlertEvent | AlertAcknowledged]) -> bool:
    return any(isinstance(event, AlertAcknowledged) for event in events)


async def fold_in_order(
    conn: asyncpg.Connection, events: Sequence[AlertEvent | AlertAcknowledged], *, fold_alerts: FoldAlerts, clock: Clock,
) -> None:
    """A poll that holds acknowledgements, in the caller's transaction and in the poll's order: each
    run of alert events between them goes to `fold_alerts` as one batch, each acknowledgement is
    applied where it stands (after the firing it acknowledges, before a later resolve)."""
    run: list[AlertEvent] = []
    for event in events:
        if isinstance(event, AlertAcknowledged):
            if run:
                await fold_alerts(conn, run)
                run = []
            with structlog.contextvars.bound_contextvars(fingerprint=event.fingerprint, event_id=event.event_id):
                outcome = await acknowledge_alert(conn, event, now=clock())
                log.info("alert acknowledged by its sender", actor=event.actor, outcome=outcome)
        else:
            run.append(event)
    if run:
        await fold_alerts(conn, run)
