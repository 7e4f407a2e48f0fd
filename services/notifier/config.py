"""Notifier settings (`VIGIL_NOTIFIER_*`, `VIGIL_API_TOKENS`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from shared.api_auth import ApiTokenSettings
from shared.settings import split_csv

MIN_KEY_LENGTH = 32


class NotifierSettings(ApiTokenSettings):
    notifier_port: int = Field(default=8084, ge=1, le=65535)
    notifier_consumer_group: str = "vigil-notifier"
    notifier_public_url: str | None = Field(
        default=None, description="Base URL people open (this service's acknowledge links); without it messages carry no links.")
    notifier_link_keys: Annotated[list[SecretStr], NoDecode, BeforeValidator(split_csv)] = Field(
        default_factory=list,
        description="Keys that sign acknowledge links (≥ 32 characters, comma-separated): the first signs, "
        "all verify, so a key can be rotated. Required with a public URL.")
    notifier_link_ttl_s: int = Field(default=24 * 3600, ge=60, le=30 * 86400, description="How long an acknowledge link works.")
    notifier_webhook_key: SecretStr | None = Field(
        default=None, description="Master key the per-endpoint webhook secrets are derived from (≥ 32 characters).")
    notifier_incidents_url: str | None = Field(
        default=None, description="Base URL of the incident service: acknowledge links and Slack buttons act there.")
    notifier_incidents_token: SecretStr | None = Field(default=None, description="A responder API token of the incident service.")
    # SMTP
    notifier_smtp_host: str | None = Field(default=None, description="SMTP server for e-mail contact methods.")
    notifier_smtp_port: int = Field(default=25, ge=1, le=65535)
    notifier_smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    notifier_smtp_username: str | None = None
    notifier_smtp_password: SecretStr | None = None
    notifier_smtp_sender: str = Field(default="Vigil <vigil@localhost>", description="From: of every e-mail.")
    notifier_mail_domain: str = Field(default="vigil.localhost", description="Right-hand side of Message-IDs.")
    # Slack
    notifier_slack_bot_token: SecretStr | None = Field(default=None, description="For slack:#channel addresses (chat.postMessage).")
    notifier_slack_signing_secret: SecretStr | None = Field(default=None, description="Verifies Slack's button clicks.")
    # Delivery
    notifier_send_timeout_s: float = Field(default=10.0, gt=0, le=120, description="Deadline of one attempt to a peer.")
    notifier_retry_for_s: int = Field(
        default=3600, ge=0, le=7 * 86400, description="Transient failures are retried with backoff for this long, then the delivery fails.")
    notifier_dispatch_batch: int = Field(default=200, ge=1, le=5000, description="Deliveries claimed per round.")
    notifier_send_concurrency: int = Field(default=64, ge=1, le=1000, description="Attempts in flight at once.")
    notifier_max_idle_s: float = Field(default=1.0, gt=0, le=60, description="Longest the dispatcher sleeps without looking.")
    notifier_throttle: str = Field(
        default="", description="Per-recipient limits by kind, e.g. 'sms=5/15m,11/1h;email=20/15m' (empty: the defaults).")

    @field_validator("notifier_public_url", "notifier_incidents_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _keys_are_long_enough(self) -> NotifierSettings:
        keys = [*self.notifier_link_keys, *([self.notifier_webhook_key] if self.notifier_webhook_key else [])]
        if any(len(key.get_secret_value()) < MIN_KEY_LENGTH for key in keys):
            raise ValueError(f"link and webhook keys must be at least {MIN_KEY_LENGTH} characters")
        if self.notifier_public_url and not self.notifier_link_keys:
            raise ValueError("VIGIL_NOTIFIER_LINK_KEYS is required with VIGIL_NOTIFIER_PUBLIC_URL (links are signed)")
        return self

    def link_keys(self) -> list[bytes]:
        return [key.get_secret_value().encode() for key in self.notifier_link_keys]
