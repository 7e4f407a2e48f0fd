"""The incident HTTP API (`/api/v1/incidents`). Thin: each route opens the unit of work, calls the
same service functions the consumers use, and maps refusals to 409 and unknown ids to 404."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel

from services.incidents import lifecycle, repository as repo, service
from services.incidents.api import (
    CHANGE, NAMED, ROUTER_ERRORS, Admin, Responder, Viewer, actor, incident_id, not_found, unit_of_work,
)
from services.incidents.lifecycle import Status
from services.incidents.schemas import (
    Actor, AlertItem, AttachAlert, Declare, Impact, IncidentDetail, IncidentOut, IncidentPage, Note, Reopen, Resolve,
    SetCommander, SetSeverity, SetStatus, SeverityOut, TimelineItem, Unacknowledge,
)
from services.incidents.severities import severity_table
from shared.api_auth import Principal
from shared.service import Connection

router = APIRouter(prefix="/api/v1", tags=["incidents"], responses=ROUTER_ERRORS)
LABEL_FILTER = r"^[^=]{1,100}=.+$"  # `name=value`: the first `=` ends the name; the value may hold more


def lifecycle_route(decide: Callable[[lifecycle.Incident, str, Actor, datetime], lifecycle.Change]):
    """A POST that applies one lifecycle decision, made by the request's actor, and returns the incident."""

    async def run(request: Request, ref: str, principal: Principal, body: Actor) -> JSONResponse:
        iid, on_resolved = incident_id(ref), request.state.incidents.on_resolved
        by = actor(principal, body)

        async def work(conn, now):
            row, _ = await service.change_incident(
                conn, iid, lambda inc: decide(inc, by, body, now), now=now, on_resolved=on_resolved
            )
            return 200, IncidentOut.from_row(row, now=now, calendar=request.state.incidents.calendar)

        return await unit_of_work(request, principal, body.model_dump(), work)

    return run


@router.get("/incidents", response_model=IncidentPage, summary="List incidents, newest first")
async def list_incidents(
    request: Request,
    _: Viewer,
    conn: Connection,
    status: Annotated[list[Status], Query(description="investigating, mitigating, resolved; repeatable")] = [],  # noqa: B006
    severity: Annotated[list[Annotated[int, Query(ge=1, le=4)]], Query(description="1-4; repeatable")] = [],  # noqa: B006
    since: Annotated[AwareDatetime | None, Query(description="detected at or after (with a UTC offset)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="detected before (with a UTC offset)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in title, impact or root cause")] = None,
    label: Annotated[list[Annotated[str, Query(pattern=LABEL_FILTER, max_length=500)]], Query(
        max_length=20, description="`name=value`, e.g. `service=checkout`; repeatable, all must match")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> Response:
    """Filters combine with AND; a repeated `status` or `severity` matches any of its values.
    `label=name=value` matches incidents whose labels (the labels of the alert that opened it, or
    those given when it was declared) include that label with exactly that value: `label=service=checkout
    &label=team=payments` lists the incidents of the payments team's checkout service. A label not
    of the form `name=value` is refused with 422."""
    ctx = request.state.incidents
    rows = await repo.list_incidents(
        conn, statuses=status, severities=severity, since=since, until=until, text=q,
        labels=[tuple(item.split("=", 1)) for item in label], before_id=int(cursor) if cursor else None, limit=limit + 1,
    )
    now = ctx.clock()
    items = [IncidentOut.from_row(r, now=now, calendar=ctx.calendar) for r in rows[:limit]]
    return _read(IncidentPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None))


def _read(answer: BaseModel) -> Response:
    """A read's answer as FastAPI sends a route's `response_model` — the same bytes — without dumping it
    to a dict and validating that again first: a third of a 100-incident list's serialising time. The
    models are validated once, where they are made."""
    return Response(answer.model_dump_json(by_alias=True), media_type="application/json")


@router.get("/severities", response_model=list[SeverityOut], summary="What each SEV means (SEV1-SEV4)")
async def list_severities(request: Request, _: Viewer) -> list[SeverityOut]:
    """The operations process's severity definitions (2.2) with their response targets and
    escalation (1.3), for anyone choosing a SEV. `response_due` says when the acknowledgement is due
    with this service's business calendar (the SEV4 "next business day")."""
    return [SeverityOut(**row) for row in severity_table(request.state.incidents.calendar)]


@router.get("/incidents/{ref}", response_model=IncidentDetail, summary="One incident with its alerts and timeline",
            responses=NAMED)
async def get_incident(
    request: Request, ref: str, _: Viewer, conn: Connection,
    timeline_limit: Annotated[int | None, Query(ge=1, le=10_000, description=(
        "Only the newest this many timeline entries (still in time order); `timeline_total` says how many "
        "there are in all. Without it: the whole timeline."))] = None,
) -> Response:
    ctx = request.state.incidents
    iid = incident_id(ref)
    row = await repo.get_incident_row(conn, iid)
    if row is None:
        raise not_found(ref)
    alerts = await repo.alerts_of(conn, iid)
    if timeline_limit is None:
        timeline = await repo.timeline(conn, iid)
        total = len(timeline)
    else:
        timeline, total = await repo.newest_timeline(conn, iid, limit=timeline_limit)
    out = IncidentOut.from_row(row, now=ctx.clock(), calendar=ctx.calendar)
    return _read(IncidentDetail(
        **out.model_dump(),
        alerts=[AlertItem(**dict(a)) for a in alerts],
        timeline=[TimelineItem(**dict(t)) for t in timeline],
        timeline_total=total,
    ))


@router.get("/incidents/{ref}/timeline", response_model=list[TimelineItem], summary="The incident's timeline, in time order",
            responses=NAMED)
async def get_timeline(request: Request, ref: str, _: Viewer, conn: Connection) -> list[TimelineItem]:
    iid = incident_id(ref)
    if await repo.get_incident_row(conn, iid) is None:
        raise not_found(ref)
    return [TimelineItem(**dict(t)) for t in await repo.timeline(conn, iid)]


@router.get("/incidents/{ref}/alerts", response_model=list[AlertItem], summary="The alerts of the incident", responses=NAMED)
async def get_alerts(request: Request, ref: str, _: Viewer, conn: Connection) -> list[AlertItem]:
    iid = incident_id(ref)
    if await repo.get_incident_row(conn, iid) is None:
        raise not_found(ref)
    return [AlertItem(**dict(a)) for a in await repo.alerts_of(conn, iid)]


@router.post("/incidents", status_code=201, response_model=IncidentOut, summary="Declare an incident (e.g. from a user report)",
             responses=CHANGE)
async def declare(request: Request, body: Declare, principal: Responder) -> JSONResponse:
    who = actor(principal, body)

    async def work(conn, now):
        row = await service.open_incident(
            conn, group_key=f"declared:{now.isoformat()}:{who}:{body.title}", title=body.title, severity=body.severity,
            detected_by=body.detected_by, labels=body.labels, started_at=body.started_at or now, now=now,
            actor=who, opened_text=f"declared by {who}", impact_text=body.description, commander=body.commander,
            severity_source="person",
        )
        if row is None:
            raise lifecycle.Refused("an incident with this title was just declared by the same person")
        return 201, IncidentOut.from_row(row, now=now, calendar=request.state.incidents.calendar)

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.post("/incidents/{ref}/acknowledge", response_model=IncidentOut, summary="Acknowledge (idempotent)", responses=CHANGE)
async def acknowledge(request: Request, ref: str, principal: Responder, body: Actor | None = None) -> JSONResponse:
    return await lifecycle_route(lambda inc, by, b, now: lifecycle.acknowledge(inc, by=by, now=now))(
        request, ref, principal, body or Actor()
    )


@router.post("/incidents/{ref}/unacknowledge", response_model=IncidentOut, summary="Take back an acknowledgement",
             responses=CHANGE)
async def unacknowledge(request: Request, ref: str, principal: Responder, body: Unacknowledge | None = None) -> JSONResponse:
    return await lifecycle_route(
        lambda inc, by, b, now: lifecycle.unacknowledge(inc, by=by, reason=b.reason, now=now)
    )(request, ref, principal, body or Unacknowledge())


@router.post("/incidents/{ref}/status", response_model=IncidentOut, summary="Set the status (Investigating → Mitigating → Resolved)",
             responses=CHANGE)
async def set_status(request: Request, ref: str, body: SetStatus, principal: Responder) -> JSONResponse:
    return await lifecycle_route(lambda inc, by, b, now: lifecycle.set_status(inc, status=b.status, by=by, now=now))(
        request, ref, principal, body
    )


@router.post("/incidents/{ref}/resolve", response_model=IncidentOut, summary="Resolve, with the resolution fields",
             responses=CHANGE)
async def resolve(request: Request, ref: str, principal: Responder, body: Resolve | None = None) -> JSONResponse:
    """409 `alerts_firing` while alerts of the incident still fire, unless `even_if_firing`."""
    body = body or Resolve()
    iid, on_resolved = incident_id(ref), request.state.incidents.on_resolved
    by = actor(principal, body)
    fields = lifecycle.Resolution(body.root_cause, body.contributing_factors, body.fix_applied)

    async def work(conn, now):
        firing = await repo.firing_count(conn, iid)
        row, _ = await service.change_incident(
            conn, iid, lambda inc: lifecycle.resolve(inc, by=by, now=now, resolution=fields, firing=firing,
                                                     even_if_firing=body.even_if_firing),
            now=now, on_resolved=on_resolved)
        return 200, IncidentOut.from_row(row, now=now, calendar=request.state.incidents.calendar)

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.post("/incidents/{ref}/reopen", response_model=IncidentOut, summary="Reopen a resolved incident", responses=CHANGE)
async def reopen(request: Request, ref: str, principal: Admin, body: Reopen | None = None) -> JSONResponse:
    return await lifecycle_route(lambda inc, by, b, now: lifecycle.reopen(inc, by=by, reason=b.reason, now=now))(
        request, ref, principal, body or Reopen()
    )


@router.post("/incidents/{ref}/severity", response_model=IncidentOut, summary="Set the severity (a person's choice wins over alerts)",
             responses=CHANGE)
async def set_severity(request: Request, ref: str, body: SetSeverity, principal: Admin) -> JSONResponse:
    return await lifecycle_route(
        lambda inc, by, b, now: lifecycle.set_severity(inc, severity=b.severity, by=by, now=now)
    )(request, ref, principal, body)


@router.post("/incidents/{ref}/commander", response_model=IncidentOut, summary="Assign the incident commander", responses=CHANGE)
async def set_commander(request: Request, ref: str, body: SetCommander, principal: Admin) -> JSONResponse:
    return await lifecycle_route(
        lambda inc, by, b, now: lifecycle.assign_commander(inc, commander=b.commander, by=by, now=now)
    )(request, ref, principal, body)


@router.post("/incidents/{ref}/notes", status_code=201, response_model=list[TimelineItem], summary="Add a note to the timeline",
             responses=CHANGE)
async def add_note(request: Request, ref: str, body: Note, principal: Responder) -> JSONResponse:
    iid, by = incident_id(ref), actor(principal, body)

    async def work(conn, now):
        if await repo.get_incident_row(conn, iid) is None:
            raise service.NotFound(f"no incident {ref}")
        await repo.add_timeline(conn, iid, [lifecycle.Entry("note", body.text, by)], at=now)
        return 201, [TimelineItem(**dict(t)) for t in await repo.timeline(conn, iid)]

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.patch("/incidents/{ref}/impact", response_model=IncidentOut, summary="Update impact, status text and next update time",
              responses=CHANGE)
async def update_impact(request: Request, ref: str, body: Impact, principal: Admin) -> JSONResponse:
    iid, by = incident_id(ref), actor(principal, body)

    async def work(conn, now):
        row = await repo.get_incident_row(conn, iid, for_update=True)
        if row is None:
            raise service.NotFound(f"no incident {ref}")
        sent = body.model_dump(exclude_unset=True)
        details = {
            "impact_users": sent.get("users_affected", row["impact_users"]),
            "impact_features": sent.get("features_impacted", row["impact_features"]) or [],
            "impact_revenue": sent.get("revenue_impact", row["impact_revenue"]),
            "impact_text": sent.get("text", row["impact_text"]),
            "status_text": sent.get("status_text", row["status_text"]),
            "next_update_at": sent.get("next_update_at", row["next_update_at"]),
        }
        await repo.update_details(conn, iid, details=details, now=now)
        changed = ", ".join(k for k in sent if k != "by") or "nothing"
        await repo.add_timeline(conn, iid, [lifecycle.Entry("impact_updated", f"updated {changed}", by)], at=now)
        return 200, IncidentOut.from_row(await repo.get_incident_row(conn, iid), now=now,
                                         calendar=request.state.incidents.calendar)

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.post("/incidents/{ref}/alerts", response_model=list[AlertItem], summary="Attach an alert occurrence to the incident",
             responses=CHANGE)
async def attach_alert(request: Request, ref: str, body: AttachAlert, principal: Admin) -> JSONResponse:
    iid, by = incident_id(ref), actor(principal, body)

    async def work(conn, now):
        if await repo.get_incident_row(conn, iid, for_update=True) is None:
            raise service.NotFound(f"no incident {ref}")
        if await repo.attach_occurrence(conn, body.fingerprint, body.starts_at, iid) is None:
            raise service.NotFound(f"no alert {body.fingerprint} starting {body.starts_at.isoformat()}")
        text = f"alert {body.fingerprint} attached"
        await repo.add_timeline(conn, iid, [lifecycle.Entry("alert_attached", text, by)], at=now)
        return 200, [AlertItem(**dict(a)) for a in await repo.alerts_of(conn, iid)]

    return await unit_of_work(request, principal, body.model_dump(), work)

