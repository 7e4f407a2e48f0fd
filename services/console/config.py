"""Console settings (`VIGIL_CONSOLE_*`, `VIGIL_IDENTITY_KEYS`, `VIGIL_API_TOKENS`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from shared.api_auth import ApiTokenSettings

# Where `npm ci` (scripts/setup.sh) puts the front-end packages: the repository's node_modules/.
DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "node_modules"


class ConsoleSettings(ApiTokenSettings):
    console_port: int = Field(default=8085, ge=1, le=65535)
    console_public_url: str | None = Field(
        default=None, description="Base URL people open the console at (for links to it from elsewhere).")
    console_incidents_url: str | None = Field(default=None, description="Base URL of the incident service.")
    console_escalator_url: str | None = Field(default=None, description="Base URL of the escalator (on-call).")
    console_slo_url: str | None = Field(default=None, description="Base URL of the SLO service.")
    console_notifier_url: str | None = Field(default=None, description="Base URL of the notifier (deliveries).")
    console_cookie_secure: bool = Field(
        default=True, description="Send the session cookie only over HTTPS. Turn off for http://localhost only.")
    console_session_lifetime_s: int = Field(
        default=7 * 86400, ge=300, le=90 * 86400, description="How long a sign-in lasts (from signing in).")
    console_login_max_failures: int = Field(
        default=5, ge=1, le=1000, description="Failed sign-ins per account, and per client address, within the window…")
    console_login_window_s: int = Field(default=900, ge=10, le=86400, description="…after which sign-in is refused (429).")
    console_peer_timeout_s: float = Field(default=5.0, gt=0, le=60, description="Deadline of a call to another service.")
    console_assets_dir: Path = Field(
        default=DEFAULT_ASSETS, description="node_modules with htmx.org and htmx-ext-sse (npm ci at the repository root).")
    console_live_stream_s: float = Field(
        default=15.0, gt=0, le=3600,
        description="An open page's live stream ends after this long and the browser reconnects at once: a server "
        "that is stopping waits at most this long for its streams.")

    @field_validator("console_public_url", "console_incidents_url", "console_escalator_url", "console_slo_url",
                     "console_notifier_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("identity_keys")
    @classmethod
    def _signs_sessions(cls, value: list) -> list:
        if not value:
            raise ValueError("required: the console signs the session assertions and API tokens every service "
                             "verifies (the same keys on every service)")
        return value

    def peer_urls(self) -> dict[str, str | None]:
        return {"incidents": self.console_incidents_url, "escalator": self.console_escalator_url,
                "slo": self.console_slo_url, "notifier": self.console_notifier_url}
