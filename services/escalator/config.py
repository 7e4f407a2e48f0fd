"""Escalator settings (`VIGIL_ESCALATOR_*`, `VIGIL_API_TOKENS`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

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
    escalator_public_url: str | None = Field(
        default=None, description="The console's URL: pages link to {url}/incidents/{id} (else to the incident API).")
    escalator_tick_batch: int = Field(default=200, ge=1, le=5000, description="Timers fired per transaction.")
    escalator_tick_timeout_s: float = Field(
        default=30.0, gt=0, le=600,
        description="Deadline of one ticker tick: a tick still running then is cut off, logged and retried.",
    )
    escalator_max_idle_s: float = Field(
        default=5.0, gt=0, le=60,
        description="Longest the ticker sleeps without looking at the clock (it wakes earlier on the next due time and on new timers).",
    )
    escalator_shift_notices: bool = Field(
        default=True, description="Tell people (through the notifier) before they start and stop being on call.")
    escalator_shift_notice_lead_s: float = Field(
        default=900.0, gt=0, le=86400,
        description="How long before a person starts or stops being on call they are told (a shift notice); a "
        "boundary passed by more than this is never announced (a fresh install does not send the past).",
    )
    escalator_shift_notice_interval_s: float = Field(
        default=60.0, gt=0, le=600, description="How often the shift-notice job looks for boundaries due (at most the lead).")
    escalator_handovers: bool = Field(
        default=True, description="Announce each primary handover (HandoverDue) so the incident service drafts the handoff.")
    escalator_handover_lead_s: float = Field(
        default=3600.0, gt=0, le=86400,
        description="How long before a primary handover it is announced (the outgoing person gets the handoff draft "
        "then); a handover whose overlap has ended is never announced.",
    )
    escalator_consumer_commit_interval_s: float = Field(
        default=0.0, ge=0, le=10,
        description="Offsets of vigil.incidents.v1 committed at most this often (0: after every poll). "
        "Each commit is broker work; a restart re-reads at most this much, which is idempotent.",
    )
    escalator_consumer_fetch_max_wait_ms: int | None = Field(
        default=None, ge=1, le=10_000, description="The consumer's fetch_max_wait_ms (unset: aiokafka's 500).")
    escalator_consumer_fetch_min_bytes: int | None = Field(
        default=None, ge=1, description="The consumer's fetch_min_bytes (unset: aiokafka's 1).")

    def consumer_options(self) -> dict[str, int]:
        options = {"fetch_max_wait_ms": self.escalator_consumer_fetch_max_wait_ms,
                   "fetch_min_bytes": self.escalator_consumer_fetch_min_bytes}
        return {k: v for k, v in options.items() if v is not None}

    @field_validator("escalator_incidents_url", "escalator_public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _notices_in_time(self) -> EscalatorSettings:
        if self.escalator_shift_notice_interval_s > self.escalator_shift_notice_lead_s:
            raise ValueError("escalator_shift_notice_interval_s must not exceed escalator_shift_notice_lead_s: "
                             "a boundary is announced from a lead before it to a lead after it")
        if self.escalator_shift_notice_interval_s > self.escalator_handover_lead_s:
            raise ValueError("escalator_shift_notice_interval_s must not exceed escalator_handover_lead_s: "
                             "the handover job runs that often")
        return self

    @field_validator("escalator_config_file")
    @classmethod
    def _file_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value
