"""Request and response models of the operations API (postmortems, action items, noise marks,
reports, handoffs and the simple records)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from services.incidents.schemas import Actor, Body
from services.incidents.silencing.schemas import MATCHERS_DOC, Matchers
from shared.api_types import Day, Instant

Priority = Literal["P1", "P2", "P3"]
Short = Field(default=None, max_length=500)
ListOfLines = Field(default=None, max_length=100)


class TimelineLine(Body):
    at: Instant
    text: str = Field(min_length=1, max_length=2_000)
    actor: str | None = Field(default=None, max_length=200)


class PostmortemEdit(Actor):
    """Only the fields sent change."""

    status: Literal["draft", "in_review", "published"] | None = None
    author: str | None = Field(default=None, max_length=200)
    reviewers: list[str] | None = Field(default=None, max_length=50)
    summary: str | None = Field(default=None, max_length=10_000)
    impact: str | None = Field(default=None, max_length=10_000)
    root_cause: str | None = Field(default=None, max_length=20_000)
    resolution: str | None = Field(default=None, max_length=20_000)
    timeline: list[TimelineLine] | None = Field(default=None, max_length=1_000)
    went_well: list[str] | None = ListOfLines
    went_poorly: list[str] | None = ListOfLines
    lessons: list[str] | None = ListOfLines
    checklist: dict[str, bool] | None = Field(
        default=None, description="2.3 checklist ticks: service_restored, metrics_normalized, user_confirmation, "
        "postmortem_scheduled, communication_sent (action_items_created follows the action items)"
    )
    review_at: Instant | None = Field(default=None, description="when the postmortem meeting is; ticks 'postmortem scheduled'")


class ChecklistItem(BaseModel):
    key: str
    section: str
    label: str
    done: bool


class ActionItemOut(BaseModel):
    id: int
    incident: str | None
    postmortem_id: int | None
    title: str
    owner: str
    priority: Priority
    due_on: date
    status: str
    overdue: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class PostmortemOut(BaseModel):
    id: int
    incident: str
    incident_title: str
    severity: int
    status: str
    author: str | None
    reviewers: list[str]
    summary: str | None
    impact: str | None
    duration_s: float | None
    root_cause: str | None
    resolution: str | None
    timeline: list[dict[str, Any]]
    went_well: list[str]
    went_poorly: list[str]
    lessons: list[str]
    checklist: list[ChecklistItem]
    review_at: datetime | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    action_items: list[ActionItemOut]
    markdown: str


class PostmortemPolicy(Actor):
    sevs: list[int] = Field(max_length=4, description="SEVs (1-4) whose resolve opens a postmortem; [] turns it off")

    @field_validator("sevs")
    @classmethod
    def _sevs(cls, value: list[int]) -> list[int]:
        if not all(1 <= v <= 4 for v in value):
            raise ValueError("SEV numbers 1-4")
        return sorted(set(value))


class PostmortemPolicyOut(BaseModel):
    sevs: list[int]


class NewActionItem(Actor):
    title: str = Field(min_length=1, max_length=500)
    owner: str = Field(min_length=1, max_length=200)
    priority: Priority
    due_on: Day | None = Field(default=None, description="defaults by priority: P1 7 days, P2 30, P3 90")
    incident: str | None = Field(default=None, max_length=30, description="INC-<n> it follows up on")


class ActionItemEdit(Actor):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    priority: Priority | None = None
    due_on: Day | None = None
    status: Literal["open", "in_progress", "done", "wont_do"] | None = None


class NoiseMark(Actor):
    noise: bool = Field(default=True, description="true: the incident's alerts were false positives; false: take it back")
    reason: str | None = Short


# --- stored reports and handoffs


class GenerateReport(Actor):
    day: Day | None = Field(default=None, description="daily check: the day (default today in the report zone)")
    week_of: Day | None = Field(default=None, description="weekly review: any day of the week (default this week)")
    month: str | None = Field(default=None, max_length=7, description="monthly review: YYYY-MM (default this month)")


class AnomalyRow(Body):
    time: str = Field(max_length=50, description="e.g. 08:15")
    observation: str = Field(min_length=1, max_length=2_000)
    action: str = Field(default="", max_length=2_000)


class ReportManual(Actor):
    """What a person adds to a generated report; only the fields sent change."""

    operator: str | None = Field(default=None, max_length=200)
    author: str | None = Field(default=None, max_length=200)
    attendees: list[str] | None = Field(default=None, max_length=50)
    checks: dict[str, bool] | None = Field(default=None, description="daily check: manual items ticked")
    anomalies: list[AnomalyRow] | None = Field(default=None, max_length=100, description="daily check: rows a person adds")
    executive_summary: str | None = Field(default=None, max_length=10_000)
    recommendations: list[str] | None = Field(default=None, max_length=50)
    cost_analysis: str | None = Field(default=None, max_length=10_000)


class NewHandoff(Actor):
    from_person: str = Field(min_length=1, max_length=200)
    to_person: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=10_000)
    things_to_watch: list[str] = Field(default_factory=list, max_length=50)


class OpenItem(Body):
    item: str = Field(min_length=1, max_length=500)
    priority: str = Field(default="", max_length=20)
    context: str = Field(default="", max_length=2_000)


class CompleteHandoff(Actor):
    """The outgoing engineer completes the drafted handoff (or edits one not yet acknowledged)."""

    note: str | None = Field(default=None, max_length=10_000)
    things_to_watch: list[str] = Field(default_factory=list, max_length=50)
    open_items: list[OpenItem] | None = Field(
        default=None, max_length=100, description="Replace the prefilled open items (omit: keep them).")


class HandoffAck(Actor):
    """The incoming engineer acknowledges: a person's token or session must be the handoff's
    `to_person`; a service account acting for a person says so with `by` (then `to_person`)."""


class ReportOut(BaseModel):
    id: int
    kind: str
    period: str
    period_start: datetime
    period_end: datetime
    data: dict[str, Any]
    manual: dict[str, Any]
    markdown: str
    generated_by: str
    generated_at: datetime
    updated_at: datetime


class HandoffOut(BaseModel):
    id: int
    from_person: str
    to_person: str
    note: str | None
    things_to_watch: list[str]
    data: dict[str, Any]
    markdown: str
    created_by: str
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    status: Literal["draft", "completed", "acknowledged", "flagged"] = Field(
        description="draft: the outgoing engineer completes it; flagged: not acknowledged when the overlap ended")
    handover_id: str | None = Field(description="The escalator's handover it was drafted for; null: written by hand")
    schedule: str | None
    handover_at: datetime | None = Field(description="When the incoming engineer starts")
    overlap_ends_at: datetime | None = Field(description="When the outgoing engineer stops: acknowledge by then")
    completed_at: datetime | None
    ack_requested_at: datetime | None
    flagged_at: datetime | None
    rotation_checked: bool | None = Field(
        description="Whether from/to were checked against the escalator's rotation (false: `rotation_note` says why not)")
    rotation_note: str | None


# --- the simple records


class NewRunbook(Actor):
    name: str = Field(min_length=1, max_length=200)
    link: str | None = Short
    owner: str | None = Field(default=None, max_length=200)
    last_updated_on: Day | None = None
    last_tested_on: Day | None = None
    last_test_result: Literal["pass", "fail"] | None = None
    next_review_on: Day | None = None


class RunbookEdit(NewRunbook):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class NewToil(Actor):
    task: str = Field(min_length=1, max_length=300)
    frequency: Literal["daily", "weekly", "monthly"]
    minutes_per_occurrence: int = Field(ge=1, le=24 * 60)
    month: Day | None = Field(default=None, description="the month measured (any day of it; default this month)")
    automation_effort: str | None = Field(default=None, max_length=200, description="e.g. 2 days")
    monthly_savings_minutes: int | None = Field(default=None, ge=0, description="default: the monthly total")

    @field_validator("month")
    @classmethod
    def _first_day(cls, value: date | None) -> date | None:
        return value.replace(day=1) if value else None


class ToilEdit(NewToil):
    task: str | None = Field(default=None, min_length=1, max_length=300)
    frequency: Literal["daily", "weekly", "monthly"] | None = None
    minutes_per_occurrence: int | None = Field(default=None, ge=1, le=24 * 60)


class NewReliabilityGap(Actor):
    gap: str = Field(min_length=1, max_length=500)
    priority: Priority
    impact: str | None = Short
    improvement: str | None = Short
    owner: str | None = Field(default=None, max_length=200)
    target_on: Day | None = None
    status: Literal["planned", "in_progress", "done"] = "planned"


class ReliabilityGapEdit(NewReliabilityGap):
    gap: str | None = Field(default=None, min_length=1, max_length=500)
    priority: Priority | None = None
    status: Literal["planned", "in_progress", "done"] | None = None


class NewDeployment(Actor):
    change: str = Field(min_length=1, max_length=300, description="what was deployed, e.g. v2.1.5")
    service: str | None = Field(default=None, max_length=200)
    deployed_at: Instant | None = Field(default=None, description="default: now")
    status: Literal["success", "failed", "rolled_back"] = "success"
    issues: str | None = Short


class DeploymentEdit(NewDeployment):
    change: str | None = Field(default=None, min_length=1, max_length=300)
    status: Literal["success", "failed", "rolled_back"] | None = None


SCOPE_SERVICE = ("Scope: alerts whose `service` label is this. With a scope, a new incident opened from an alert in "
                 "it while the window runs is suppressed: recorded and visible, no page, no ticket. Incidents open "
                 "before keep their escalation. Without a service or matchers the window is a record only.")
SCOPE_MATCHERS = "Scope: " + MATCHERS_DOC + " With a service too, both must match."


class NewMaintenance(Actor):
    starts_at: Instant
    ends_at: Instant | None = Field(default=None, description="default: one hour after the start")
    activity: str = Field(min_length=1, max_length=500)
    impact: str | None = Short
    service: str | None = Field(default=None, min_length=1, max_length=200, description=SCOPE_SERVICE)
    matchers: Matchers = Field(default_factory=list, max_length=50, description=SCOPE_MATCHERS)

    @model_validator(mode="after")
    def _ends_after_start(self) -> NewMaintenance:
        if self.ends_at is None:
            self.ends_at = self.starts_at + timedelta(hours=1)
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class MaintenanceEdit(Actor):
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    activity: str | None = Field(default=None, min_length=1, max_length=500)
    impact: str | None = Short
    service: str | None = Field(default=None, min_length=1, max_length=200, description=SCOPE_SERVICE)
    matchers: Matchers | None = Field(default=None, max_length=50, description=SCOPE_MATCHERS)
