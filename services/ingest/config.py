"""Ingest settings (`VIGIL_INGEST_*`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from shared.api_auth import ApiTokenSettings
from shared.settings import CommaList

MIN_TOKEN_LENGTH = 16


class IngestSettings(ApiTokenSettings):
    # With VIGIL_DATABASE_URL, ingest also serves PagerDuty Events v2 (`/v2/enqueue`) and its
    # integration keys (`/api/v1/integration-keys`, VIGIL_API_TOKENS admin); without it, the webhook alone.
    ingest_port: int = Field(default=8080, ge=1, le=65535)
    ingest_tokens: CommaList = Field(
        default_factory=list,
        description="Accepted bearer tokens, comma-separated; several at once so tokens can rotate.",
    )
    ingest_allow_unauthenticated: bool = Field(
        default=False, description="Run without auth. Only for a closed test network; never the default."
    )
    ingest_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    ingest_produce_timeout_s: float = Field(default=5.0, gt=0, le=120)
    ingest_retry_after_s: int = Field(default=5, ge=1, le=3600)
    ingest_key_refresh_s: float = Field(
        default=5.0, gt=0, le=300, description="Integration keys are reloaded on every change (NOTIFY) and at least this often.")
    ingest_dedup_retention_days: int = Field(
        default=7, ge=1, le=365, description="How long a resolved Events v2 dedup key is remembered (a retried resolve is "
        "the same event within it).")
    ingest_heartbeat_batch: int = Field(
        default=200, ge=1, le=5000, description="Heartbeat monitors the checker fires per transaction at most.")
    ingest_heartbeat_max_idle_s: float = Field(
        default=5.0, gt=0, le=60, description="The heartbeat checker reads the next deadline at least this often "
        "(a ping that moves a deadline sooner wakes it by NOTIFY).")
    ingest_heartbeat_tick_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Deadline of one heartbeat check (claim and fire one batch).")

    @field_validator("ingest_tokens")
    @classmethod
    def _tokens_long_enough(cls, value: list[str]) -> list[str]:
        for i, token in enumerate(value):
            if len(token) < MIN_TOKEN_LENGTH:
                # Say which one without printing it: tokens are secrets.
                raise ValueError(f"token #{i + 1} is shorter than {MIN_TOKEN_LENGTH} characters")
        return value

    @model_validator(mode="after")
    def _auth_configured(self) -> IngestSettings:
        if not self.ingest_tokens and not self.ingest_allow_unauthenticated:
            raise ValueError(
                "no ingest tokens: set VIGIL_INGEST_TOKENS (comma-separated), or "
                "VIGIL_INGEST_ALLOW_UNAUTHENTICATED=true to run without auth on a closed network"
            )
        return self
