"""PagerDuty's Events API v2 event (`POST /v2/enqueue`), as PagerDuty documents it and Alertmanager's
`pagerduty_configs` send it; and the integration-key API's bodies.

Field names are PagerDuty's. Unknown fields are ignored, as PagerDuty does. `payload`, `images`,
`links`, `client` and `client_url` describe a trigger: an acknowledge or resolve needs only its
`dedup_key`, and what else it carries is not checked (Alertmanager sends its payload with a resolve).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.api_types import YEARS

ROUTING_KEY_LENGTH = 32
Severity = Literal["critical", "error", "warning", "info"]
EventAction = Literal["trigger", "acknowledge", "resolve"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]  # PagerDuty: "missing or blank"
LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"  # Prometheus label names


class Image(BaseModel):
    model_config = ConfigDict(extra="ignore")

    src: Text = Field(description="The image's URL (HTTPS in PagerDuty).")
    href: str | None = Field(default=None, description="Where clicking the image leads.")
    alt: str | None = None


class Link(BaseModel):
    model_config = ConfigDict(extra="ignore")

    href: Text
    text: str | None = None


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)] = Field(
        description="What is wrong; the incident's title. At most 1,024 characters.")
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)] = Field(
        description="Where: the affected system, preferably a host name.")
    severity: Severity
    timestamp: datetime | None = Field(default=None, description="When the sender detected it (ISO 8601).")
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = Field(default=None, description="Any JSON: free-form details.")

    @model_validator(mode="after")
    def _timestamp_in_range(self) -> Payload:
        if self.timestamp is not None and self.timestamp.year not in YEARS:
            raise ValueError(f"'payload.timestamp' must be in the years {YEARS.start} to {YEARS.stop - 1}")
        return self


class EnqueueEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    routing_key: str = Field(description="A Vigil integration key (32 characters).")
    event_action: EventAction
    dedup_key: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="The alert's identity. Vigil makes one for a trigger without it, and returns it.")
    payload: Payload | None = None
    client: str | None = None
    client_url: str | None = None
    images: list[Image] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _trigger_fields_only_on_trigger(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("event_action") in ("acknowledge", "resolve"):
            return {k: v for k, v in data.items() if k in ("routing_key", "event_action", "dedup_key")}
        return data

    @model_validator(mode="after")
    def _required_by_action(self) -> EnqueueEvent:
        if len(self.routing_key) != ROUTING_KEY_LENGTH:
            raise ValueError(f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)")
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("'payload' is missing or blank")
        if self.event_action != "trigger" and self.dedup_key is None:
            raise ValueError("'dedup_key' is missing or blank")
        return self


# The integration-key API.

LabelName = Annotated[str, StringConstraints(pattern=LABEL_NAME)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class IntegrationKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="What sends with it, e.g. 'alertmanager-prod'; unique among keys in use. "
                       "Acknowledgements it sends are recorded under this name.")
    service: Name = Field(description="The `service` label of its alerts.")
    labels: dict[LabelName, Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=dict, max_length=50,
        description="More labels of its alerts (routing: the escalator's routes, incident grouping); they win "
        "over labels taken from the event.")


class IntegrationKeyOut(BaseModel):
    id: str
    name: str
    service: str
    labels: dict[str, str]
    key_hint: str = Field(description="The key's last 4 characters.")
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None


class IntegrationKeyCreated(IntegrationKeyOut):
    key: str = Field(description="The routing key, shown this once: Vigil keeps only its SHA-256.")
    enqueue_path: str = "/v2/enqueue"
