"""Console settings (`VIGIL_CONSOLE_*`, `VIGIL_IDENTITY_KEYS`, `VIGIL_API_TOKENS`, plus the shared `VIGIL_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.api_auth import ApiTokenSettings
from shared.identity import RANK
from shared.settings import CommaList

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
    # OpenID Connect sign-in (off unless an issuer is set); docs/console.md, "Signing in with OpenID Connect".
    console_oidc_issuer: str | None = Field(
        default=None, description="The provider's issuer URL, exactly as its /.well-known/openid-configuration says.")
    console_oidc_client_id: str | None = Field(default=None, description="The console's client id at the provider.")
    console_oidc_client_secret: SecretStr | None = Field(
        default=None, description="The client's secret (client_secret_basic); empty: a public client (PKCE only).")
    console_oidc_scopes: str = Field(default="openid email profile", description="Scopes asked for (with openid).")
    console_oidc_name_claim: str = Field(
        default="preferred_username", description="The claim whose value is the person's console name (falls back "
        "to email's part before '@', then sub). Pick one people cannot edit at the provider.")
    console_oidc_new_person_role: str | None = Field(
        default=None, description="Role of someone who signs in for the first time without a console account and "
        "whom no role rule matches: viewer, responder or admin; empty (the default): refused, an admin adds them.")
    console_oidc_role_claim: str = Field(default="groups", description="The claim the role rules look at.")
    console_oidc_roles: CommaList = Field(
        default_factory=list, description="Role rules, value:role comma-separated ('vigil-oncall:responder'): a "
        "person whose role claim is or contains the value gets the role at every sign-in (the highest that matches).")
    console_oidc_provider_name: str = Field(
        default="single sign-on", max_length=60, description="Says whom the button signs in with: 'Sign in with …'.")
    console_oidc_timeout_s: float = Field(default=10.0, gt=0, le=60, description="Deadline of a call to the provider.")

    @field_validator("console_public_url", "console_incidents_url", "console_escalator_url", "console_slo_url",
                     "console_notifier_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("console_oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (http:// only for a provider on this machine)")
        return value or None  # kept as given: the issuer is compared exactly, a trailing '/' included

    @field_validator("console_oidc_client_id", "console_oidc_client_secret", "console_oidc_new_person_role")
    @classmethod
    def _empty_is_none(cls, value):
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return value if text not in (None, "", "none") else None

    @field_validator("console_oidc_new_person_role")
    @classmethod
    def _a_role(cls, value: str | None) -> str | None:
        if value is not None and value not in RANK:
            raise ValueError("viewer, responder, admin, or empty (refuse people without a console account)")
        return value

    @field_validator("console_oidc_scopes")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("must include openid")
        return " ".join(value.split())

    @field_validator("console_oidc_roles")
    @classmethod
    def _role_rules(cls, value: list[str]) -> list[str]:
        for rule in value:
            claim_value, _, role = rule.rpartition(":")
            if not claim_value or role not in RANK:
                raise ValueError(f"{rule!r} is not value:role with role viewer, responder or admin")
        return value

    @model_validator(mode="after")
    def _oidc_client(self) -> ConsoleSettings:
        if self.console_oidc_issuer and not self.console_oidc_client_id:
            raise ValueError("VIGIL_CONSOLE_OIDC_CLIENT_ID is required with VIGIL_CONSOLE_OIDC_ISSUER")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.console_oidc_issuer)

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
