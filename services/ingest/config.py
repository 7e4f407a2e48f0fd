"""Ingest settings (`VIGIL_INGEST_*`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from shared.settings import BaseServiceSettings, CommaList

MIN_TOKEN_LENGTH = 16


class IngestSettings(BaseServiceSettings):
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
