"""Response models of the notifier's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DeliveryOut(BaseModel):
    id: str = Field(description="Deterministic per (page, contact method, rule step): also the webhook-id and the Message-ID's left part.")
    source: Literal["page", "ticket", "test", "shift"]
    source_id: str = Field(description="The page_id, ticket_id, test id or shift notice id")
    incident_id: int
    number: str
    severity: int
    title: str
    channel: Literal["page", "notify"]
    person: str
    method: str
    kind: str
    step: int
    requested_at: datetime
    due_at: datetime
    state: Literal["pending", "sending", "sent", "retrying", "failed", "cancelled"]
    next_attempt_at: datetime
    attempts: int
    first_attempt_at: datetime | None
    answer: str | None = Field(description="What the peer said: SMTP reply, HTTP status")
    last_error: str | None
    sent_at: datetime | None
    message_id: str | None = Field(description="The delivery whose message carried this one (itself, or a bundle's headline)")
    bundled_with: int


class WebhookSecretOut(BaseModel):
    person: str
    method: str
    secret: str = Field(description="The Standard Webhooks secret (whsec_…) the receiver verifies signatures with.")
