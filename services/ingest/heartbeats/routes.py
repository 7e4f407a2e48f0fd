"""The heartbeat API: monitors (`/api/v1/heartbeats`, viewer to read, responder to change) and their
pings (`/api/v1/heartbeats/{id}/ping|start|fail`, with the monitor's own ping token). Every change is
one transaction: the monitor's state and its alert (into the outbox) together."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from services.ingest.config import IngestSettings
from services.ingest.heartbeats import repository as repo
from services.ingest.heartbeats import states
from services.ingest.heartbeats.runtime import Heartbeats
from services.ingest.heartbeats.schedule import Schedule, ScheduleError
from services.ingest.heartbeats.schemas import (
    HeartbeatChange,
    HeartbeatCreated,
    HeartbeatIn,
    HeartbeatOut,
    PingAnswer,
)
from services.ingest.heartbeats.service import carry_out
from services.ingest.heartbeats.states import Decision, Monitor, PingKind
from shared.api_auth import Responder, Viewer
from shared.db import ACQUIRE_TIMEOUT_S
from shared.http_errors import error_responses

log = structlog.get_logger("vigil.ingest.heartbeats")

PREFIX = "/api/v1/heartbeats"
TOKEN_BYTES = 24


@dataclass(frozen=True)
class HeartbeatsContext:
    settings: IngestSettings
    heartbeats: Heartbeats


router = APIRouter(prefix=PREFIX, tags=["heartbeats"])


def _context(request: Request) -> HeartbeatsContext:
    ctx: HeartbeatsContext = request.state.heartbeats
    if not ctx.heartbeats.ready:
        raise HTTPException(503, detail={"error": "unavailable", "message": "ingest's database is not reachable yet"},
                            headers={"Retry-After": str(ctx.settings.ingest_retry_after_s)})
    return ctx


def _not_found(monitor_id: str) -> HTTPException:
    return HTTPException(404, detail={"error": "not_found", "message": f"no heartbeat monitor {monitor_id}"})


def _uuid(monitor_id: str) -> str:
    try:
        return str(uuid.UUID(monitor_id))
    except ValueError:
        raise _not_found(monitor_id) from None


async def _locked(conn: asyncpg.Connection, monitor_id: str, *, missing: HTTPException | None = None) -> asyncpg.Record:
    """The monitor's row, locked for the transaction; `missing` (default 404) when there is none."""
    try:
        row = await repo.get(conn, str(uuid.UUID(monitor_id)), lock=True)
    except ValueError:
        row = None
    if row is None:
        raise missing or _not_found(monitor_id)
    return row


def _wrong_token() -> HTTPException:
    return HTTPException(401, detail={"error": "unauthorized", "message": "wrong ping token for this monitor"},
                         headers={"WWW-Authenticate": 'Bearer realm="vigil-heartbeat"'})


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def out_of(row: asyncpg.Record, monitor: Monitor, now: datetime) -> HeartbeatOut:
    s = monitor.schedule
    return HeartbeatOut(
        id=monitor.id, name=monitor.name, service=monitor.service, severity=monitor.severity, summary=monitor.summary,
        labels=monitor.labels,
        period_s=s.period_s, cron=s.cron, timezone=s.timezone, grace_s=monitor.grace_s,
        status=states.status_at(monitor, now), running=monitor.last_start_at is not None,
        last_ping_at=monitor.last_ping_at, last_start_at=monitor.last_start_at, expected_at=monitor.expected_at,
        down_at=monitor.due_at, firing_since=monitor.firing_since, token_hint=row["token_hint"],
        ping_path=f"{PREFIX}/{monitor.id}/ping", created_at=row["created_at"], created_by=row["created_by"],
    )


async def _apply(conn: asyncpg.Connection, ctx: HeartbeatsContext, before: Monitor, decision: Decision, now: datetime) -> None:
    hb = ctx.heartbeats
    await carry_out(conn, [(before, decision)], now=now, ce_source=hb.ce_source, notify_within=hb.notify_within)


# Pings.

PING_DOC = """{what}

Authenticate with the monitor's **ping token** (shown once, when the monitor was made) as
`Authorization: Bearer <token>` or as `?token=<token>` (for tools that can only call a URL), or with
a responder's API token. GET and POST do the same; a request body is ignored. Answers 401 for a
wrong token (and for an unknown monitor, unless the caller sent an API token: then 404), 503 while
ingest's database is away (cron's `curl --retry` retries it). Any ping resumes a paused monitor."""

DOCS = {
    "success": "A run finished: the monitor is up, its firing alert resolves, and the next ping is expected "
               "one period later (or at the cron schedule's next time).",
    "start": "A run started: it must finish (a ping) within the grace time, or the monitor goes down "
             "(its alert fires then).",
    "fail": "A run failed: the monitor is down and its alert fires at once, until a successful ping.",
}


async def _ping(request: Request, monitor_id: str, kind: PingKind, authorization: str | None, token: str | None) -> PingAnswer:
    bearer = authorization.removeprefix("Bearer ").strip() if authorization and authorization.startswith("Bearer ") else None
    secret = token or bearer
    if not secret:
        raise HTTPException(401, detail={"error": "unauthorized", "message": "the monitor's ping token is required "
                                         "(Authorization: Bearer <token>, or ?token=<token>)"},
                            headers={"WWW-Authenticate": 'Bearer realm="vigil-heartbeat"'})
    principal = None if token else request.state.authenticator.authenticate(authorization)
    if principal is not None and not principal.at_least("responder"):
        raise HTTPException(403, detail={"error": "forbidden", "message": f"pinging with an API token needs the responder "
                                         f"role; the token has {principal.role}"})
    ctx = _context(request)
    hb = ctx.heartbeats
    async with hb.store.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
        # Without an API token, an unknown monitor is a wrong token too: the answer tells nobody which ids exist.
        row = await _locked(conn, monitor_id, missing=None if principal else _wrong_token())
        if principal is None and not hmac.compare_digest(digest(secret), bytes(row["token_sha256"])):
            raise _wrong_token()
        monitor, now = repo.monitor_of(row), hb.clock()
        decision = states.ping(monitor, kind, now)
        await _apply(conn, ctx, monitor, decision, now)
    after = decision.monitor
    log.info("heartbeat ping", monitor=monitor.name, kind=kind, status=after.status, alerts=len(decision.alerts))
    return PingAnswer(status=states.status_at(after, now), expected_at=after.expected_at, down_at=after.due_at)


def _ping_route(path: str, kind: PingKind, summary: str) -> None:
    async def endpoint(
        request: Request, monitor_id: str,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        token: Annotated[str | None, Query(description="The monitor's ping token (or send it as a Bearer token).")] = None,
    ) -> PingAnswer:
        return await _ping(request, monitor_id, kind, authorization, token)

    endpoint.__doc__ = PING_DOC.format(what=DOCS[kind])
    for method in ("GET", "POST"):  # a route each: one operation id per method
        router.add_api_route(path, endpoint, methods=[method], response_model=PingAnswer, summary=summary,
                             operation_id=f"heartbeat_{kind}_{method.lower()}", responses=error_responses(401, 403, 404, 503))


_ping_route("/{monitor_id}/ping", "success", "Ping: a run finished")
_ping_route("/{monitor_id}/start", "start", "Ping: a run started")
_ping_route("/{monitor_id}/fail", "fail", "Ping: a run failed")


# Monitors.

def _schedule(body: HeartbeatChange, current: Schedule | None) -> Schedule:
    if body.period_s is not None:
        return Schedule(period_s=body.period_s)
    if body.cron is not None or (body.timezone is not None and current is not None and current.cron is not None):
        return Schedule(cron=body.cron or current.cron, timezone=body.timezone or (current.timezone if current else "UTC"))
    return current


@router.post("", status_code=201, response_model=HeartbeatCreated, summary="Make a heartbeat monitor",
             responses=error_responses(400, 401, 403, 409, 422, 503))
async def create_monitor(request: Request, body: HeartbeatIn, principal: Responder) -> JSONResponse:
    """Makes a monitor, `new` until its first ping (nothing is expected before it). **The ping token
    is in this answer only**: Vigil keeps its SHA-256."""
    ctx = _context(request)
    hb = ctx.heartbeats
    token = secrets.token_urlsafe(TOKEN_BYTES)
    monitor = Monitor(id=str(uuid.uuid4()), name=body.name, service=body.service, severity=body.severity or "high",
                      labels=body.labels or {}, schedule=_schedule(body, None), grace_s=body.grace_s,
                      summary=body.summary or None)
    now = hb.clock()
    async with hb.store.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        row = await repo.insert(conn, monitor=monitor, token_sha256=digest(token), token_hint=token[-4:], now=now,
                                by=principal.name)
    if row is None:
        raise HTTPException(409, detail={"error": "conflict", "message": f"a monitor named {body.name!r} exists"})
    log.info("heartbeat monitor created", monitor=monitor.name, schedule=monitor.schedule.describe(), actor=principal.name)
    created = HeartbeatCreated(**out_of(row, repo.monitor_of(row), now).model_dump(), token=token)
    return JSONResponse(created.model_dump(mode="json"), status_code=201)


@router.get("", response_model=list[HeartbeatOut], summary="List heartbeat monitors",
            responses=error_responses(401, 503))
async def list_monitors(request: Request, _principal: Viewer) -> list[HeartbeatOut]:
    """Every monitor with its status now, by name."""
    hb = _context(request).heartbeats
    async with hb.store.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        rows = await repo.list_all(conn)
    now = hb.clock()
    return [out_of(row, repo.monitor_of(row), now) for row in rows]


@router.get("/{monitor_id}", response_model=HeartbeatOut, summary="One heartbeat monitor",
            responses=error_responses(401, 404, 503))
async def get_monitor(request: Request, monitor_id: str, _principal: Viewer) -> HeartbeatOut:
    hb = _context(request).heartbeats
    async with hb.store.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        row = await repo.get(conn, _uuid(monitor_id))
    if row is None:
        raise _not_found(monitor_id)
    return out_of(row, repo.monitor_of(row), hb.clock())


async def _change(request: Request, monitor_id: str, change, *, actor: str, what: str, remove: bool = False) -> HeartbeatOut:
    """Lock the monitor, `change(monitor, now) -> (definition changed or None, decision)`, store both
    (`remove`: then delete the monitor)."""
    ctx = _context(request)
    hb = ctx.heartbeats
    async with hb.store.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
        row = await _locked(conn, monitor_id)
        monitor, now = repo.monitor_of(row), hb.clock()
        defined, decision = change(monitor, now)
        if defined is not None:
            try:
                row = await repo.update_definition(conn, defined, now=now)
            except asyncpg.UniqueViolationError:
                raise HTTPException(409, detail={"error": "conflict", "message": f"a monitor named {defined.name!r} exists"}) from None
        await _apply(conn, ctx, monitor, decision, now)
        if remove:
            await repo.delete(conn, monitor.id)
    log.info(f"heartbeat monitor {what}", monitor=monitor.name, actor=actor, alerts=len(decision.alerts))
    return out_of(row, decision.monitor, now)


@router.patch("/{monitor_id}", response_model=HeartbeatOut, summary="Edit a heartbeat monitor",
              responses=error_responses(400, 401, 403, 404, 409, 422, 503))
async def edit_monitor(request: Request, monitor_id: str, body: HeartbeatChange, principal: Responder) -> HeartbeatOut:
    """Changes the fields sent. A new schedule or grace time moves the deadline from the last ping at
    once (when that deadline has passed already, the alert fires now)."""

    def change(monitor: Monitor, _now: datetime) -> tuple[Monitor, Decision]:
        try:
            schedule = _schedule(body, monitor.schedule)
        except ScheduleError as exc:
            raise HTTPException(422, detail={"error": "invalid", "message": str(exc)}) from None
        defined = replace(monitor, name=body.name or monitor.name, service=body.service or monitor.service,
                          severity=body.severity or monitor.severity,
                          labels=monitor.labels if body.labels is None else body.labels,
                          summary=monitor.summary if body.summary is None else body.summary or None)
        grace_s = monitor.grace_s if body.grace_s is None else body.grace_s
        decision = states.reschedule(defined, schedule=schedule, grace_s=grace_s)
        return decision.monitor, decision

    return await _change(request, monitor_id, change, actor=principal.name, what="edited")


@router.post("/{monitor_id}/pause", response_model=HeartbeatOut, summary="Pause a heartbeat monitor",
             responses=error_responses(401, 403, 404, 503))
async def pause_monitor(request: Request, monitor_id: str, principal: Responder) -> HeartbeatOut:
    """No expectations, no alert, until resumed or pinged; an alert firing for it resolves."""
    return await _change(request, monitor_id, lambda m, now: (None, states.pause(m, now)), actor=principal.name,
                         what="paused")


@router.post("/{monitor_id}/resume", response_model=HeartbeatOut, summary="Resume a paused heartbeat monitor",
             responses=error_responses(401, 403, 404, 503))
async def resume_monitor(request: Request, monitor_id: str, principal: Responder) -> HeartbeatOut:
    """Back to `new`: the next ping starts the schedule again."""
    return await _change(request, monitor_id, lambda m, _now: (None, states.resume(m)), actor=principal.name,
                         what="resumed")


@router.delete("/{monitor_id}", status_code=204, summary="Delete a heartbeat monitor",
               responses=error_responses(401, 403, 404, 503))
async def delete_monitor(request: Request, monitor_id: str, principal: Responder) -> None:
    """Deletes the monitor; an alert firing for it resolves (nothing else ever would)."""
    await _change(request, monitor_id, lambda m, now: (None, states.delete(m, now)), actor=principal.name,
                  what="deleted", remove=True)


def install(app: FastAPI) -> None:
    app.include_router(router)
