"""The report API: daily checks and weekly/monthly reviews generated on demand and stored (one per
period; regenerating keeps what a person added), the incident report, on-call handoffs. Reads need
a viewer; generating, editing and handing off a responder."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from services.incidents.api import (
    CHANGE, NAMED, OR_MARKDOWN, ROUTER_ERRORS, Format, Responder, Viewer, actor, incident_id, item_id, markdown_of, not_found,
    unit_of_work,
)
from services.incidents.lifecycle import Refused
from services.incidents.ops import handoff_repository, handover_flow, repository, service
from services.incidents.ops.handovers import ROTATION_WINDOW, rotation_verdict
from services.incidents.ops.reports import day_period, local_day, month_period, parse_month, week_period
from services.incidents.ops.schemas import (
    CompleteHandoff, GenerateReport, HandoffAck, HandoffOut, NewHandoff, ReportManual, ReportOut,
)
from services.incidents.service import NotFound
from shared.api_types import YEARS
from shared.service import Connection

router = APIRouter(prefix="/api/v1", tags=["reports"], responses=ROUTER_ERRORS)
Kind = Literal["daily_check", "weekly_review", "monthly_review"]
PATH_KIND = {"daily-check": "daily_check", "weekly-review": "weekly_review", "monthly-review": "monthly_review"}


def period_of(kind: str, body: GenerateReport, *, octx: service.OpsContext, now: datetime):
    today = local_day(now, octx.zone)
    if kind == "daily_check":
        return day_period(body.day or today, octx.zone)
    if kind == "weekly_review":
        return week_period(body.week_of or today, octx.zone)
    try:
        year, month = parse_month(body.month) if body.month else (today.year, today.month)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    if year not in YEARS:
        raise Refused(f"{body.month!r} is not in the years {YEARS.start} to {YEARS.stop - 1}")
    return month_period(year, month, octx.zone)


async def generate(request: Request, kind: str, body: GenerateReport, principal) -> Response:
    octx, by = request.state.ops, actor(principal, body)
    inputs = await service.peer_inputs(octx.peers, kind=kind)  # before the transaction: peers may be slow
    self_ok = await octx.self_check() if kind == "daily_check" else True

    async def work(conn, now):
        period = period_of(kind, body, octx=octx, now=now)
        data = await service.report_data(conn, kind=kind, period=period, octx=octx, inputs=inputs, self_ok=self_ok, now=now)
        row = await service.store_report(conn, kind=kind, period=period, data=data, by=by, zone=octx.zone, now=now)
        return 201, ReportOut(**dict(row))

    return await unit_of_work(request, principal, {"kind": kind, **body.model_dump()}, work)


@router.post("/reports/daily-check", status_code=201, response_model=ReportOut,
             summary="Run today's (or `day`'s) daily operations check and store it", responses=CHANGE)
async def generate_daily_check(request: Request, principal: Responder, body: GenerateReport | None = None) -> Response:
    return await generate(request, "daily_check", body or GenerateReport(), principal)


@router.post("/reports/weekly-review", status_code=201, response_model=ReportOut,
             summary="Generate and store the weekly operations review of this week (or the week of `week_of`)", responses=CHANGE)
async def generate_weekly(request: Request, principal: Responder, body: GenerateReport | None = None) -> Response:
    return await generate(request, "weekly_review", body or GenerateReport(), principal)


@router.post("/reports/monthly-review", status_code=201, response_model=ReportOut,
             summary="Generate and store the monthly operations review of this month (or `month`, YYYY-MM)", responses=CHANGE)
async def generate_monthly(request: Request, principal: Responder, body: GenerateReport | None = None) -> Response:
    return await generate(request, "monthly_review", body or GenerateReport(), principal)


@router.patch("/reports/{kind}/{period}", response_model=ReportOut,
              summary="Add what a person writes: operator, manual checks, anomalies, attendees, recommendations, …",
              responses=CHANGE)
async def edit_report(request: Request, kind: str, period: str, body: ReportManual, principal: Responder) -> Response:
    octx = request.state.ops
    stored_kind = PATH_KIND.get(kind, kind)
    # The fields sent, with their rows' defaults (an anomaly without `action`), and null leaving a
    # field as it is: the templates need each of them (either was a 500).
    sent = {k: v for k, v in body.model_dump(mode="json", exclude={"by"}).items() if k in body.model_fields_set and v is not None}

    async def work(conn, now):
        row = await repository.get_report(conn, stored_kind, period)
        if row is None:
            raise NotFound(f"no {kind} report for {period}; generate it first")
        manual = {**row["manual"], **sent}
        if "checks" in sent:
            manual["checks"] = {**row["manual"].get("checks", {}), **sent["checks"]}
        markdown = service.render_report(stored_kind, row["data"], manual, zone=octx.zone)
        updated = await repository.update_report_manual(conn, stored_kind, period, manual=manual, markdown=markdown, now=now)
        return 200, ReportOut(**dict(updated))

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.get("/reports", response_model=list[ReportOut], summary="Stored reports, newest period first (JSON or Markdown)",
            responses=OR_MARKDOWN)
async def list_reports(
    request: Request,
    _: Viewer,
    conn: Connection,
    kind: Annotated[Kind | None, Query()] = None,
    period: Annotated[str | None, Query(max_length=20, description="2026-12-01, 2026-W49, 2026-12")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    format: Format = "json",
) -> Response | list[ReportOut]:
    rows = await repository.list_reports(conn, kind=kind, period=period, limit=limit)
    out = [ReportOut(**dict(r)) for r in rows]
    return markdown_of([r.markdown for r in out]) if format == "markdown" else out


@router.get("/incidents/{ref}/report", response_model=dict[str, Any],
            summary="The incident's declaration (2.1) and resolution (2.3) records, JSON with `markdown`, or Markdown",
            responses={**OR_MARKDOWN, **NAMED})
async def get_incident_report(request: Request, ref: str, _: Viewer, conn: Connection, format: Format = "json") -> Response | dict:
    ctx, octx = request.state.incidents, request.state.ops
    iid = incident_id(ref)
    report = await service.incident_report(conn, iid, zone=octx.zone, now=ctx.clock(), calendar=octx.calendar)
    if report is None:
        raise not_found(ref)
    return markdown_of([report["markdown"]]) if format == "markdown" else report


def handoff_out(row, *, zone: str) -> HandoffOut:
    return HandoffOut(**{k: v for k, v in dict(row).items() if k != "updated_at"})


async def rotation_check(octx: service.OpsContext, body: NewHandoff, now: datetime) -> tuple[bool, str | None]:
    """(checked, note) for a handoff written by hand: 422 naming who the rotation says when its
    from/to are not one of the escalator's handovers around now; not checked (with why) when the
    escalator is not configured or does not answer — the handoff is still taken."""
    if octx.peers is None:
        return False, "no escalator configured"
    said = await octx.peers.handovers(start=now - ROTATION_WINDOW, end=now + ROTATION_WINDOW)
    if said.state != "ok" or not isinstance(said.data, list):
        return False, {"not_configured": "no escalator configured"}.get(said.state, f"the escalator did not answer: {said.error}")
    matches, why = rotation_verdict(body.from_person, body.to_person, said.data, now=now, zone=octx.zone)
    if not matches:
        raise HTTPException(422, detail={"error": "not_the_rotation", "message": why})
    return True, None


@router.post("/handoffs", status_code=201, response_model=HandoffOut,
             summary="Write the on-call handoff (outgoing engineer): open items, recent incidents, maintenance, note",
             responses=CHANGE)
async def create_handoff(request: Request, body: NewHandoff, principal: Responder) -> Response:
    """`from_person` and `to_person` must be a handover of the escalator's rotation within a day of
    now (422 names who the rotation says). When the escalator cannot be asked the handoff is taken
    with `rotation_checked` false and `rotation_note` saying why. Handoffs the rotation's handovers
    draft themselves are completed with `PUT /handoffs/{id}`."""
    octx = request.state.ops
    checked, note = await rotation_check(octx, body, request.state.incidents.clock())  # before the transaction

    async def work(conn, now):
        data = await handover_flow.prefilled(conn, now=now, today=local_day(now, octx.zone))
        draft = {**body.model_dump(exclude={"by"}), "data": data, "created_at": now, "acknowledged_by": None,
                 "acknowledged_at": None, "status": "completed", "rotation_checked": checked, "rotation_note": note}
        row = await handoff_repository.insert_handoff(
            conn, from_person=body.from_person, to_person=body.to_person, note=body.note, things_to_watch=body.things_to_watch,
            data=data, markdown=service.render_handoff(draft, zone=octx.zone), by=actor(principal, body), now=now,
            rotation_checked=checked, rotation_note=note,
        )
        return 201, handoff_out(row, zone=octx.zone)

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.put("/handoffs/{handoff}", response_model=HandoffOut,
            summary="The outgoing engineer completes the drafted handoff: note, things to watch, open items", responses=CHANGE)
async def complete_handoff(request: Request, handoff: str, body: CompleteHandoff, principal: Responder) -> Response:
    """Only the handoff's `from_person` (or an admin) may; a service account acting for a person says
    so with `by` (without it, it acts for the service). An acknowledged handoff cannot change any more (409)."""
    octx = request.state.ops
    who = actor(principal, body)

    async def work(conn, now):
        row = await handoff_repository.get_handoff(conn, item_id(handoff), for_update=True)
        if row is None:
            raise NotFound(f"no handoff {handoff}")
        # As for acknowledging: a service account not naming anyone acts for the service (the CLI).
        if who != row["from_person"] and (body.by or not (principal.is_service or principal.at_least("admin"))):
            raise HTTPException(403, detail={"error": "forbidden",
                                             "message": f"the handoff is from {row['from_person']}; {who} cannot complete it"})
        if row["acknowledged_at"] is not None:
            raise Refused(f"{row['acknowledged_by']} acknowledged the handoff already; it cannot change any more")
        data = dict(row["data"])
        if body.open_items is not None:
            data["open_items"] = [i.model_dump() for i in body.open_items]
        changed = {**dict(row), "note": body.note, "things_to_watch": body.things_to_watch, "data": data,
                   "status": "completed" if row["status"] == "draft" else row["status"]}
        updated = await handoff_repository.complete_handoff(
            conn, row["id"], note=body.note, things_to_watch=body.things_to_watch, data=data,
            markdown=service.render_handoff(changed, zone=octx.zone), now=now)
        return 200, handoff_out(updated, zone=octx.zone)

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.get("/handoffs/{handoff}", response_model=HandoffOut, summary="One on-call handoff (JSON or Markdown)",
            responses={**OR_MARKDOWN, **NAMED})
async def get_handoff(request: Request, handoff: str, _: Viewer, conn: Connection, format: Format = "json") -> Response | HandoffOut:
    try:
        row = await handoff_repository.get_handoff(conn, item_id(handoff))
    except NotFound:
        row = None
    if row is None:
        raise HTTPException(404, detail={"error": "not_found", "message": f"no handoff {handoff}"})
    out = handoff_out(row, zone=request.state.ops.zone)
    return markdown_of([out.markdown]) if format == "markdown" else out


@router.post("/handoffs/{handoff}/acknowledge", response_model=HandoffOut,
             summary="The incoming engineer acknowledges the handoff (idempotent)", responses=CHANGE)
async def acknowledge_handoff(request: Request, handoff: str, principal: Responder, body: HandoffAck | None = None) -> Response:
    octx, body = request.state.ops, body or HandoffAck()
    who = actor(principal, body)

    async def work(conn, now):
        row = await handoff_repository.get_handoff(conn, item_id(handoff), for_update=True)
        if row is None:
            raise NotFound(f"no handoff {handoff}")
        if row["acknowledged_at"] is not None:
            return 200, handoff_out(row, zone=octx.zone)
        if who != row["to_person"] and (body.by or not principal.is_service):
            raise Refused(f"the handoff is to {row['to_person']}; {who} cannot acknowledge it")
        markdown = service.render_handoff({**dict(row), "acknowledged_by": who, "acknowledged_at": now}, zone=octx.zone)
        return 200, handoff_out(await handoff_repository.acknowledge_handoff(conn, row["id"], by=who, markdown=markdown, now=now), zone=octx.zone)

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.get("/handoffs", response_model=list[HandoffOut], summary="On-call handoffs, newest first (JSON or Markdown)",
            responses=OR_MARKDOWN)
async def list_handoffs(
    request: Request, _: Viewer, conn: Connection, limit: Annotated[int, Query(ge=1, le=200)] = 20, format: Format = "json"
) -> Response | list[HandoffOut]:
    octx = request.state.ops
    out = [handoff_out(r, zone=octx.zone) for r in await handoff_repository.list_handoffs(conn, limit=limit)]
    return markdown_of([h.markdown for h in out]) if format == "markdown" else out
