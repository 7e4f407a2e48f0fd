"""The API of the simple operations records: runbooks (4.3), toil (4.1), reliability gaps (4.2),
deployments (the reviews' "changes deployed") and maintenance windows (the handoff's "scheduled
maintenance"). Each has list (viewer), create and update (responder) and delete (admin); runbooks,
toil and gaps also render their process template as Markdown.

(No `from __future__ import annotations` here: the routes are made in a loop and FastAPI must see
each body model as a real class, not as a name to look up in the module.)"""

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel

from services.incidents.api import (
    CHANGE, OR_MARKDOWN, ROUTER_ERRORS, Admin, Format, Responder, Viewer, actor, item_id, markdown_of, unit_of_work,
)
from services.incidents.lifecycle import Refused
from services.incidents.ops import repository, service
from services.incidents.ops.rendering import render
from services.incidents.ops.reports import local_day, runbook_rows, toil_rows, toil_trend
from services.incidents.ops.schemas import (
    DeploymentEdit, MaintenanceEdit, NewDeployment, NewMaintenance, NewReliabilityGap, NewRunbook, NewToil,
    ReliabilityGapEdit, RunbookEdit, ToilEdit,
)
from services.incidents.service import NotFound
from shared.service import Connection

router = APIRouter(prefix="/api/v1", tags=["records"], responses=ROUTER_ERRORS)


@dataclass(frozen=True)
class RecordApi:
    kind: str  # repository.RECORD_KINDS key
    path: str
    noun: str
    create: type[BaseModel]
    edit: type[BaseModel]
    markdown: bool = False  # `format=markdown` renders the process template (`_markdown`)


def _defaults(kind: str, values: dict, *, octx: service.OpsContext, now) -> dict:
    if kind == "toil" and values.get("month") is None:
        values["month"] = local_day(now, octx.zone).replace(day=1)
    if kind == "deployment" and values.get("deployed_at") is None:
        values["deployed_at"] = now
    return values


def _shown(kind: str, rows: list[dict], *, octx: service.OpsContext, today: date) -> list[dict]:
    """Rows with what is computed from them: runbook status, toil monthly totals."""
    if kind == "runbook":
        return runbook_rows(rows, today=today, max_age_days=octx.runbook_max_age_days)
    if kind == "toil":
        return toil_rows(rows)
    return rows


def _markdown(kind: str, rows: list[dict], *, octx: service.OpsContext, today: date) -> str | None:
    if kind == "runbook":
        reviews = [r["next_review_on"] for r in rows if r.get("next_review_on")]
        updated = [r["last_updated_on"] for r in rows if r.get("last_updated_on")]
        context = {"runbooks": rows, "last_review": max(updated) if updated else None, "next_review": min(reviews) if reviews else None}
        return render("runbooks", context, zone=octx.zone)
    if kind == "toil":
        month = today.replace(day=1)
        current = [r for r in rows if r["month"] == month] or rows
        return render("toil", {"rows": current, "trend": toil_trend(rows), "month": month.strftime("%Y-%m")}, zone=octx.zone)
    if kind == "reliability_gap":
        return render("reliability_gaps", {"gaps": rows}, zone=octx.zone)
    return None


def _register(api: RecordApi) -> None:
    kind, noun = api.kind, api.noun

    async def list_records(
        request: Request, _: Viewer, conn: Connection, limit: Annotated[int, Query(ge=1, le=1000)] = 500, format: Format = "json"
    ) -> Any:
        ctx, octx = request.state.incidents, request.state.ops
        today = local_day(ctx.clock(), octx.zone)
        rows = _shown(kind, [dict(r) for r in await repository.list_records(conn, kind, limit=limit)], octx=octx, today=today)
        if format == "markdown":
            text = _markdown(kind, rows, octx=octx, today=today)
            if text is not None:
                return markdown_of([text])
        return jsonable_encoder(rows)

    async def create_record(request: Request, body: api.create, principal: Responder) -> Response:  # type: ignore[name-defined]
        octx = request.state.ops

        async def work(conn, now):
            values = _defaults(kind, body.model_dump(exclude={"by"}), octx=octx, now=now)
            try:
                row = await repository.create_record(conn, kind, values, actor=actor(principal, body), now=now)
            except repository.RecordConflict as exc:
                raise Refused(str(exc)) from None
            return 201, _shown(kind, [dict(row)], octx=octx, today=local_day(now, octx.zone))[0]

        return await unit_of_work(request, principal, body.model_dump(), work)

    async def update_record(request: Request, record: str, body: api.edit, principal: Responder) -> Response:  # type: ignore[name-defined]
        octx = request.state.ops
        sent = body.model_dump(exclude_unset=True, exclude={"by"})

        async def work(conn, now):
            try:
                row = await repository.update_record(conn, kind, item_id(record), sent, now=now)
            except repository.RecordConflict as exc:
                raise Refused(str(exc)) from None
            if row is None:
                raise NotFound(f"no {noun} {record}")
            return 200, _shown(kind, [dict(row)], octx=octx, today=local_day(now, octx.zone))[0]

        return await unit_of_work(request, principal, body.model_dump(), work)

    async def delete_record(request: Request, record: str, principal: Admin) -> Response:
        async def work(conn, now):
            if not await repository.delete_record(conn, kind, item_id(record)):
                raise NotFound(f"no {noun} {record}")
            return 200, {"deleted": f"{noun} {record}"}

        return await unit_of_work(request, principal, {"delete": record}, work)

    router.add_api_route(f"/{api.path}", list_records, methods=["GET"], response_model=list[dict[str, Any]],
                         summary=f"List {noun}s (JSON, or Markdown where the process has a template)",
                         responses=OR_MARKDOWN if api.markdown else None)
    router.add_api_route(f"/{api.path}", create_record, methods=["POST"], status_code=201, response_model=dict[str, Any],
                         summary=f"Record a {noun}", responses=CHANGE)
    router.add_api_route(f"/{api.path}/{{record}}", update_record, methods=["PATCH"], response_model=dict[str, Any],
                         summary=f"Update a {noun} (only the fields sent)", responses=CHANGE)
    router.add_api_route(f"/{api.path}/{{record}}", delete_record, methods=["DELETE"], response_model=dict[str, Any],
                         summary=f"Delete a {noun} (admin)", responses=CHANGE)


for _api in (
    RecordApi("runbook", "runbooks", "runbook", NewRunbook, RunbookEdit, markdown=True),
    RecordApi("toil", "toil", "toil entry", NewToil, ToilEdit, markdown=True),
    RecordApi("reliability_gap", "reliability-gaps", "reliability gap", NewReliabilityGap, ReliabilityGapEdit, markdown=True),
    RecordApi("deployment", "deployments", "deployment", NewDeployment, DeploymentEdit),
    RecordApi("maintenance_window", "maintenance-windows", "maintenance window", NewMaintenance, MaintenanceEdit),
):
    _register(_api)
