"""Webhooks signed per the Standard Webhooks specification (https://www.standardwebhooks.com/):
`webhook-id` (the delivery id, the same on every retry, so a receiver can drop a resend),
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.

Each endpoint has its own secret, derived from the notifier's master key, so no secret sits in the
configuration or on Kafka; a receiver gets its secret from the notifier's admin API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from services.notifier.outcome import SendResult
from services.notifier.senders.http_post import DEFAULT_TIMEOUT_S, post

USER_AGENT = "Vigil-Notifier/1 (Standard Webhooks)"


def derive_secret(master_key: bytes, person: str, method_id: str) -> str:
    """The endpoint's signing secret, "whsec_<base64 of 32 bytes>": the same for the same
    (master key, person, contact method), different for any other."""
    if not master_key:
        raise ValueError("the master key may not be empty")
    label = json.dumps(["vigil.webhook-secret.v1", person, method_id]).encode()  # unambiguous join
    return "whsec_" + base64.b64encode(hmac.new(master_key, label, hashlib.sha256).digest()).decode()


def signed_headers(*, secret: str, webhook_id: str, body: bytes, timestamp: datetime) -> dict[str, str]:
    if timestamp.tzinfo is None:  # the library signs a naive time as UTC; the header must agree
        timestamp = timestamp.replace(tzinfo=UTC)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, timestamp, body),
    }


async def send_webhook(client: httpx.AsyncClient, *, url: str, secret: str, webhook_id: str, body: bytes,
                       timestamp: datetime | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> SendResult:
    """POST `body` (JSON) to `url`, signed with `secret` as of `timestamp`, by default the wall
    clock's now: receivers compare it with their own clock and refuse anything more than 5 minutes
    off, so a simulated clock's time does not belong here."""
    timestamp = timestamp or datetime.now(UTC)
    headers = signed_headers(secret=secret, webhook_id=webhook_id, body=body, timestamp=timestamp)
    return await post(client, url, content=body, headers=headers, timeout_s=timeout_s)
