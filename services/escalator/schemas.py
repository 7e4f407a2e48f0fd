"""Request and response models of the escalator's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.api_types import Instant
from shared.events import ContactMethod, NotificationStep


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnCallOut(BaseModel):
    schedule: str
    at: datetime
    primary: list[str] = Field(description="Two names during a handoff overlap (outgoing first); empty in a gap.")
    backup: list[str]


class ShiftOut(BaseModel):
    schedule: str
    tier: Literal["primary", "backup"]
    person: str
    start_at: datetime
    end_at: datetime
    number: int | None = Field(description="The rotation's shift number; null for an override.")


class GapOut(BaseModel):
    schedule: str
    tier: Literal["primary", "backup"]
    start_at: datetime
    end_at: datetime
    minutes: float


class NewOverride(Body):
    tier: Literal["primary", "backup"] = "primary"
    person: str = Field(max_length=200, description="Who covers; '' for nobody (a deliberate hole, reported as a gap).")
    start_at: Instant
    end_at: Instant

    @model_validator(mode="after")
    def _ordered(self) -> NewOverride:
        if self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        return self


class OverrideOut(BaseModel):
    id: int
    schedule: str
    tier: str
    person: str
    start_at: datetime
    end_at: datetime
    created_by: str
    created_at: datetime
    removed_by: str | None = Field(default=None, description="Who removed it (only in the list of removed overrides).")
    removed_at: datetime | None = None


class ConfigOut(BaseModel):
    version: int
    source: Literal["file", "api"]
    created_by: str
    created_at: datetime
    document: dict = Field(description="The configuration: policy, schedules, people, default_schedule, routes.")


class TimerOut(BaseModel):
    id: str
    escalation: int
    step: int
    repetition: int
    role: str
    action: str
    due_at: datetime
    reason: str
    ticket_due_at: datetime | None
    state: str
    outcome: str | None
    fired_at: datetime | None


class PageOut(BaseModel):
    page_id: str
    target: str
    role: str
    channel: str
    reason: str
    due_at: datetime
    sent_at: datetime


class TicketOut(BaseModel):
    ticket_id: str
    assignee: str | None
    due_at: datetime
    sent_at: datetime


class EscalationOut(BaseModel):
    incident_id: int
    number: str
    severity: int
    status: str
    schedule: str
    acknowledged_at: datetime | None
    policy: dict = Field(description="The policy snapshot taken when the incident opened.")
    suppressed: bool = Field(default=False, description="Opened inside a maintenance window's scope: no pages, no tickets")
    note: str | None = Field(default=None, description="Why there is no escalation, when there is none by rule")
    budget_note: str | None = Field(
        default=None, description="Why the policy snapshot differs from the configuration's: the service's error-budget "
        "policy, e.g. \"medium → page: checkout's error budget is exhausted (availability: -4 % left)\"")
    timers: list[TimerOut]
    pages: list[PageOut]
    tickets: list[TicketOut]


class PersonOut(BaseModel):
    person: str
    contact: str | None = Field(description="What pages to this person carry as `contact`.")
    contact_methods: list[ContactMethod] = Field(description="Every method: `contact` (an e-mail address) first, as 'email'.")
    page_rules: list[NotificationStep] = Field(description="For pages, in order; empty = every method at once.")
    notify_rules: list[NotificationStep] = Field(description="For notifications, in order; empty = the first method at once.")
    schedules: list[str] = Field(description="The schedules whose rotations name this person, as `<schedule>/<tier>`.")
