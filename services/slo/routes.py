"""The SLO HTTP API (`/api/v1/slos`, `/api/v1/capacity`) and the metrics push endpoint
(`POST /api/v1/metrics`). Thin: reads what the evaluator stored, or computes one SLO's history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError

from services.slo import repository as repo
from services.slo.budget_policy import policy_for, release_gate
from services.slo.chart import burn_down_svg
from services.slo.definitions import definitions_for
from services.slo.history import daily_history, month_days
from services.slo.schemas import (
    CapacityList, DefinitionList, PushAccepted, ReleaseGateOut, SloDetail, SloHistory, SloList,
)
from services.slo.service import FromTheFuture, check_not_future
from services.slo.windows import calendar_month
from shared.api_auth import Responder, Viewer
from shared.events import MetricsEvent, Topic
from shared.http_errors import error_responses, request_body, validation_fields
from shared.kafka import ProducerUnavailable
from shared.metrics import own_registry
from shared.service import Connection

router = APIRouter(prefix="/api/v1", tags=["slo"], responses=error_responses(401, 403, 422, 503))
NAMED = error_responses(404)  # a route naming one SLO
SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$")
METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
PUSHED = Counter("vigil_slo_push_total", "Metrics push requests, by outcome", ["outcome"], registry=METRICS)
PUSH_BATCH = TypeAdapter(list[MetricsEvent])
MAX_PUSH_EVENTS = 5000


def _not_found(what: str) -> HTTPException:
    return HTTPException(404, detail={"error": "not_found", "message": what})


@router.get("/slos", response_model=SloList, summary="Every SLO with its status (the dashboard table)")
async def list_slos(_p: Viewer, conn: Connection, service: str | None = Query(default=None, max_length=200),
                    burn_rates: bool = Query(default=False, description="Include every burn-rate rule, as the detail does")) -> dict:
    """One row per SLO and service as the evaluator last computed it: target, current value, met,
    the rolling 30-day and calendar-month budgets, projected exhaustion and firing alert tiers."""
    rows = await repo.list_statuses(conn, service)
    items = [r["status"] if burn_rates else {k: v for k, v in r["status"].items() if k != "burn_rates"} for r in rows]
    return {"items": items, "evaluated_at": max((r["evaluated_at"] for r in rows), default=None)}


async def _status(conn, service: str, slo: str) -> dict:
    row = await repo.get_status(conn, service, slo)
    if row is None:
        raise _not_found(f"no SLO {slo!r} evaluated for service {service!r}")
    return row["status"]


@router.get("/slos/{service}/{slo}", response_model=SloDetail, summary="One SLO: budgets and burn rates", responses=NAMED)
async def get_slo(service: str, slo: str, _p: Viewer, conn: Connection) -> dict:
    """The SLO's status with every burn-rate rule: both windows' burn, the threshold, whether it
    fires and whether the low-traffic guard held it back."""
    return await _status(conn, service, slo)


def _definition(request: Request, service: str, slo: str):
    for d in definitions_for(service, request.state.slo.definitions):
        if d.name == slo:
            return d
    raise _not_found(f"no SLO {slo!r} is defined for service {service!r}")


async def _history(request: Request, conn, service: str, slo: str, days: int) -> tuple[object, list[dict]]:
    ctx = request.state.slo
    definition = _definition(request, service, slo)
    now = ctx.clock()
    zone = ctx.settings.slo_calendar_timezone
    first = now.astimezone(ZoneInfo(zone)).date() - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    hours = await repo.hours_of_service(conn, service, start=start, end=now + timedelta(hours=1))
    slices = await repo.slices_of_service(conn, slo, service, start=start, end=now + timedelta(hours=1))
    return definition, daily_history(definition=definition, hours=hours, bad_minutes_by_hour=slices, start=start, now=now, zone=zone)


@router.get("/slos/{service}/{slo}/history", response_model=SloHistory, summary="One SLO's daily history", responses=NAMED)
async def slo_history(request: Request, service: str, slo: str, _p: Viewer, conn: Connection,
                      days: int = Query(default=30, ge=1, le=40)) -> dict:
    """Per local day (in `VIGIL_SLO_CALENDAR_TIMEZONE`): good and total events, bad minutes for
    time-slice SLOs, the SLI, and how much of that calendar month's budget was left at the day's end."""
    _definition, rows = await _history(request, conn, service, slo, days)
    return {"id": f"{service}:{slo}", "days": rows}


@router.get("/slos/{service}/{slo}/burn-down.svg", summary="Error-budget burn-down chart (SVG)",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}, **NAMED})
async def burn_down(request: Request, service: str, slo: str, _p: Viewer, conn: Connection) -> Response:
    """The calendar month's remaining budget per day against the even-burn line."""
    ctx = request.state.slo
    now = ctx.clock()
    zone = ctx.settings.slo_calendar_timezone
    month = calendar_month(now, zone)
    first_day = month.start.astimezone(ZoneInfo(zone)).date()
    days_so_far = (now.astimezone(ZoneInfo(zone)).date() - first_day).days + 1
    definition, rows = await _history(request, conn, service, slo, days_so_far)
    month_rows = [r for r in rows if r["day"] >= first_day]
    svg = burn_down_svg(
        title=f"{definition.title} ({definition.objective_text()}) of {service}: error budget, {first_day:%B %Y}",
        days=[(r["day"], r["budget_remaining_percent"]) for r in month_rows], ideal_days=month_days(now, zone),
    )
    return Response(svg, media_type="image/svg+xml")


@router.get("/definitions", response_model=DefinitionList, summary="The SLOs this service is configured with")
async def list_definitions(request: Request, _p: Viewer) -> dict:
    """Every configured SLO (from `VIGIL_SLO_CONFIG_FILE`, or the defaults), known before any metrics
    arrive; `service: "*"` applies to every service that sends metrics."""
    return {"items": [{**d.model_dump(), "objective": d.objective_text(), "selectors": d.selectors}
                      for d in request.state.slo.definitions]}


@router.get("/capacity", response_model=CapacityList, summary="Capacity per service and resource")
async def list_capacity(_p: Viewer, conn: Connection, service: str | None = Query(default=None, max_length=200)) -> dict:
    """Current utilisation, the weekly least-squares trend and the date the threshold will be
    crossed ("scaling needed by"), as the evaluator last computed them."""
    rows = await repo.list_capacity(conn, service)
    return {"items": [r["status"] for r in rows], "evaluated_at": max((r["evaluated_at"] for r in rows), default=None)}


@router.get("/services/{service}/release-gate", response_model=ReleaseGateOut, responses=NAMED,
            summary="Whether the error-budget policy allows releases now")
async def get_release_gate(request: Request, service: str, _p: Viewer, conn: Connection) -> dict:
    """The freeze signal for deploy tooling: `allowed` is false while an SLO of the service is in the
    state its `error_budget_policy` freezes on (by default: its 30-day budget is exhausted), and
    `reason` says which SLO and how much of its budget is spent. As of the evaluator's last tick.
    404 when no SLO of the service has been evaluated (it has sent no metrics)."""
    rows = await repo.list_statuses(conn, service)
    if not rows:
        raise _not_found(f"no SLO evaluated for service {service!r}")
    policy = policy_for(service, request.state.slo.budget_policies)
    gate = release_gate(service=service, statuses=[r["status"] for r in rows], policy=policy)
    return {"service": service, "allowed": gate.allowed, "reason": gate.reason, "policy": policy.model_dump(),
            "slos": gate.slos, "evaluated_at": max(r["evaluated_at"] for r in rows)}


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail={"error": "too_large", "message": f"the body exceeds {limit} bytes"})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, detail={"error": "too_large", "message": f"the body exceeds {limit} bytes"})
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/metrics", status_code=202, response_model=PushAccepted, summary="Push metrics events",
             responses=error_responses(400, 413), openapi_extra=request_body(MetricsEvent | list[MetricsEvent]))
async def push_metrics(request: Request, _p: Responder) -> JSONResponse:
    """For tools that cannot produce to Kafka: one `MetricsEvent` or a JSON array of them (at most
    5,000), put on `vigil.metrics.v1` exactly as a producer would. Answers 202 once Kafka has
    acknowledged every event, 503 with Retry-After when it cannot. Needs a responder token.
    400 not JSON; 413 over `VIGIL_SLO_MAX_BODY_BYTES`; 422 not valid events (each field named)."""
    ctx = request.state.slo
    body = await read_body(request, ctx.settings.slo_max_body_bytes)
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        PUSHED.labels("invalid_json").inc()
        raise HTTPException(400, detail={"error": "invalid_json", "message": "the body is not JSON"}) from None
    try:
        events = PUSH_BATCH.validate_python(raw if isinstance(raw, list) else [raw])
        if len(events) > MAX_PUSH_EVENTS:
            raise HTTPException(422, detail={"error": "too_many_events", "message": f"at most {MAX_PUSH_EVENTS} events per request"})
        # PostgreSQL text cannot hold NUL: the consumer would retry such an event for ever, holding
        # up its partition (issue 17's fuzzing). JSON can only spell NUL as \u0000.
        if b"\\u0000" in body and any("\x00" in e.event_id or "\x00" in e.source for e in events):
            PUSHED.labels("invalid").inc()
            raise HTTPException(422, detail={"error": "invalid_request", "message": "event_id and source cannot hold NUL (\\u0000)"})
        now = ctx.clock()
        for e in events:
            check_not_future(e, now)
    except ValidationError as exc:
        PUSHED.labels("invalid").inc()
        raise HTTPException(422, detail={"error": "invalid_request", "message": "not valid metrics events",
                                         "fields": validation_fields(exc.errors())}) from None
    except FromTheFuture as exc:
        PUSHED.labels("invalid").inc()
        raise HTTPException(422, detail={"error": "invalid_request", "message": str(exc)}) from None
    try:
        await ctx.producer.publish(events, timeout_s=5)
    except ProducerUnavailable as exc:
        PUSHED.labels("unavailable").inc()
        raise HTTPException(503, detail={"error": "unavailable", "message": f"Kafka did not acknowledge: {exc}"},
                            headers={"Retry-After": "5"}) from None
    PUSHED.labels("accepted").inc()
    return JSONResponse({"accepted": len(events), "topic": Topic.METRICS}, status_code=202)
