"""HTTP routes of ingest: the Alertmanager webhook target."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from services.ingest.auth import CHALLENGE, presented_secret, token_accepted
from services.ingest.config import IngestSettings
from services.ingest.normalize import to_events
from services.ingest.schemas import WebhookPayload
from shared.clock import Clock
from shared.http_errors import validation_fields
from shared.kafka import EventProducer, ProducerUnavailable

log = structlog.get_logger("vigil.ingest")
tracer = trace.get_tracer("vigil.ingest")

PAYLOADS = Counter("vigil_ingest_payloads_total", "Webhook payloads accepted (every alert acknowledged by Kafka)")
ALERTS = Counter("vigil_ingest_alerts_total", "Alerts accepted, by alert status", ["status"])
REJECTED = Counter("vigil_ingest_rejected_total", "Webhook requests rejected, by reason", ["reason"])
TRUNCATED = Counter("vigil_ingest_truncated_alerts_total", "Alerts Alertmanager reported leaving out (truncatedAlerts)")
PRODUCE_SECONDS = Histogram(
    "vigil_ingest_produce_seconds",
    "Time from the first produce to the broker's ack of every event of one request",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

router = APIRouter(tags=["ingest"])


@dataclass(frozen=True)
class IngestContext:
    settings: IngestSettings
    producer: EventProducer
    clock: Clock


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes while reading (chunked bodies too)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def problem(status: int, error: str, message: str, *, headers: dict | None = None, **extra) -> JSONResponse:
    REJECTED.labels(error).inc()
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status, headers=headers)


WEBHOOK_DOC = """Receives an Alertmanager webhook notification (payload version 4) and puts one event per
alert on `vigil.alerts.v1`, keyed by the alert fingerprint.

Answers **200 only after Kafka acknowledged every event** of the notification. When Kafka is
unavailable or slower than the configured deadline it answers **503 with Retry-After**, which
Alertmanager retries; nothing it was told was accepted is ever lost.

Auth: `Authorization: Bearer <token>`, or HTTP Basic with a token as the password.
Errors: 400 body is not JSON; 401 missing or wrong credentials; 413 body over the size limit;
422 not a version-4 payload (the response names each offending field)."""


@router.post(
    "/api/v1/webhooks/alertmanager",
    summary="Alertmanager webhook (payload v4)",
    description=WEBHOOK_DOC,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": WebhookPayload.model_json_schema(ref_template="#/components/schemas/{model}")}},
        }
    },
    responses={
        200: {"description": "Every alert is on Kafka"},
        400: {"description": "Body is not JSON"},
        401: {"description": "Missing or wrong credentials"},
        413: {"description": "Body too large"},
        422: {"description": "Not an Alertmanager v4 payload"},
        503: {"description": "Kafka unavailable: retry later"},
    },
)
async def alertmanager_webhook(request: Request) -> JSONResponse:
    ctx: IngestContext = request.state.ingest
    settings = ctx.settings
    if not settings.ingest_allow_unauthenticated:
        secret = presented_secret(request.headers.get("authorization"))
        if not token_accepted(secret, settings.ingest_tokens):
            return problem(
                401, "unauthorized", "missing or invalid credentials", headers={"WWW-Authenticate": CHALLENGE}
            )
    try:
        body = await read_body(request, settings.ingest_max_body_bytes)
    except BodyTooLarge:
        return problem(
            413, "too_large", f"body exceeds {settings.ingest_max_body_bytes} bytes", headers={"Connection": "close"}
        )
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, "invalid_json", f"body is not valid JSON: {errors[0]['msg']}")
        return problem(
            422, "invalid_payload", "not an Alertmanager webhook payload version 4", fields=validation_fields(errors)
        )

    received_at = ctx.clock()
    events = to_events(payload, received_at=received_at)
    # Continue the caller's trace when it sent a traceparent; the span's context goes into Kafka headers.
    parent = propagate.extract(request.headers) if "traceparent" in request.headers else None
    with tracer.start_as_current_span("ingest.produce", context=parent, attributes={"vigil.alerts": len(events)}):
        started = time.perf_counter()
        try:
            await ctx.producer.publish(events, timeout_s=settings.ingest_produce_timeout_s)
        except ProducerUnavailable as exc:
            log.warning("kafka unavailable, answering 503", alerts=len(events), error=str(exc))
            return problem(
                503, "unavailable", "Kafka did not acknowledge the alerts; retry later",
                headers={"Retry-After": str(settings.ingest_retry_after_s)},
            )
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
    log.debug("webhook accepted", alerts=len(events), group_key=payload.groupKey)
    return JSONResponse({"status": "accepted", "alerts": len(events)})
