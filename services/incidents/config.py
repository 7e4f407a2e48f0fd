"""Incident service settings (`VIGIL_INCIDENTS_*`, `VIGIL_API_TOKENS`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from pydantic import Field, field_validator

from services.incidents.severity import DEFAULT_LABEL_LEVELS, SEV_OF_LEVEL, level_of
from shared.api_auth import ApiTokenSettings
from shared.business_calendar import BusinessCalendar
from shared.settings import CommaList, TimeZoneName

LEVELS = set(SEV_OF_LEVEL)


class IncidentsSettings(ApiTokenSettings):
    incidents_port: int = Field(default=8081, ge=1, le=65535)
    incidents_consumer_group: str = "vigil-incidents"
    incidents_group_by: CommaList = Field(
        default_factory=list,
        description="Label names that define an incident group (e.g. alertname,service,env); empty = Alertmanager groupKey.",
    )
    incidents_reopen_window_s: int = Field(
        default=3600, ge=0, description="A fingerprint firing again within this time after its incident resolved "
        "reopens it (the same outage, not a new incident); 0 = off."
    )
    incidents_correlation_window_s: int = Field(
        default=0, ge=0, le=86400, description="An alert of a new group joins the open incident of the same "
        "`incidents_correlate_by` label value (e.g. the same service) detected within this time, instead of opening "
        "another incident; 0 = off (Alertmanager's grouping alone)."
    )
    incidents_correlate_by: str = Field(
        default="service", min_length=1, max_length=100, description="The label the correlation window compares.")
    incidents_flap_changes: int = Field(
        default=6, ge=0, le=1000, description="An incident whose alerts change state (fire, resolve) this many times "
        "within the flap window is flapping: it stays open and does not page again until they are stable; 0 = off.")
    incidents_flap_window_s: int = Field(
        default=1800, ge=60, le=86400, description="The flap window, and how long alerts must be stable to end flapping.")
    incidents_flap_check_s: float = Field(
        default=30.0, gt=0, le=3600, description="How often flapping incidents are checked for stable alerts.")
    incidents_silence_check_s: float = Field(
        default=5.0, gt=0, le=3600, description="How often the service looks for silences whose end has passed, "
        "to hand the alerts they still hold to the normal path (expiring a silence does it at once), and for "
        "maintenance windows that ended with their suppressed incidents open (those page from then on).")
    incidents_severity_levels: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_LABEL_LEVELS),
        description="severity label value (lower case) -> critical|high|medium|low, as JSON",
    )
    incidents_default_level: str = "high"
    incidents_level_sevs: dict[str, int] = Field(
        default_factory=lambda: dict(SEV_OF_LEVEL), description="level -> SEV number, as JSON"
    )
    incidents_auto_resolve_sevs: CommaList = Field(
        default_factory=lambda: ["3", "4"], description="SEVs resolved automatically when all their alerts resolved"
    )

    # Operations records and reports (docs/operations.md).
    incidents_report_zone: TimeZoneName = Field(
        default="UTC", description="IANA time zone of report days, weeks (Monday 00:00) and months"
    )
    incidents_runbook_max_age_days: int = Field(
        default=180, ge=1, description="a runbook not updated for longer than this is outdated"
    )
    incidents_slo_url: str | None = Field(default=None, description="base URL of the SLO service, e.g. http://slo:8083")
    incidents_escalator_url: str | None = Field(default=None, description="base URL of the escalator, e.g. http://escalator:8082")
    incidents_ingest_url: str | None = Field(default=None, description="base URL of ingest, for the daily check's health part")
    incidents_peer_token: str | None = Field(default=None, description="API token (viewer) for the SLO and escalator APIs")
    incidents_peer_timeout_s: float = Field(default=5.0, gt=0, le=60)

    # The report schedule (docs/operations.md "The schedule"): local times in the report zone, or "off".
    incidents_daily_check_at: str = Field(
        default="09:00", description="When the daily check of a business day is produced (HH:MM), or 'off'.")
    incidents_weekly_review_at: str = Field(
        default="mon 10:00", description="When the weekly review of the week before is produced ('mon 10:00'), or 'off'.")
    incidents_monthly_review_at: str = Field(
        default="10:00", description="When the monthly review of the month before is produced, on the first business "
        "day of the month (HH:MM), or 'off'.")
    incidents_reminders_at: str = Field(
        default="08:30", description="When the daily reminder digests of a business day go out (HH:MM), or 'off' "
        "(docs/operations.md \"Reminders\").")
    incidents_update_reminders: bool = Field(
        default=True, description="Remind an open incident's commander when its promised next update (next_update_at) "
        "passes, once per promised time.")
    incidents_postmortem_reminder_days: int = Field(
        default=5, ge=1, le=365, description="An unpublished postmortem this many days after its incident resolved "
        "is in its commander's reminder digest.")
    incidents_business_country: str | None = Field(
        default=None, description="ISO 3166-1 country whose public holidays are not business days (e.g. US, DE); "
        "empty: only weekends.")
    incidents_business_subdivision: str | None = Field(default=None, description="e.g. BY, CA: its holidays too.")
    incidents_business_hours: str = Field(
        default="09:00-17:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$", description="Business hours (HH:MM-HH:MM, "
        "Monday to Friday, in the report zone): a SEV4's response target is the close of business on the next "
        "business day. Give the escalator's `business_hours` the same zone, hours and country, so its SEV4 ticket "
        "falls due at that day's opening.")
    incidents_report_recipients: CommaList = Field(
        default_factory=list, description="Who gets each scheduled report through the notifier: person names, e-mail "
        "addresses, https webhook or Slack webhook URLs, slack:#channel, Apprise URLs (comma-separated).")
    incidents_public_url: str | None = Field(
        default=None, description="Base URL people open the console at, for the link to a scheduled report's page; "
        "without it the message carries no link.")
    incidents_schedule_check_s: float = Field(
        default=30.0, gt=0, le=3600, description="How often the service looks for reports due.")

    @field_validator("incidents_slo_url", "incidents_escalator_url", "incidents_ingest_url", "incidents_public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("incidents_severity_levels")
    @classmethod
    def _levels_known(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = {v for v in value.values() if v not in LEVELS}
        if unknown:
            raise ValueError(f"unknown level(s) {sorted(unknown)}; use {sorted(LEVELS)}")
        return {k.lower(): v for k, v in value.items()}

    @field_validator("incidents_default_level")
    @classmethod
    def _default_level_known(cls, value: str) -> str:
        if value not in LEVELS:
            raise ValueError(f"use one of {sorted(LEVELS)}")
        return value

    @field_validator("incidents_level_sevs")
    @classmethod
    def _sevs_complete(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != LEVELS or not all(1 <= v <= 4 for v in value.values()):
            raise ValueError("give a SEV 1-4 for each of critical, high, medium, low")
        return value

    @field_validator("incidents_auto_resolve_sevs")
    @classmethod
    def _sevs_valid(cls, value: list[str]) -> list[str]:
        if not all(v in {"1", "2", "3", "4"} for v in value):
            raise ValueError("comma-separated SEV numbers 1-4")
        return value

    def business_calendar(self) -> BusinessCalendar:
        """Business days and hours: the SEV4 response deadline, the report schedule and reminders.
        ValueError naming a country, subdivision or hours that cannot work."""
        opens, closes = (time.fromisoformat(t) for t in self.incidents_business_hours.split("-"))
        return BusinessCalendar(zone=self.incidents_report_zone, opens=opens, closes=closes,
                                country=self.incidents_business_country or None,
                                subdivision=self.incidents_business_subdivision or None)

    def grouping(self) -> GroupingRules:
        return GroupingRules(
            group_by=list(self.incidents_group_by),
            reopen_window=timedelta(seconds=self.incidents_reopen_window_s) if self.incidents_reopen_window_s else None,
            correlation_window=timedelta(seconds=self.incidents_correlation_window_s)
            if self.incidents_correlation_window_s else None,
            correlate_by=self.incidents_correlate_by,
            flap_changes=self.incidents_flap_changes,
            flap_window=timedelta(seconds=self.incidents_flap_window_s),
            severity_levels=dict(self.incidents_severity_levels),
            default_level=self.incidents_default_level,
            level_sevs=dict(self.incidents_level_sevs),
            auto_resolve_sevs=frozenset(int(v) for v in self.incidents_auto_resolve_sevs),
        )


@dataclass(frozen=True)
class GroupingRules:
    """How alerts become incidents: the parts of the settings the alert handler uses."""

    group_by: list[str]
    reopen_window: timedelta | None
    severity_levels: dict[str, str]
    default_level: str
    level_sevs: dict[str, int]
    auto_resolve_sevs: frozenset[int]
    correlation_window: timedelta | None = None
    correlate_by: str = "service"
    flap_changes: int = 0  # 0: flap detection off
    flap_window: timedelta = timedelta(minutes=30)

    def severity_of(self, labels: dict[str, str]) -> int:
        return self.level_sevs[level_of(labels, mapping=self.severity_levels, default=self.default_level)]
