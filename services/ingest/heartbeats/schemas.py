"""Request and response bodies of the heartbeat API (`/api/v1/heartbeats`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.ingest.events_v2.schemas import LabelName, Name
from services.ingest.heartbeats.schedule import MAX_PERIOD_S, Schedule, ScheduleError

Severity = Literal["critical", "high", "medium", "low"]
MAX_GRACE_S = 7 * 86400


class HeartbeatChange(BaseModel):
    """A monitor's definition; in an edit (PATCH) every field is optional and only those sent change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(default=None, description="Unique; the `monitor` label of its alert, e.g. 'nightly-backup'.")
    service: Name | None = Field(default=None, description="The `service` label of its alert.")
    severity: Severity | None = Field(default=None, description="The `severity` label of its alert (default high).")
    labels: dict[LabelName, Annotated[str, StringConstraints(max_length=1024)]] | None = Field(
        default=None, max_length=50, description="More labels of its alert (routing, grouping).")
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = Field(
        default=None, description="What its alert says when a ping is missed (the incident's title), e.g. "
        "'Alerting pipeline silent: Alertmanager's Watchdog stopped arriving'; empty: the default sentence.")
    period_s: int | None = Field(default=None, ge=1, le=MAX_PERIOD_S,
                                 description="A ping is expected this many seconds after the last one. Or `cron`.")
    cron: Annotated[str, StringConstraints(strip_whitespace=True, min_length=9, max_length=200)] | None = Field(
        default=None, description="A ping is expected at each time of this cron expression (5 fields), "
        "in `timezone`. Or `period_s`.")
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="IANA time zone of `cron` (default UTC).")
    grace_s: int | None = Field(default=None, ge=0, le=MAX_GRACE_S,
                                description="How long after the expected time the monitor is late before it is down "
                                "and its alert fires.")

    @model_validator(mode="after")
    def _one_schedule(self) -> HeartbeatChange:
        if self.period_s is not None and self.cron is not None:
            raise ValueError("give period_s or cron, not both")
        if self.cron is not None or self.timezone is not None:
            try:
                Schedule(cron=self.cron or "* * * * *", timezone=self.timezone or "UTC").check_fires()
            except ScheduleError as exc:
                raise ValueError(str(exc)) from None
        return self


class HeartbeatIn(HeartbeatChange):
    name: Name = Field(description="Unique; the `monitor` label of its alert, e.g. 'nightly-backup'.")
    service: Name = Field(description="The `service` label of its alert.")
    grace_s: int = Field(ge=0, le=MAX_GRACE_S, description="How long after the expected time the monitor is late "
                         "before it is down and its alert fires.")

    @model_validator(mode="after")
    def _a_schedule(self) -> HeartbeatIn:
        if self.period_s is None and self.cron is None:
            raise ValueError("give period_s (seconds between pings) or cron (with timezone)")
        return self


class HeartbeatOut(BaseModel):
    id: str
    name: str
    service: str
    severity: str
    summary: str | None
    labels: dict[str, str]
    period_s: int | None
    cron: str | None
    timezone: str
    grace_s: int
    status: str = Field(description="new (never pinged), up, late (past the expected ping, within the grace time), "
                        "down (its alert fires), paused.")
    running: bool = Field(description="A run was started (/start) and has not finished.")
    last_ping_at: datetime | None
    last_start_at: datetime | None
    expected_at: datetime | None = Field(description="The next ping is expected by then: late after it.")
    down_at: datetime | None = Field(description="Down, and its alert fires, if no ping comes by then.")
    firing_since: datetime | None
    token_hint: str = Field(description="The ping token's last 4 characters.")
    ping_path: str
    created_at: datetime
    created_by: str


class HeartbeatCreated(HeartbeatOut):
    token: str = Field(description="The ping token, shown this once: Vigil keeps only its SHA-256.")


class PingAnswer(BaseModel):
    status: str = Field(description="The monitor's status after the ping.")
    expected_at: datetime | None
    down_at: datetime | None
