"""The Alertmanager webhook payload, version 4, as a real Alertmanager sends it.

Field names are Alertmanager's. Unknown extra fields are accepted and ignored, so a newer
Alertmanager that adds a field keeps working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

FINGERPRINT_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = Field(
        default=None, description='"0001-01-01T00:00:00Z" (Go\'s zero time) while the alert fires.'
    )
    generatorURL: str = ""
    fingerprint: str | None = Field(
        default=None,
        pattern=FINGERPRINT_PATTERN,
        description="Alertmanager's 16-hex-digit alert identity. If a sender leaves it out, Vigil derives "
        "one from the labels.",
    )


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[WebhookAlert] = Field(max_length=100_000)
