"""Escalator settings (`VIGIL_ESCALATOR_*`, `VIGIL_API_TOKENS`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from shared.api_auth import ApiTokenSettings

EXAMPLE_CONFIG = Path(__file__).parent / "example.yaml"


class EscalatorSettings(ApiTokenSettings):
    escalator_port: int = Field(default=8082, ge=1, le=65535)
    escalator_consumer_group: str = "vigil-escalator"
    escalator_config_file: Path = Field(
        default=EXAMPLE_CONFIG,
        description="YAML with policies, business hours, schedules and people; imported at start when it changed.",
    )
    escalator_incidents_url: str | None = Field(
        default=None, description="Base URL of the incident service, for acknowledgement timeouts (unacknowledge)."
    )
    escalator_incidents_token: str | None = Field(default=None, description="A responder (or admin) API token of the incident service.")
    escalator_public_url: str | None = Field(default=None, description="Base URL people open, for links in pages.")
    escalator_tick_batch: int = Field(default=200, ge=1, le=5000, description="Timers fired per transaction.")
    escalator_max_idle_s: float = Field(
        default=5.0, gt=0, le=60,
        description="Longest the ticker sleeps without looking at the clock (it wakes earlier on the next due time and on new timers).",
    )

    @field_validator("escalator_incidents_url", "escalator_public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("escalator_config_file")
    @classmethod
    def _file_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value
