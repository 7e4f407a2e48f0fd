"""The escalator's HTTP API: who is on call, shifts, overrides, coverage gaps, iCalendar feeds, the
configuration (policies, business hours, schedules) and an incident's escalation. Thin: each route
reads or writes through the repository and asks the pure rotation model."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Annotated

import structlog
import yaml
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from services.escalator import repository as repo, service
from services.escalator.calendar_feed import FeedShift, feed
from services.escalator.oncall_config import ConfigError, OnCallConfig, ScheduleSpec, parse, schedule_of
from services.escalator.rotation import coverage_gaps, effective_shifts, who_is_on_call
from services.escalator.schemas import (
    ConfigOut, EscalationOut, GapOut, NewOverride, OnCallOut, OverrideOut, PageOut, PersonOut, ShiftOut, TicketOut,
    TimerOut,
)
from shared.api_auth import RANK, Admin, Principal, Responder, Viewer
from shared.api_types import Instant
from shared.http_errors import error_responses, request_body
from shared.service import Connection, Transaction

log = structlog.get_logger("vigil.escalator.api")
REMOVED_OVERRIDES_SHOWN = timedelta(days=30)

router = APIRouter(prefix="/api/v1", tags=["on-call"], responses=error_responses(401, 403, 422, 503))
NAMED = error_responses(404)  # a route naming a schedule (or an override, an incident)
MAX_CONFIG_BYTES = 1024 * 1024
MAX_RANGE = timedelta(days=366)
FEED_PAST, FEED_AHEAD = timedelta(days=14), timedelta(weeks=16)
INCIDENT_REF = re.compile(r"^(?:INC-)?(\d{1,18})$", re.IGNORECASE)


def bad_request(message: str, status: int = 422, error: str = "invalid_request") -> HTTPException:
    return HTTPException(status, detail={"error": error, "message": message})


async def _config(request: Request, conn) -> OnCallConfig:
    return await request.state.escalator.store.current(conn)


def _spec(config: OnCallConfig, name: str) -> ScheduleSpec:
    spec = config.schedule_spec(name)
    if spec is None:
        raise HTTPException(404, detail={"error": "not_found", "message": f"no schedule {name!r}; see GET /api/v1/schedules"})
    return spec


async def _model(conn, spec: ScheduleSpec, start: datetime, end: datetime):
    rows = await repo.overrides(conn, spec.name, start=start, end=end)
    return schedule_of(spec, [service.override_of(r) for r in rows])


def _range(start: datetime | None, end: datetime | None, now: datetime, default: timedelta) -> tuple[datetime, datetime]:
    start = start or now
    end = end or start + default
    if end <= start:
        raise bad_request("end must be after start")
    if end - start > MAX_RANGE:
        raise bad_request(f"at most {MAX_RANGE.days} days at a time")
    return start, end


@router.get("/oncall", response_model=list[OnCallOut], summary="Who is on call now, or at a given time", responses=NAMED)
async def oncall(request: Request, _: Viewer, conn: Connection, schedule: str | None = None, at: Instant | None = None) -> list[OnCallOut]:
    """Primary and backup of every schedule (or of `schedule`) at `at` (default now). During a
    handoff overlap both the outgoing and the incoming engineer are listed: both receive pages."""
    ctx = request.state.escalator
    at = at or ctx.clock()
    config = await _config(request, conn)
    specs = [_spec(config, schedule)] if schedule else list(config.schedules)
    out = []
    for spec in specs:
        who = who_is_on_call(await _model(conn, spec, at, at + timedelta(seconds=1)), at=at)
        out.append(OnCallOut(schedule=spec.name, at=at, primary=who.primary, backup=who.backup))
    return out


@router.get("/schedules", response_model=list[dict], summary="The schedules and their rotations")
async def schedules(request: Request, _: Viewer, conn: Connection) -> list[dict]:
    config = await _config(request, conn)
    return [s.model_dump(mode="json") for s in config.schedules]


@router.get("/schedules/{name}/shifts", response_model=list[ShiftOut], summary="A schedule's shifts in a time range", responses=NAMED)
async def shifts(
    request: Request, name: str, _: Viewer, conn: Connection, start: Instant | None = None, end: Instant | None = None,
) -> list[ShiftOut]:
    """Absolute UTC intervals, overrides applied (an override is a shift with `number` null). Default: the next 4 weeks."""
    ctx = request.state.escalator
    start, end = _range(start, end, ctx.clock(), timedelta(weeks=4))
    spec = _spec(await _config(request, conn), name)
    model = await _model(conn, spec, start, end)
    return [
        ShiftOut(schedule=name, tier=tier, person=s.person, start_at=s.start_at, end_at=s.end_at, number=s.number)
        for tier, rotation, overrides in model.tiers()
        for s in effective_shifts(rotation, overrides, start=start, end=end)
    ]


@router.get("/schedules/{name}/overrides", response_model=list[OverrideOut], summary="Overrides not yet over", responses=NAMED)
async def list_overrides(
    request: Request, name: str, _: Viewer, conn: Connection,
    removed: Annotated[bool, Query(description="Instead: the overrides removed in the last 30 days (who removed each, when), "
                                               "latest first")] = False,
) -> list[OverrideOut]:
    ctx = request.state.escalator
    _spec(await _config(request, conn), name)
    now = ctx.clock()
    if removed:
        rows = await repo.removed_overrides(conn, name, since=now - REMOVED_OVERRIDES_SHOWN, limit=500)
    else:
        rows = await repo.overrides(conn, name, start=now, end=now + timedelta(days=3660))
    return [OverrideOut(**dict(r)) for r in rows]


@router.post("/schedules/{name}/overrides", status_code=201, response_model=OverrideOut, summary="Add an override",
             responses=error_responses(400, 404))
async def add_override(request: Request, name: str, body: NewOverride, principal: Responder, conn: Transaction) -> OverrideOut:
    """`person` covers `tier` for [start_at, end_at) instead of whoever is scheduled (the last
    override created wins where several overlap). Timers already planned page whoever is on call
    when they fire, so an override applies to running escalations too."""
    ctx = request.state.escalator
    _spec(await _config(request, conn), name)
    row = await repo.insert_override(conn, schedule=name, tier=body.tier, person=body.person.strip(),
                                     start_at=body.start_at, end_at=body.end_at, by=principal.name, now=ctx.clock())
    log.info("override added", schedule=name, override_id=row["id"], tier=row["tier"], person=row["person"],
             start_at=row["start_at"].isoformat(), end_at=row["end_at"].isoformat(), actor=principal.name)
    return OverrideOut(**dict(row))


@router.delete("/schedules/{name}/overrides/{override_id}", status_code=204, summary="Remove an override", responses=NAMED)
async def remove_override(request: Request, name: str, override_id: int, principal: Responder, conn: Transaction) -> Response:
    """The override stops applying at once; its row stays, with who removed it and when
    (`GET …/overrides?removed=true`). Removing it again is 404."""
    row = await repo.remove_override(conn, name, override_id, by=principal.name, now=request.state.escalator.clock())
    if row is None:
        raise HTTPException(404, detail={"error": "not_found", "message": f"no override {override_id} in force on {name!r}"})
    log.info("override removed", schedule=name, override_id=override_id, tier=row["tier"], person=row["person"],
             actor=principal.name)
    return Response(status_code=204)


async def _gaps(request: Request, conn, names: list[str] | None, weeks: int) -> list[GapOut]:
    start = request.state.escalator.clock()
    end = start + timedelta(weeks=weeks)
    out: list[GapOut] = []
    config = await _config(request, conn)
    for spec in [_spec(config, n) for n in names] if names else config.schedules:
        for g in coverage_gaps(await _model(conn, spec, start, end), start=start, end=end):
            minutes = (g.end_at - g.start_at).total_seconds() / 60
            out.append(GapOut(schedule=spec.name, tier=g.tier, start_at=g.start_at, end_at=g.end_at, minutes=minutes))
    return out


@router.get("/schedules/{name}/gaps", response_model=list[GapOut], summary="Coverage gaps of one schedule", responses=NAMED)
async def schedule_gaps(request: Request, name: str, _: Viewer, conn: Connection, weeks: int = Query(8, ge=1, le=52)) -> list[GapOut]:
    """Every stretch of the next `weeks` weeks without a primary or without a backup. Empty = 24/7 covered."""
    return await _gaps(request, conn, [name], weeks)


@router.get("/coverage/gaps", response_model=list[GapOut], summary="Coverage gaps of every schedule")
async def all_gaps(request: Request, _: Viewer, conn: Connection, weeks: int = Query(8, ge=1, le=52)) -> list[GapOut]:
    """What the daily operations check reports: every schedule, the next `weeks` weeks."""
    return await _gaps(request, conn, None, weeks)


def _feed_reader(request: Request, token: str | None = Query(None, description="For calendar apps that cannot send headers.")) -> Principal:
    """Calendar apps subscribe to a URL: a viewer token may come as `?token=` instead of a header."""
    header = request.headers.get("authorization") or (f"Bearer {token}" if token else None)
    principal = request.state.authenticator.authenticate(header)
    if principal is None or RANK[principal.role] < RANK["viewer"]:
        raise HTTPException(401, detail={"error": "unauthorized", "message": "a valid API token is required"},
                            headers={"WWW-Authenticate": 'Bearer realm="vigil"'})
    return principal


FeedReader = Annotated[Principal, Depends(_feed_reader)]
ICS = "text/calendar; charset=utf-8"
FEED = {200: {"description": "An iCalendar (RFC 5545) feed", "content": {"text/calendar": {"schema": {"type": "string"}}}}}


@router.get("/schedules/{name}/calendar.ics", summary="iCalendar feed of a schedule", response_class=Response,
            responses={**FEED, **NAMED})
async def schedule_feed(request: Request, name: str, _: FeedReader, conn: Connection) -> Response:
    ctx = request.state.escalator
    now = ctx.clock()
    spec = _spec(await _config(request, conn), name)
    model = await _model(conn, spec, now - FEED_PAST, now + FEED_AHEAD)
    items = [FeedShift(name, tier, s) for tier, r, o in model.tiers()
             for s in effective_shifts(r, o, start=now - FEED_PAST, end=now + FEED_AHEAD)]
    return Response(feed(f"On call: {name}", items, now=now), media_type=ICS)


@router.get("/people/{person}/calendar.ics", summary="iCalendar feed of one person's on-call shifts", response_class=Response,
            responses=FEED)
async def person_feed(request: Request, person: str, _: FeedReader, conn: Connection) -> Response:
    ctx = request.state.escalator
    now = ctx.clock()
    start, end = now - FEED_PAST, now + FEED_AHEAD
    items = []
    for spec in (await _config(request, conn)).schedules:
        model = await _model(conn, spec, start, end)
        items += [FeedShift(spec.name, tier, s) for tier, r, o in model.tiers()
                  for s in effective_shifts(r, o, start=start, end=end) if s.person == person]
    return Response(feed(f"On call: {person}", items, now=now), media_type=ICS)


@router.get("/people/{person}", response_model=PersonOut, responses=NAMED,
            summary="One person's contact methods and notification rules (the person themselves, or an admin)")
async def person(request: Request, person: str, principal: Viewer, conn: Connection) -> PersonOut:
    """As the configuration in force has them, which is what the notifier uses: the `contact`
    shorthand (an e-mail address) is the method `email`; empty rules mean the notifier's defaults."""
    if principal.name != person and not principal.at_least("admin"):
        raise HTTPException(403, detail={"error": "forbidden", "message": "only the person themselves or an admin may read this"})
    config = await _config(request, conn)
    found = config.people.get(person)
    if found is None:
        raise HTTPException(404, detail={"error": "not_found", "message": f"{person} is not in the on-call configuration"})
    return PersonOut(
        person=person, contact=found.contact, contact_methods=list(found.methods),
        page_rules=[r.step() for r in found.page_rules], notify_rules=[r.step() for r in found.notify_rules],
        schedules=[f"{s.name}/{tier}" for s in config.schedules for tier, rotation in (("primary", s.primary), ("backup", s.backup))
                   if person in rotation.participants],
    )


@router.get("/config", response_model=ConfigOut, summary="The configuration in force")
async def get_config(request: Request, _: Viewer, conn: Connection) -> ConfigOut:
    row = await repo.latest_config(conn)
    return ConfigOut(version=row["version"], source=row["source"], created_by=row["created_by"],
                     created_at=row["created_at"], document=row["document"])


@router.put("/config", response_model=ConfigOut, summary="Replace the configuration (JSON or YAML body)",
            responses=error_responses(400, 413), openapi_extra=request_body(OnCallConfig))
async def put_config(request: Request, principal: Admin) -> ConfigOut:
    """Validated as a whole; stored as a new version. Incidents already open keep the policy they
    opened with; schedules, people and routes apply at once. Send `Content-Type: application/yaml`
    for YAML. A restart imports the file again only if the file changed."""
    raw = bytearray()
    async for chunk in request.stream():  # the limit holds while reading, chunked bodies too
        raw += chunk
        if len(raw) > MAX_CONFIG_BYTES:
            raise bad_request(f"at most {MAX_CONFIG_BYTES} bytes", 413, "too_large")
    raw = bytes(raw)  # yaml reads bytes, not a bytearray
    try:
        if "yaml" in request.headers.get("content-type", ""):
            data = yaml.safe_load(raw)
        else:
            data = json.loads(raw)
        config = parse(data, where="configuration")
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"the body is not valid JSON/YAML: {exc}", 400, "invalid_body") from None
    except ConfigError as exc:
        raise bad_request(str(exc)) from None
    ctx = request.state.escalator
    # A connection only once the body is read and valid: a slow upload holds none.
    async with ctx.pool.acquire() as conn, conn.transaction():
        await ctx.store.store(conn, config, source="api", by=principal.name, now=ctx.clock())
        row = await repo.latest_config(conn)
    return ConfigOut(version=row["version"], source=row["source"], created_by=row["created_by"],
                     created_at=row["created_at"], document=row["document"])


def _incident_number(ref: str) -> int:
    """The number of `INC-42` or `42`, as the incident service names incidents (404 otherwise)."""
    match = INCIDENT_REF.match(ref)
    if match is None:
        raise HTTPException(404, detail={"error": "not_found", "message": f"{ref!r} is not an incident id or INC-<n>"})
    return int(match.group(1))


@router.get("/incidents/{ref}/escalation", response_model=EscalationOut, summary="An incident's escalation",
            responses=NAMED)
async def escalation(request: Request, ref: str, _: Viewer, conn: Connection) -> EscalationOut:
    """Its policy snapshot, every timer (pending, fired, cancelled, with what it did) and the pages and
    tickets sent. `ref`: `INC-42` or `42`."""
    incident_id = _incident_number(ref)
    # One snapshot: an event applied between two plain reads could show its pages beside the
    # incident's state from before it (pages while still "suppressed").
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        incident = await repo.get_incident(conn, incident_id)
        if incident is None:
            raise HTTPException(404, detail={"error": "not_found", "message": f"the escalator has not seen INC-{incident_id}"})
        timers, pages, tickets = await repo.escalation_of(conn, incident_id)
    return EscalationOut(
        incident_id=incident_id, number=incident["number"], severity=incident["severity"], status=incident["status"],
        schedule=incident["schedule"], acknowledged_at=incident["acknowledged_at"], policy=incident["policy"],
        suppressed=incident["suppressed"],
        note="suppressed: opened during a maintenance window, so nobody is paged or ticketed" if incident["suppressed"] else None,
        budget_note=incident["budget_note"],
        timers=[TimerOut(**{k: t[k] for k in TimerOut.model_fields}) for t in timers],
        pages=[PageOut(**{k: p[k] for k in PageOut.model_fields}) for p in pages],
        tickets=[TicketOut(**{k: t[k] for k in TicketOut.model_fields}) for t in tickets],
    )
