"""The event contract: versioned, typed messages, their topics, and their Kafka encoding.

Every message on a Vigil topic is one of the models here, serialised as JSON. Envelope metadata
travels in Kafka headers following the CloudEvents Kafka protocol binding (binary mode):
`ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_time`, `content-type`, plus W3C `traceparent`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Topic:
    """Topic names. The `.v1` suffix is the schema major version of what the topic carries."""

    ALERTS = "vigil.alerts.v1"
    INCIDENTS = "vigil.incidents.v1"
    PAGES = "vigil.pages.v1"
    TICKETS = "vigil.tickets.v1"
    METRICS = "vigil.metrics.v1"

    @staticmethod
    def dlq(topic: str) -> str:
        """The dead-letter topic of `topic`: where its undecodable messages go, with the error."""
        return f"{topic}.dlq"


# Namespace for deterministic event ids (uuid5), so the same fact always gets the same id.
EVENT_ID_NAMESPACE = uuid.UUID("5d1f6a3e-0c59-4d0e-9a43-7f1b8f5e2c10")


def deterministic_id(*parts: str) -> str:
    """A stable UUID for a fact described by `parts`: redelivery of the same fact gives the same id."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts)))


class Event(BaseModel):
    """Base of every message. Subclasses set `event_type` and `topic` and say what their key is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[str]

    schema_version: Literal[1] = 1
    event_id: str = Field(description="Unique per fact; consumers drop an id they have seen.")
    occurred_at: AwareDatetime = Field(description="When the producer observed the fact (UTC).")
    source: str = Field(description="Who produced the event, e.g. 'alertmanager' or 'slo'.")

    def kafka_key(self) -> bytes:
        raise NotImplementedError


class AlertEvent(Event):
    """One alert's state as a monitoring system reported it (firing or resolved).

    Key: the alert `fingerprint`, so one alert's history stays in one partition, in order.
    """

    event_type: ClassVar[str] = "dev.vigil.alert.v1"
    topic: ClassVar[str] = Topic.ALERTS

    fingerprint: str = Field(min_length=1, max_length=128)
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = Field(
        default=None, description="None while firing (Alertmanager sends the zero time then)."
    )
    generator_url: str | None = None
    group_key: str | None = None
    group_labels: dict[str, str] = Field(default_factory=dict)
    receiver: str | None = None
    external_url: str | None = None
    truncated_alerts: int = Field(default=0, ge=0, description="Alerts Alertmanager left out of the notification.")

    def kafka_key(self) -> bytes:
        return self.fingerprint.encode()

    @staticmethod
    def id_for(*, source: str, fingerprint: str, status: str, starts_at: datetime, ends_at: datetime | None) -> str:
        """The event id of one alert state: the same state delivered twice gets the same id."""
        # In UTC, so the same instant written with another offset gives the same id.
        ends = ends_at.astimezone(UTC).isoformat() if ends_at else ""
        return deterministic_id(source, fingerprint, status, starts_at.astimezone(UTC).isoformat(), ends)


E = TypeVar("E", bound=Event)

CE_SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = list[tuple[str, bytes]]


def encode(event: Event, *, ce_source: str, traceparent: str | None = None) -> tuple[bytes, bytes, Headers]:
    """Key, value and CloudEvents headers for producing `event` to its topic."""
    headers: Headers = [
        ("ce_specversion", CE_SPECVERSION.encode()),
        ("ce_id", event.event_id.encode()),
        ("ce_source", ce_source.encode()),
        ("ce_type", event.event_type.encode()),
        ("ce_time", event.occurred_at.isoformat().encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return event.kafka_key(), event.model_dump_json().encode(), headers


def decode(model: type[E], value: bytes | None) -> E:
    """Parse a message value as `model`; raises pydantic.ValidationError or ValueError if it is not one."""
    if value is None:
        raise ValueError("message has no value")
    return model.model_validate_json(value)


def header(headers: Headers | tuple, name: str) -> str | None:
    """The value of header `name` as text, or None."""
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace") if value is not None else None
    return None
