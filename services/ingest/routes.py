"""HTTP routes of ingest: the Alertmanager webhook target.

The webhook is a plain ASGI app in the FastAPI app's router (`install`), not a FastAPI endpoint:
FastAPI's per-request machinery (request object, dependency solving, response classes) was about a
quarter of the CPU of a 1-alert notification (docs/performance.md). FastAPI still serves every
other route, and the webhook is in `/openapi.json` like them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from services.ingest.asgi import (
    BodyTooLarge, ClientGone, Headers, header, holds_nul, install_asgi_route, read_body, respond,
)
from services.ingest.auth import CHALLENGE, presented_secret, token_accepted
from services.ingest.config import IngestSettings
from services.ingest.normalize import is_zero_time, to_events
from services.ingest.schemas import WebhookPayload
from shared.api_types import YEARS
from shared.clock import Clock
from shared.http_errors import validation_fields
from shared.kafka import EventProducer, MessageTooLarge, ProducerUnavailable
from shared.metrics import own_registry
from shared.observability import child_traceparent, spans_exported

log = structlog.get_logger("vigil.ingest")
tracer = trace.get_tracer("vigil.ingest")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
PAYLOADS = Counter("vigil_ingest_payloads_total", "Webhook payloads accepted (every alert acknowledged by Kafka)",
                   registry=METRICS)
ALERTS = Counter("vigil_ingest_alerts_total", "Alerts accepted, by alert status", ["status"], registry=METRICS)
REJECTED = Counter("vigil_ingest_rejected_total", "Webhook requests rejected, by reason", ["reason"], registry=METRICS)
TRUNCATED = Counter("vigil_ingest_truncated_alerts_total", "Alerts Alertmanager reported leaving out (truncatedAlerts)",
                    registry=METRICS)
PRODUCE_SECONDS = Histogram(
    "vigil_ingest_produce_seconds",
    "Time from the first produce to the broker's ack of every event of one request",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=METRICS,
)

@dataclass(frozen=True)
class IngestContext:
    settings: IngestSettings
    producer: EventProducer
    clock: Clock


WEBHOOK_PATH = "/api/v1/webhooks/alertmanager"

async def problem(send, status: int, error: str, message: str, *, headers: Headers = (), **extra) -> None:
    REJECTED.labels(error).inc()
    body = json.dumps({"error": error, "message": message, **extra}, separators=(",", ":")).encode()
    await respond(send, status, body, headers)


def unprocessable(payload: WebhookPayload, body: bytes) -> str | None:
    """Why the services could not carry a valid payload through, or None (issue 17's fuzzing). No
    Alertmanager sends either: a NUL character, which PostgreSQL text cannot hold (the incident
    service's consumer would retry that alert for ever, holding up its partition), or a time
    outside the years the services compute in (one in year 1 with a UTC offset is not even a UTC
    time Python can hold)."""
    if b"\\u0000" in body and holds_nul(payload.model_dump()):  # JSON can only spell NUL as \u0000
        return "a string holds a NUL character (\\u0000)"
    for alert in payload.alerts:
        if alert.startsAt.year not in YEARS or not (is_zero_time(alert.endsAt) or alert.endsAt.year in YEARS):
            return f"startsAt and endsAt must be in the years {YEARS.start} to {YEARS.stop - 1} (endsAt may be Go's zero time)"
    return None


async def alertmanager_webhook(scope: dict, receive, send) -> None:
    """The webhook, as an ASGI app. WEBHOOK_DOC says what it answers."""
    ctx: IngestContext = scope["state"]["ingest"]
    settings = ctx.settings
    if not settings.ingest_allow_unauthenticated:
        secret = presented_secret(header(scope, b"authorization"))
        if not token_accepted(secret, settings.ingest_tokens):
            await problem(
                send, 401, "unauthorized", "missing or invalid credentials",
                headers=[(b"www-authenticate", CHALLENGE.encode())],
            )
            return
    try:
        body = await read_body(scope, receive, settings.ingest_max_body_bytes)
    except BodyTooLarge:
        await problem(
            send, 413, "too_large", f"body exceeds {settings.ingest_max_body_bytes} bytes",
            headers=[(b"connection", b"close")],
        )
        return
    except ClientGone:
        return
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            await problem(send, 400, "invalid_json", f"body is not valid JSON: {errors[0]['msg']}")
        else:
            await problem(
                send, 422, "invalid_payload", "not an Alertmanager webhook payload version 4",
                fields=validation_fields(errors),
            )
        return
    if (why := unprocessable(payload, body)) is not None:
        await problem(send, 422, "invalid_payload", why)
        return

    events = to_events(payload, received_at=ctx.clock())
    parent = header(scope, b"traceparent")
    started = time.perf_counter()
    try:
        if spans_exported():
            # The span is exported: it starts the trace (or continues the caller's), and its
            # context goes into the Kafka headers.
            context = propagate.extract({"traceparent": parent}) if parent else None
            with tracer.start_as_current_span("ingest.produce", context=context, attributes={"vigil.alerts": len(events)}):
                await ctx.producer.publish(events, timeout_s=settings.ingest_produce_timeout_s)
        else:
            # Nothing is exported: the same ids go on with the events, without a span that goes nowhere.
            traceparent = child_traceparent(parent)
            await ctx.producer.publish(events, timeout_s=settings.ingest_produce_timeout_s, traceparent=traceparent)
    except MessageTooLarge as exc:
        # Permanent: a retry can never succeed, so not a 503 (Alertmanager would retry it for
        # hours). Nothing of the notification was written: every event is checked before any is sent.
        fingerprint = getattr(exc.event, "fingerprint", "?")
        log.warning("alert too large for kafka, answering 413", fingerprint=fingerprint, size=exc.size, limit=exc.limit)
        await problem(
            send, 413, "alert_too_large",
            f"alert {fingerprint} is {exc.size:,} bytes as an event; Kafka takes at most {exc.limit:,} "
            "(shorten its labels or annotations); nothing of this notification was accepted",
            fingerprint=fingerprint,
        )
        return
    except ProducerUnavailable as exc:
        log.warning("kafka unavailable, answering 503", alerts=len(events), error=str(exc))
        await problem(
            send, 503, "unavailable", "Kafka did not acknowledge the alerts; retry later",
            headers=[(b"retry-after", str(settings.ingest_retry_after_s).encode())],
        )
        return
    PRODUCE_SECONDS.observe(time.perf_counter() - started)
    PAYLOADS.inc()
    # One increment per status rather than per alert (same counts; a 50-alert payload took 50).
    by_status: dict[str, int] = {}
    for event in events:
        by_status[event.status] = by_status.get(event.status, 0) + 1
    for status, count in by_status.items():
        ALERTS.labels(status).inc(count)
    if payload.truncatedAlerts:
        TRUNCATED.inc(payload.truncatedAlerts)
        log.warning("alertmanager truncated the notification", truncated=payload.truncatedAlerts, group_key=payload.groupKey)
    # One line per notification, naming each alert (fingerprint: status), so a fingerprint found in
    # the incident service's "incident opened" line leads back here; one line per alert would cost
    # ingest about as much CPU again as the alert itself (a structlog line is ~27 us here).
    log.info("alerts received", count=len(events), alerts={e.fingerprint: e.status for e in events},
             group_key=payload.groupKey, receiver=payload.receiver)
    await respond(send, 200, b'{"status":"accepted","alerts":%d}' % len(events))


WEBHOOK_DOC = """Receives an Alertmanager webhook notification (payload version 4) and puts one event per
alert on `vigil.alerts.v1`, keyed by the alert fingerprint.

Answers **200 only after Kafka acknowledged every event** of the notification. When Kafka is
unavailable or slower than the configured deadline it answers **503 with Retry-After**, which
Alertmanager retries; nothing it was told was accepted is ever lost.

Auth: `Authorization: Bearer <token>`, or HTTP Basic with a token as the password.
Errors: 400 body is not JSON; 401 missing or wrong credentials; 413 body over the size limit, or an
alert too large for Kafka as an event (`alert_too_large`, naming it; nothing of the notification written);
422 not a version-4 payload (the response names each offending field), or one Vigil cannot carry
through (a NUL character in a string, a time outside the years 1900-8999)."""


class AlertmanagerWebhook:
    """`alertmanager_webhook` as an ASGI app object: Starlette calls a function endpoint with a
    Request and expects a Response, but hands its scope, receive and send to an object."""

    async def __call__(self, scope: dict, receive, send) -> None:
        await alertmanager_webhook(scope, receive, send)


def _error_response(description: str) -> dict:
    error = {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}
    return {"description": description, "content": {"application/json": {"schema": error}}}


def webhook_openapi() -> tuple[dict, dict]:
    """The webhook's OpenAPI operation, and the component schemas it refers to."""
    schema = WebhookPayload.model_json_schema(ref_template="#/components/schemas/{model}")
    components = {**schema.pop("$defs", {}), "WebhookPayload": schema}
    accepted = {"type": "object", "properties": {"status": {"const": "accepted"}, "alerts": {"type": "integer"}}}
    operation = {
        "tags": ["ingest"],
        "summary": "Alertmanager webhook (payload v4)",
        "description": WEBHOOK_DOC,
        "operationId": "alertmanager_webhook",
        "security": [{"bearer": []}, {"basic": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookPayload"}}},
        },
        "responses": {
            "200": {"description": "Every alert is on Kafka", "content": {"application/json": {"schema": accepted}}},
            "400": _error_response("Body is not JSON"),
            "401": _error_response("Missing or wrong credentials"),
            "413": _error_response("Body too large, or an alert too large for Kafka"),
            "422": _error_response("Not an Alertmanager v4 payload (`fields` names each offending field)"),
            "503": _error_response("Kafka unavailable: retry later"),
        },
    }
    return operation, components


def install(app: FastAPI) -> None:
    """Put the webhook first in `app`'s router, and into its OpenAPI document."""
    install_asgi_route(app, WEBHOOK_PATH, AlertmanagerWebhook(), webhook_openapi, security_schemes={
        "bearer": {"type": "http", "scheme": "bearer"},
        "basic": {"type": "http", "scheme": "basic"},
    })
