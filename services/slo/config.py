"""SLO service settings (`VIGIL_SLO_*`, `VIGIL_API_TOKENS`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from services.slo.budget_policy import ErrorBudgetPolicy
from services.slo.definitions import DEFAULT_DEFINITIONS, SloDefinition
from services.slo.definitions_file import parse_budget_policies, parse_definitions
from shared.api_auth import ApiTokenSettings
from shared.settings import TimeZoneName


class SloSettings(ApiTokenSettings):
    slo_port: int = Field(default=8083, ge=1, le=65535)
    slo_consumer_group: str = "vigil-slo"
    slo_config_file: Path | None = Field(
        default=None, description="YAML with SLO definitions (ours or OpenSLO v1); unset = the operations process's 1.2 defaults"
    )
    slo_consumer_max_batch: int = Field(
        default=24_000, ge=1, le=100_000,
        description="Metrics events per poll (all partitions); each partition's share is folded in one transaction",
    )
    slo_evaluate_interval_s: float = Field(default=30, gt=0, le=3600, description="How often budgets and burn rates are evaluated")
    slo_min_events: int = Field(default=100, ge=0, description="Low-traffic guard: no burn alert with fewer events in the long window")
    slo_calendar_timezone: TimeZoneName = Field(default="UTC", description="IANA zone of the calendar month window")
    slo_late_event_window_s: int = Field(default=3 * 86400, ge=60, description="Events older than this are ignored (counted)")
    slo_retention_days: int = Field(default=40, ge=32, description="How long minute buckets are kept")
    slo_capacity_threshold: float = Field(default=0.8, gt=0, le=1)
    slo_capacity_weeks: int = Field(default=4, ge=1, le=52, description="Weeks of history in the capacity trend")
    slo_capacity_lead_days: int = Field(default=14, ge=0, description="Alert when 'scaling needed by' is closer than this")
    slo_capacity_interval_s: float = Field(default=600, gt=0, description="How often capacity forecasts are recomputed")
    slo_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Push, remote-write and OTLP body limit (as sent)")
    slo_series_max_decoded_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Remote-write and OTLP body limit once decompressed",
    )
    slo_series_max_gap_s: int = Field(
        default=900, ge=60, description="A series silent for longer starts again from a baseline (and is forgotten)",
    )

    @field_validator("slo_config_file")
    @classmethod
    def _file_valid(cls, value: Path | None) -> Path | None:
        if value is not None:
            if not value.is_file():
                raise ValueError(f"{value} is not a file")
            parse_definitions(value.read_text())  # fail at start, naming the variable
        return value

    def definitions(self) -> tuple[SloDefinition, ...]:
        if self.slo_config_file is None:
            return DEFAULT_DEFINITIONS
        return parse_definitions(self.slo_config_file.read_text())

    def budget_policies(self) -> dict[str, ErrorBudgetPolicy]:
        """The error-budget policies by service (`*` for every other); empty = the default."""
        if self.slo_config_file is None:
            return {}
        return parse_budget_policies(self.slo_config_file.read_text())
