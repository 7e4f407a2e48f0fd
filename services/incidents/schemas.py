"""Request and response models of the incident API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.incidents.lifecycle import durations
from services.incidents.repository import incident_from_row
from services.incidents.severity import DEFAULT_CALENDAR
from shared.api_types import Instant
from shared.business_calendar import BusinessCalendar


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Actor(Body):
    by: str | None = Field(default=None, max_length=200, description=(
        "For service accounts only: the person on whose behalf it acts, recorded as given (the notifier for a "
        "one-click link, the escalator's ack-timeout). Otherwise the change is recorded under the caller's own "
        "name; a personal token or console session naming anyone else is refused with 403."))


class Declare(Actor):
    title: str = Field(min_length=1, max_length=300)
    severity: int = Field(ge=1, le=4, description="1 = SEV1 … 4 = SEV4")
    detected_by: Literal["user_report", "monitoring", "alert"] = "user_report"
    description: str | None = Field(default=None, max_length=10_000)
    commander: str | None = Field(default=None, max_length=200)
    labels: dict[str, str] = Field(default_factory=dict, description="Routing labels (service, team, …)")
    started_at: Instant | None = None


class SetStatus(Actor):
    status: Literal["investigating", "mitigating", "resolved"]


class SetSeverity(Actor):
    severity: int = Field(ge=1, le=4)


class SetCommander(Actor):
    commander: str = Field(min_length=1, max_length=200)


class Note(Actor):
    text: str = Field(min_length=1, max_length=10_000)


class Unacknowledge(Actor):
    reason: str = Field(default="unacknowledged by a person", max_length=500)


class Reopen(Actor):
    reason: str = Field(default="reopened by a person", max_length=500)


class Resolve(Actor):
    root_cause: str | None = Field(default=None, max_length=10_000)
    contributing_factors: str | None = Field(default=None, max_length=10_000)
    fix_applied: str | None = Field(default=None, max_length=10_000)
    even_if_firing: bool = Field(default=False, description="Resolve although alerts of the incident still fire "
                                 "(without it: 409 `alerts_firing`); the timeline records it.")


class Impact(Actor):
    users_affected: str | None = Field(default=None, max_length=200, description="number or percentage")
    features_impacted: list[str] | None = None
    revenue_impact: str | None = Field(default=None, max_length=500)
    text: str | None = Field(default=None, max_length=10_000)
    status_text: str | None = Field(default=None, max_length=2_000, description="current status for stakeholders")
    next_update_at: Instant | None = None


class AttachAlert(Actor):
    fingerprint: str = Field(min_length=1, max_length=128)
    starts_at: Instant


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    text: str
    actor: str | None


class AlertItem(BaseModel):
    fingerprint: str
    starts_at: datetime
    status: str
    severity: int
    alertname: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str | None
    ends_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime


class IncidentImpact(BaseModel):
    users_affected: str | None
    features_impacted: list[str]
    revenue_impact: str | None
    text: str | None


class IncidentOut(BaseModel):
    id: int
    number: str
    version: int
    title: str
    severity: int
    severity_label: str
    severity_source: str
    status: str
    commander: str | None
    detected_by: str
    group_key: str
    labels: dict[str, str]
    impact: IncidentImpact
    started_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    root_cause: str | None
    contributing_factors: str | None
    fix_applied: str | None
    status_text: str | None
    next_update_at: datetime | None
    time_to_detect_s: float | None
    time_to_acknowledge_s: float | None
    time_to_mitigate_s: float | None
    time_to_resolve_s: float | None
    response_due_at: datetime
    response_target_met: bool | None
    suppressed_by_window: int | None = Field(
        default=None, description="Opened inside this maintenance window's scope: recorded, not paged or ticketed "
        "while the window runs")
    suppression_lifted_at: datetime | None = Field(
        default=None, description="When that window ended with the incident open: it pages like any other since")

    @classmethod
    def from_row(cls, row, *, now: datetime, calendar: BusinessCalendar = DEFAULT_CALENDAR) -> IncidentOut:
        """`calendar`: the service's business calendar (the SEV4 response deadline)."""
        d = durations(incident_from_row(row), now=now, calendar=calendar)

        def secs(td):
            return td.total_seconds() if td is not None else None

        return cls(
            id=row["id"], number=f"INC-{row['id']}", version=row["version"], title=row["title"],
            severity=row["severity"], severity_label=f"SEV{row['severity']}", severity_source=row["severity_source"],
            status=row["status"], commander=row["commander"], detected_by=row["detected_by"],
            group_key=row["group_key"], labels=row["labels"],
            impact=IncidentImpact(
                users_affected=row["impact_users"], features_impacted=list(row["impact_features"]),
                revenue_impact=row["impact_revenue"], text=row["impact_text"],
            ),
            started_at=row["started_at"], detected_at=row["detected_at"], acknowledged_at=row["acknowledged_at"],
            acknowledged_by=row["acknowledged_by"], mitigated_at=row["mitigated_at"], resolved_at=row["resolved_at"],
            root_cause=row["root_cause"], contributing_factors=row["contributing_factors"],
            fix_applied=row["fix_applied"], status_text=row["status_text"], next_update_at=row["next_update_at"],
            time_to_detect_s=secs(d.time_to_detect), time_to_acknowledge_s=secs(d.time_to_acknowledge),
            time_to_mitigate_s=secs(d.time_to_mitigate), time_to_resolve_s=secs(d.time_to_resolve),
            response_due_at=d.response_due_at, response_target_met=d.response_target_met,
            suppressed_by_window=row.get("suppressed_by_window"), suppression_lifted_at=row.get("suppression_lifted_at"),
        )


class IncidentDetail(IncidentOut):
    alerts: list[AlertItem]
    timeline: list[TimelineItem]
    timeline_total: int = Field(description="How many entries the timeline has (more than shown with `timeline_limit`).")


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class SeverityOut(BaseModel):
    severity: int = Field(description="1 = SEV1 … 4 = SEV4")
    label: str = Field(description="SEV1 … SEV4")
    level: str = Field(description="The alert level that maps to it by default: critical, high, medium, low")
    definition: str = Field(description="The operations process's definition (2.2)")
    examples: list[str]
    response_time: str = Field(description="The response target as people say it (1.3)")
    response_target_s: int | None = Field(description="The same in seconds; null for SEV4 (see `response_due`)")
    response_due: str = Field(description="When the acknowledgement is due, with this service's business calendar")
    escalation: str = Field(description="How Vigil reaches someone by default (1.3)")
    help_text: str = Field(description="One line for a form next to the choice")
