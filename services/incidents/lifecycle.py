"""PURE: the incident lifecycle. Every change a person or an alert makes is decided here, with `now`
passed in; the result says what the incident becomes, what goes into the timeline and which
lifecycle events are published. Refused changes raise `Refused` with the reason (HTTP 409)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from services.incidents.severity import DEFAULT_CALENDAR, response_deadline
from shared.business_calendar import BusinessCalendar

Status = Literal["investigating", "mitigating", "resolved"]
EventKind = Literal[
    "opened", "acknowledged", "unacknowledged", "status_changed", "severity_changed",
    "commander_assigned", "resolved", "reopened", "alerts_resolved", "alerts_firing", "unsuppressed",
]
SYSTEM = "vigil"


class Refused(Exception):
    """The change is not allowed in the incident's current state; the message says why."""

    error = "conflict"


class StillFiring(Refused):
    """Resolving an incident whose alerts still fire needs a confirmation."""

    error = "alerts_firing"


@dataclass(frozen=True)
class Incident:
    id: int
    status: Status
    severity: int
    severity_source: Literal["alerts", "person"]
    detected_at: datetime
    started_at: datetime
    commander: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    root_cause: str | None = None
    contributing_factors: str | None = None
    fix_applied: str | None = None


@dataclass(frozen=True)
class Resolution:
    root_cause: str | None = None
    contributing_factors: str | None = None
    fix_applied: str | None = None


@dataclass(frozen=True)
class Entry:
    """One timeline line."""

    kind: str
    text: str
    actor: str | None


@dataclass(frozen=True)
class Change:
    """What a decision does: the incident after it, timeline entries, lifecycle events to publish.
    `changed` is False for an idempotent repeat (acknowledging twice): nothing is written."""

    incident: Incident
    entries: list[Entry] = field(default_factory=list)
    events: list[EventKind] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.entries or self.events)


def _open(incident: Incident, action: str) -> None:
    if incident.status == "resolved":
        raise Refused(f"INC-{incident.id} is resolved; reopen it before you {action}")


def acknowledge(incident: Incident, *, by: str, now: datetime) -> Change:
    _open(incident, "acknowledge it")
    if incident.acknowledged_at is not None:
        return Change(incident)
    after = replace(incident, acknowledged_at=now, acknowledged_by=by)
    return Change(after, [Entry("acknowledged", f"acknowledged by {by}", by)], ["acknowledged"])


def unacknowledge(incident: Incident, *, by: str, reason: str, now: datetime) -> Change:
    _open(incident, "unacknowledge it")
    if incident.acknowledged_at is None:
        return Change(incident)
    after = replace(incident, acknowledged_at=None, acknowledged_by=None)
    return Change(after, [Entry("unacknowledged", f"unacknowledged: {reason}", by)], ["unacknowledged"])


def set_status(incident: Incident, *, status: Status, by: str, now: datetime, resolution: Resolution | None = None) -> Change:
    if status == "resolved":
        return resolve(incident, by=by, now=now, resolution=resolution or Resolution())
    if incident.status == "resolved":
        raise Refused(f"INC-{incident.id} is resolved; use reopen to work on it again")
    if incident.status == status:
        return Change(incident)
    mitigated_at = (incident.mitigated_at or now) if status == "mitigating" else None
    after = replace(incident, status=status, mitigated_at=mitigated_at)
    text = f"status {incident.status} → {status}"
    return Change(after, [Entry("status_changed", text, by)], ["status_changed"])


def resolve(incident: Incident, *, by: str, now: datetime, resolution: Resolution, firing: int = 0,
            even_if_firing: bool = False) -> Change:
    """`firing`: how many of its alerts still fire. Resolving then needs `even_if_firing` (the
    problem may still be there), and the timeline records that it was resolved so."""
    if incident.status == "resolved":
        return Change(incident)
    alerts = f"{firing} alert{'s' if firing != 1 else ''}"
    if firing and not even_if_firing:
        raise StillFiring(f"INC-{incident.id} still has {alerts} firing: resolve it anyway with even_if_firing "
                          "(the timeline records it), or wait until they resolve")
    after = replace(
        incident,
        status="resolved",
        resolved_at=now,
        mitigated_at=incident.mitigated_at or now,
        root_cause=resolution.root_cause or incident.root_cause,
        contributing_factors=resolution.contributing_factors or incident.contributing_factors,
        fix_applied=resolution.fix_applied or incident.fix_applied,
    )
    text = f"resolved by {by}" + (f" while {alerts} still fired" if firing else "")
    return Change(after, [Entry("resolved", text, by)], ["resolved"])


def reopen(incident: Incident, *, by: str, reason: str, now: datetime) -> Change:
    if incident.status != "resolved":
        raise Refused(f"INC-{incident.id} is not resolved (it is {incident.status})")
    # A reopened incident needs a response again: its acknowledgement is cleared so escalation restarts.
    after = replace(
        incident, status="investigating", resolved_at=None, mitigated_at=None, acknowledged_at=None, acknowledged_by=None
    )
    return Change(after, [Entry("reopened", f"reopened: {reason}", by)], ["reopened"])


def set_severity(incident: Incident, *, severity: int, by: str, now: datetime) -> Change:
    if not 1 <= severity <= 4:
        raise Refused("severity must be 1 (SEV1) to 4 (SEV4)")
    if incident.severity == severity and incident.severity_source == "person":
        return Change(incident)
    after = replace(incident, severity=severity, severity_source="person")
    if incident.severity == severity:  # a person confirms it: it is no longer derived from alerts
        return Change(after, [Entry("severity_changed", f"SEV{severity} confirmed by {by}", by)], [])
    text = f"severity SEV{incident.severity} → SEV{severity}"
    return Change(after, [Entry("severity_changed", text, by)], ["severity_changed"])


def assign_commander(incident: Incident, *, commander: str, by: str, now: datetime) -> Change:
    if incident.commander == commander:
        return Change(incident)
    after = replace(incident, commander=commander)
    return Change(after, [Entry("commander_assigned", f"commander: {commander}", by)], ["commander_assigned"])


def alert_severity_seen(incident: Incident, *, severity: int) -> Change:
    """An alert of `severity` joined: the incident takes the highest of its alerts' severities,
    unless a person set it."""
    if incident.severity_source == "person" or severity >= incident.severity:
        return Change(incident)
    after = replace(incident, severity=severity)
    text = f"severity SEV{incident.severity} → SEV{severity} (alert of higher severity)"
    return Change(after, [Entry("severity_changed", text, SYSTEM)], ["severity_changed"])


def all_alerts_resolved(incident: Incident, *, auto_resolve_sevs: frozenset[int], now: datetime) -> Change:
    """Every alert of the incident resolved. Low severities resolve by themselves; SEV1/SEV2 (by
    default) move to Mitigating and wait for a person, because they need a postmortem."""
    if incident.status == "resolved":
        return Change(incident)
    if incident.severity in auto_resolve_sevs:
        change = resolve(incident, by=SYSTEM, now=now, resolution=Resolution())
        return Change(change.incident, [Entry("resolved", "all alerts resolved: resolved automatically", SYSTEM)], change.events)
    note = Entry("alerts_resolved", f"all alerts resolved; SEV{incident.severity} waits for a person to resolve it, "
                 "and nobody more is paged for it unless an alert fires again", SYSTEM)
    if incident.status == "mitigating":
        return Change(incident, [note], ["alerts_resolved"])
    # One event (its status says Mitigating): the escalator stops the pages it still had planned.
    change = set_status(incident, status="mitigating", by=SYSTEM, now=now)
    return Change(change.incident, [note, *change.entries], ["alerts_resolved"])


def alert_fired_again(incident: Incident, *, alert: str) -> Change:
    """An alert fired into an incident whose alerts had all resolved (it waits in Mitigating for a
    person): escalation resumes, since the problem is back."""
    text = f"alert {alert} fired again after every alert had resolved: escalation resumes"
    return Change(incident, [Entry("alerts_firing", text, SYSTEM)], ["alerts_firing"])


def maintenance_ended(incident: Incident, *, window: int, firing: int) -> Change:
    """The maintenance window that suppressed this open incident has ended: from now on it pages
    like any other, at once if its alerts still fire."""
    if firing:
        text = f"maintenance window {window} ended while {firing} of its alerts still fire: escalation starts"
        return Change(incident, [Entry("unsuppressed", text, SYSTEM)], ["unsuppressed"])
    text = f"maintenance window {window} ended; its alerts have resolved: an alert firing again pages"
    return Change(incident, [Entry("unsuppressed", text, SYSTEM)], [])


def flapping(changes: int, *, limit: int) -> bool:
    """Whether `changes` alert state changes (firing, resolved) within the flap window are too many
    (`limit` 0: flap detection off)."""
    return limit > 0 and changes >= limit


def flapping_started(incident: Incident, *, changes: int, window: timedelta) -> Change:
    text = (f"flapping: its alerts changed state {changes} times within {window.total_seconds() / 60:g} min; the "
            "incident stays open and its alerts resolving or firing again neither close it nor page again until "
            f"they are stable for {window.total_seconds() / 60:g} min")
    return Change(incident, [Entry("flapping", text, SYSTEM)], [])


def flapping_ended(incident: Incident, *, window: timedelta, firing: int) -> Change:
    state = f"{firing} alert{'s' if firing != 1 else ''} firing" if firing else "every alert resolved"
    return Change(incident, [Entry("stable", f"stable again: no alert changes for {window.total_seconds() / 60:g} min "
                                             f"({state})", SYSTEM)], [])


@dataclass(frozen=True)
class Durations:
    time_to_detect: timedelta | None
    time_to_acknowledge: timedelta | None
    time_to_mitigate: timedelta | None
    time_to_resolve: timedelta | None
    response_due_at: datetime
    response_target_met: bool | None  # None: not acknowledged yet and still within the target


def durations(incident: Incident, *, now: datetime, calendar: BusinessCalendar = DEFAULT_CALENDAR) -> Durations:
    """`calendar`: the business days and hours of the SEV4 deadline (`severity.response_deadline`)."""

    def since_detect(t: datetime | None) -> timedelta | None:
        return t - incident.detected_at if t else None

    due = response_deadline(incident.severity, incident.detected_at, calendar)
    if incident.acknowledged_at is not None:
        met: bool | None = incident.acknowledged_at <= due
    else:
        met = False if now > due else None
    return Durations(
        time_to_detect=incident.detected_at - incident.started_at,
        time_to_acknowledge=since_detect(incident.acknowledged_at),
        time_to_mitigate=since_detect(incident.mitigated_at),
        time_to_resolve=since_detect(incident.resolved_at),
        response_due_at=due,
        response_target_met=met,
    )
