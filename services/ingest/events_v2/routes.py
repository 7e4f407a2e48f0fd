"""`POST /v2/enqueue` (PagerDuty Events API v2), a plain ASGI route like the Alertmanager webhook,
and the integration-key API (`/api/v1/integration-keys`, admin)."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Annotated

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import ValidationError

from services.ingest.config import IngestSettings
from services.ingest.events_v2 import mapping, repository as repo
from services.ingest.events_v2.keys import digest, hint
from services.ingest.events_v2.schemas import (
    ROUTING_KEY_LENGTH, EnqueueEvent, IntegrationKeyCreated, IntegrationKeyIn, IntegrationKeyOut,
)
from services.ingest.events_v2.store import KeyStore
from services.ingest.asgi import BodyTooLarge, ClientGone, header, holds_nul, install_asgi_route, read_body, respond
from shared.api_auth import Admin
from shared.clock import Clock
from shared.db import ACQUIRE_TIMEOUT_S
from shared.http_errors import error_responses
from shared.kafka import EventProducer, MessageTooLarge, ProducerUnavailable
from shared.metrics import own_registry
from shared.observability import child_traceparent

log = structlog.get_logger("vigil.ingest")

ENQUEUE_PATH = "/v2/enqueue"
MAX_EVENT_BYTES = 512 * 1024  # PagerDuty's limit for one event
INVALID = "Event object is invalid"

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
EVENTS = Counter("vigil_ingest_events_v2_total", "Events v2 events accepted (on Kafka when they send something)", ["action"],
                 registry=METRICS)
REJECTED = Counter("vigil_ingest_events_v2_rejected_total", "Events v2 requests refused, by reason", ["reason"],
                   registry=METRICS)


@dataclass(frozen=True)
class EventsV2Context:
    settings: IngestSettings
    producer: EventProducer
    clock: Clock
    store: KeyStore


async def _answer(send, status: int, body: dict, *, reason: str | None = None, headers=()) -> None:
    if reason is not None:
        REJECTED.labels(reason).inc()
    await respond(send, status, json.dumps(body, separators=(",", ":")).encode(), list(headers))


async def _invalid(send, errors: list[str], *, status: int = 400, reason: str = "invalid_event", message: str = INVALID) -> None:
    await _answer(send, status, {"status": "invalid event", "message": message, "errors": errors}, reason=reason)


async def _unavailable(send, ctx: EventsV2Context, message: str) -> None:
    retry_after = str(ctx.settings.ingest_retry_after_s).encode()
    await _answer(send, 503, {"status": "unavailable", "message": message, "errors": []}, reason="unavailable",
                  headers=[(b"retry-after", retry_after)])


def error_texts(exc: ValidationError) -> list[str]:
    """PagerDuty-style sentences, one per problem: `'payload.severity' …`."""
    texts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"] if part not in ("function-after", "function-before"))
        if error["type"] == "missing" or (error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1):
            texts.append(f"'{where}' is missing or blank")
        elif error["type"] == "value_error" and not where:
            texts.append(error["msg"].removeprefix("Value error, "))
        else:
            texts.append(f"'{where}' {error['msg'].removeprefix('Value error, ')}" if where else error["msg"])
    return texts


async def enqueue(scope: dict, receive, send) -> None:
    """The endpoint, as an ASGI app; ENQUEUE_DOC says what it answers."""
    ctx: EventsV2Context = scope["state"]["events_v2"]
    limit = min(ctx.settings.ingest_max_body_bytes, MAX_EVENT_BYTES)
    try:
        body = await read_body(scope, receive, limit)
    except BodyTooLarge:
        await _invalid(send, [f"the event exceeds {limit} bytes"], status=413, reason="too_large",
                       message="Event object is too large")
        return
    except ClientGone:
        return
    try:
        event = EnqueueEvent.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            await _invalid(send, ["Malformed JSON: the body is not a JSON object"], reason="invalid_json")
        else:
            await _invalid(send, error_texts(exc))
        return
    if b"\\u0000" in body and holds_nul(json.loads(body)):
        await _invalid(send, ["a string holds a NUL character (\\u0000)"])
        return
    store = ctx.store
    if not store.ready:
        await _unavailable(send, ctx, "Vigil's integration keys are not loaded yet (PostgreSQL unreachable); retry later")
        return
    key = store.lookup(event.routing_key)
    if key is None:
        await _invalid(send, ["'routing_key' is not an integration key in use (unknown or revoked)"], reason="unknown_key")
        return
    dedup_key = event.dedup_key or uuid.uuid4().hex
    now = ctx.clock()
    try:
        async with store.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            if event.event_action == "trigger":
                # Most triggers are sent again for an alert that fires (Alertmanager's repeat_interval):
                # a read, no commit to wait for; only a new firing writes.
                started_at = (await repo.firing_since(conn, key_id=key.id, dedup_key=dedup_key)
                              or await repo.trigger(conn, key_id=key.id, dedup_key=dedup_key, now=now))
                out = [mapping.alert_event(event, dedup_key=dedup_key, key_id=key.id, key_name=key.name, service=key.service,
                                           key_labels=key.labels, started_at=started_at, resolved_at=None, received_at=now)]
            elif event.event_action == "resolve":
                firing = await repo.resolve(conn, key_id=key.id, dedup_key=dedup_key, now=now)
                out = [] if firing is None else [mapping.alert_event(
                    event, dedup_key=dedup_key, key_id=key.id, key_name=key.name, service=key.service, key_labels=key.labels,
                    started_at=firing[0], resolved_at=firing[1], received_at=now)]
            else:
                started_at = await repo.firing_since(conn, key_id=key.id, dedup_key=dedup_key)
                out = [] if started_at is None else [mapping.acknowledged_event(
                    dedup_key=dedup_key, key_id=key.id, key_name=key.name, started_at=started_at, received_at=now)]
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("events v2 store unavailable, answering 503", error=repr(exc))
        await _unavailable(send, ctx, "Vigil's database did not answer; retry later")
        return
    if out:
        started = time.perf_counter()
        try:
            await ctx.producer.publish(out, timeout_s=ctx.settings.ingest_produce_timeout_s,
                                       traceparent=child_traceparent(header(scope, b"traceparent")))
        except MessageTooLarge as exc:
            await _invalid(send, [f"the event is {exc.size:,} bytes for Kafka, which takes at most {exc.limit:,}"],
                           status=413, reason="too_large", message="Event object is too large")
            return
        except ProducerUnavailable as exc:
            log.warning("kafka unavailable, answering 503", error=str(exc))
            await _unavailable(send, ctx, "Kafka did not acknowledge the event; retry later")
            return
        log.info("pagerduty event received", action=event.event_action, integration=key.name,
                 fingerprint=out[0].fingerprint, took_ms=round((time.perf_counter() - started) * 1000, 2))
    else:
        log.info("pagerduty event for no firing alert", action=event.event_action, integration=key.name)
    EVENTS.labels(event.event_action).inc()
    await _answer(send, 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})


class Enqueue:
    """`enqueue` as an ASGI app object (see services/ingest/routes.py)."""

    async def __call__(self, scope: dict, receive, send) -> None:
        await enqueue(scope, receive, send)


ENQUEUE_DOC = f"""PagerDuty Events API v2, for Alertmanager's `pagerduty_configs` (`url:` pointed here) and
any tool that speaks it. `routing_key` is a Vigil integration key ({ROUTING_KEY_LENGTH} characters, made with
`POST /api/v1/integration-keys`); no other credential.

`trigger` puts a firing alert on `vigil.alerts.v1` (labels from the key and the payload; one incident
per dedup key); `resolve` its resolve; `acknowledge` acknowledges its incident, as the integration.
Answers **202 `{{"status":"success","message":"Event processed","dedup_key":…}}` only after Kafka
acknowledged** what the event sends (a new `dedup_key` is made for a trigger without one). An
acknowledge or resolve of a dedup key that does not fire is accepted and changes nothing.

Errors: 400 `{{"status":"invalid event","message":…,"errors":[…]}}` (not JSON, a field missing or
wrong, an unknown or revoked routing key); 413 over {MAX_EVENT_BYTES // 1024} KB; 503 with Retry-After
while Kafka or Vigil's database is unavailable (senders retry it). See docs/events-v2.md."""


def enqueue_openapi() -> tuple[dict, dict]:
    """The operation, and the component schemas it refers to."""
    schema = EnqueueEvent.model_json_schema(ref_template="#/components/schemas/{model}")
    components = {**schema.pop("$defs", {}), "EnqueueEvent": schema}
    result = {"type": "object", "properties": {"status": {"type": "string"}, "message": {"type": "string"},
                                               "dedup_key": {"type": "string"}, "errors": {"type": "array", "items": {"type": "string"}}}}
    answer = lambda text: {"description": text, "content": {"application/json": {"schema": result}}}  # noqa: E731
    operation = {
        "tags": ["events v2"], "summary": "PagerDuty Events API v2 (enqueue)", "description": ENQUEUE_DOC,
        "operationId": "events_v2_enqueue", "security": [],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnqueueEvent"}}}},
        "responses": {"202": answer("Event processed"), "400": answer("Invalid event"), "413": answer("Too large"),
                      "503": answer("Kafka or the database unavailable: retry later")},
    }
    return operation, components


# The integration-key API.

router = APIRouter(prefix="/api/v1/integration-keys", tags=["integration keys"])


def _store(request: Request) -> KeyStore:
    ctx: EventsV2Context = request.state.events_v2
    if not ctx.store.ready:
        raise HTTPException(503, detail={"error": "unavailable", "message": "ingest's database is not reachable yet"},
                            headers={"Retry-After": str(ctx.settings.ingest_retry_after_s)})
    return ctx.store


@router.post("", status_code=201, response_model=IntegrationKeyCreated, summary="Make an integration key",
             responses=error_responses(401, 403, 409, 422, 503))
async def create_key(request: Request, body: IntegrationKeyIn, principal: Admin) -> JSONResponse:
    """Makes a routing key for `/v2/enqueue`, mapped to a service and labels. **The key is in this
    answer only**: Vigil keeps its SHA-256. It works on every ingest replica within seconds (at once on this one)."""
    store = _store(request)
    key = secrets.token_hex(ROUTING_KEY_LENGTH // 2)
    async with store.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
        row = await repo.insert_key(conn, key_id=str(uuid.uuid4()), name=body.name, service=body.service, labels=body.labels,
                                    key_sha256=digest(key), key_hint=hint(key), now=request.state.events_v2.clock(),
                                    by=principal.name)
    if row is None:
        raise HTTPException(409, detail={"error": "conflict", "message": f"a key named {body.name!r} is in use; revoke it or pick another name"})
    await store.reload()
    log.info("integration key created", key_id=row["id"], name=row["name"], service=row["service"], actor=principal.name)
    created = IntegrationKeyCreated(**row, key=key)
    return JSONResponse(created.model_dump(mode="json"), status_code=201)


@router.get("", response_model=list[IntegrationKeyOut], summary="List integration keys",
            responses=error_responses(401, 403, 503))
async def list_keys(request: Request, _principal: Admin,
                    revoked: Annotated[bool, Query(description="Include revoked keys")] = False) -> list[IntegrationKeyOut]:
    """The keys (never the keys themselves: their last 4 characters), oldest first."""
    async with _store(request).pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        return [IntegrationKeyOut(**row) for row in await repo.list_keys(conn, include_revoked=revoked)]


@router.get("/{key_id}", response_model=IntegrationKeyOut, summary="One integration key",
            responses=error_responses(401, 403, 404, 503))
async def get_key(request: Request, key_id: uuid.UUID, _principal: Admin) -> IntegrationKeyOut:
    async with _store(request).pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        row = await repo.get_key(conn, str(key_id))
    if row is None:
        raise HTTPException(404, detail={"error": "not_found", "message": f"no integration key {key_id}"})
    return IntegrationKeyOut(**row)


@router.delete("/{key_id}", response_model=IntegrationKeyOut, summary="Revoke an integration key",
               responses=error_responses(401, 403, 404, 503))
async def revoke_key(request: Request, key_id: uuid.UUID, principal: Admin) -> IntegrationKeyOut:
    """Revokes the key: every ingest replica refuses it within seconds (400, unknown routing key; this one at once).
    Revoking a revoked key answers it as it is."""
    store = _store(request)
    async with store.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
        row = await repo.revoke_key(conn, str(key_id), now=request.state.events_v2.clock(), by=principal.name)
    if row is None:
        raise HTTPException(404, detail={"error": "not_found", "message": f"no integration key {key_id}"})
    await store.reload()
    log.info("integration key revoked", key_id=row["id"], name=row["name"], actor=principal.name)
    return IntegrationKeyOut(**row)


def install(app: FastAPI) -> None:
    """The enqueue route (first in the router, like the webhook), the key API, and both in OpenAPI."""
    install_asgi_route(app, ENQUEUE_PATH, Enqueue(), enqueue_openapi)
    app.include_router(router)
