"""Settings shared by every service, read from `VIGIL_*` environment variables and validated at start."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.zones import TimeZoneName  # noqa: F401 - settings' time-zone type


class SettingsError(RuntimeError):
    """Raised at start when the environment holds an invalid setting; the message names each one."""


def split_csv(value: object) -> object:
    """Accept `a,b , c` as well as a list: used for comma-separated environment variables."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# A list setting read from one comma-separated environment variable (or given as a list).
CommaList = Annotated[list[str], NoDecode, BeforeValidator(split_csv)]


class BaseServiceSettings(BaseSettings):
    """What every Vigil process needs: where Kafka and Postgres are, logging and tracing."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore", validate_default=True)

    kafka_bootstrap_servers: CommaList = Field(default_factory=lambda: ["127.0.0.1:9092"])
    kafka_client_id: str = "vigil"
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    # The largest event Kafka takes (the broker's `message.max.bytes`, 1 MiB by default): a larger
    # one is refused at once as a permanent error (ingest answers 413), never retried.
    kafka_max_message_bytes: int = Field(default=1_000_000, ge=64 * 1024, le=100 * 1024 * 1024)
    # Put before every topic name on the broker (`staging.` + `vigil.alerts.v1`): environments, or
    # test runs, that share one Kafka cluster keep apart. Every service of one system needs the same.
    topic_prefix: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9._-]*$")
    database_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    otlp_endpoint: str | None = None
    host: str = "127.0.0.1"

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _servers_have_ports(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one host:port is required")
        for server in value:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// or postgres://")
        return value

    @classmethod
    def load(cls, **overrides: object):
        """Build settings from the environment (overrides win), turning validation errors into one
        readable message that names each offending `VIGIL_*` variable."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            prefix = cls.model_config.get("env_prefix", "")
            lines = []
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"])
                lines.append(f"  {prefix}{name.upper()}: {err['msg']}")
            raise SettingsError("invalid settings:\n" + "\n".join(lines)) from None
