"""The postmortem, action item and noise API. Reads need a viewer, records a responder, the
postmortem policy an admin. Each change runs in one transaction (with `Idempotency-Key`, as the
incident API)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.incidents import repository as incident_repo
from services.incidents.api import (
    CHANGE, OR_MARKDOWN, ROUTER_ERRORS, Admin, Format, Responder, Viewer, actor, incident_filter, incident_id, item_id,
    markdown_of, unit_of_work,
)
from services.incidents.lifecycle import Entry, Refused
from services.incidents.ops import repository, service
from services.incidents.ops.postmortems import WorkflowRefused, checklist, is_overdue
from services.incidents.ops.rendering import render
from services.incidents.ops.schemas import (
    ActionItemEdit, ActionItemOut, NewActionItem, NoiseMark, PostmortemEdit, PostmortemOut, PostmortemPolicy, PostmortemPolicyOut,
)
from services.incidents.service import NotFound
from shared.service import Connection

router = APIRouter(prefix="/api/v1", tags=["postmortems"], responses=ROUTER_ERRORS)


def action_item_out(row: asyncpg.Record, *, today: date) -> ActionItemOut:
    d = dict(row)
    return ActionItemOut(
        **{k: d[k] for k in ("id", "postmortem_id", "title", "owner", "priority", "due_on", "status", "created_at", "updated_at", "closed_at")},
        incident=f"INC-{d['incident_id']}" if d["incident_id"] else None,
        overdue=is_overdue(d, today=today),
    )


async def postmortem_out(conn: asyncpg.Connection, pm: asyncpg.Record, *, ctx: service.OpsContext, now: datetime) -> PostmortemOut:
    incident = await incident_repo.get_incident_row(conn, pm["incident_id"])
    today = ctx.today(now)
    items = [
        action_item_out(r, today=today)
        for r in await repository.list_action_items(conn, statuses=[], incident_id=pm["incident_id"], owner=None, due_before=None, limit=500)
    ]
    data = {
        **{k: pm[k] for k in ("id", "status", "author", "reviewers", "summary", "impact", "duration_s", "root_cause", "resolution",
                              "timeline", "went_well", "went_poorly", "lessons", "review_at", "published_at", "created_at", "updated_at")},
        "incident": f"INC-{pm['incident_id']}",
        "incident_title": incident["title"],
        "severity": incident["severity"],
        "checklist": checklist(pm["checklist"], action_items=len(items), review_at=pm["review_at"]),
        "action_items": [i.model_dump() for i in items],
    }
    data["markdown"] = render("postmortem", {"pm": data, "incident": dict(incident)}, zone=ctx.zone)
    return PostmortemOut(**data)


@router.get("/postmortems", response_model=list[PostmortemOut], summary="Postmortems, newest first (JSON or Markdown)",
            responses=OR_MARKDOWN)
async def list_postmortems(
    request: Request,
    _: Viewer,
    conn: Connection,
    status: Annotated[Literal["draft", "in_review", "published"] | None, Query()] = None,
    incident: Annotated[str | None, Query(max_length=30, description="INC-<n>")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    format: Format = "json",
) -> Response | list[PostmortemOut]:
    ctx, octx = request.state.incidents, request.state.ops
    iid = incident_filter(incident)
    now = ctx.clock()
    rows = await repository.list_postmortems(conn, status=status, incident_id=iid, limit=limit)
    out = [await postmortem_out(conn, r, ctx=octx, now=now) for r in rows]
    return markdown_of([p.markdown for p in out]) if format == "markdown" else out


@router.post("/incidents/{ref}/postmortem", status_code=201, response_model=PostmortemOut,
             summary="Open the postmortem of a resolved incident (SEV1/SEV2 get one when they resolve)", responses=CHANGE)
async def open_postmortem(request: Request, ref: str, principal: Responder) -> Response:
    iid, octx = incident_id(ref), request.state.ops

    async def work(conn, now):
        row = await incident_repo.get_incident_row(conn, iid, for_update=True)
        if row is None:
            raise NotFound(f"no incident {ref}")
        if row["status"] != "resolved":
            raise Refused(f"INC-{iid} is {row['status']}; a postmortem follows the resolve")
        pm = await service.open_postmortem(conn, row, now=now, reason="opened by a person", by=actor(principal, None))
        if pm is None:
            raise Refused(f"INC-{iid} has a postmortem already")
        return 201, await postmortem_out(conn, pm, ctx=octx, now=now)

    return await unit_of_work(request, principal, {"open": iid}, work)


@router.patch("/incidents/{ref}/postmortem", response_model=PostmortemOut,
              summary="Edit the postmortem (sections, reviewers, checklist) or move it draft → in_review → published",
              responses=CHANGE)
async def edit_postmortem(request: Request, ref: str, body: PostmortemEdit, principal: Responder) -> Response:
    iid, octx = incident_id(ref), request.state.ops
    sent = body.model_dump(exclude_unset=True, exclude={"by"})
    sent = {k: v for k, v in sent.items() if v is not None or k in ("review_at", "summary", "author")}
    if body.timeline is not None:
        sent["timeline"] = [t.model_dump() for t in body.timeline]

    async def work(conn, now):
        try:
            pm = await service.edit_postmortem(conn, iid, sent, by=actor(principal, body), now=now)
        except service.NoPostmortem as exc:
            raise NotFound(str(exc)) from None
        except WorkflowRefused as exc:
            raise Refused(str(exc)) from None
        return 200, await postmortem_out(conn, pm, ctx=octx, now=now)

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.get("/postmortem-policy", response_model=PostmortemPolicyOut, summary="Which SEVs get a postmortem when they resolve")
async def get_policy(request: Request, _: Viewer, conn: Connection) -> PostmortemPolicyOut:
    return PostmortemPolicyOut(sevs=await repository.postmortem_sevs(conn))


@router.put("/postmortem-policy", response_model=PostmortemPolicyOut, summary="Set the SEVs that get a postmortem (admin)",
            responses=CHANGE)
async def set_policy(request: Request, body: PostmortemPolicy, principal: Admin) -> Response:
    async def work(conn, now):
        await repository.set_postmortem_sevs(conn, body.sevs, by=actor(principal, body), now=now)
        return 200, PostmortemPolicyOut(sevs=await repository.postmortem_sevs(conn))

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.get("/action-items", response_model=list[ActionItemOut], summary="Action items, due first; `overdue=true` for the overdue list")
async def list_action_items(
    request: Request,
    _: Viewer,
    conn: Connection,
    status: Annotated[list[Literal["open", "in_progress", "done", "wont_do"]], Query(description="repeatable")] = [],  # noqa: B006
    incident: Annotated[str | None, Query(max_length=30)] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    overdue: Annotated[bool, Query(description="only open items past their due date (in the report zone)")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ActionItemOut]:
    ctx, octx = request.state.incidents, request.state.ops
    today = octx.today(ctx.clock())
    iid = incident_filter(incident)
    statuses = ["open", "in_progress"] if overdue and not status else list(status)
    rows = await repository.list_action_items(
        conn, statuses=statuses, incident_id=iid, owner=owner, due_before=today if overdue else None, limit=limit
    )
    return [action_item_out(r, today=today) for r in rows]


@router.post("/action-items", status_code=201, response_model=ActionItemOut, summary="Create an action item", responses=CHANGE)
async def create_action_item(request: Request, body: NewActionItem, principal: Responder) -> Response:
    octx = request.state.ops
    iid = incident_id(body.incident) if body.incident else None

    async def work(conn, now):
        try:
            row = await service.add_action_item(
                conn, incident_id=iid, title=body.title, owner=body.owner, priority=body.priority, due_on=body.due_on,
                by=actor(principal, body), now=now, today=octx.today(now),
            )
        except service.NoPostmortem as exc:
            raise NotFound(str(exc)) from None
        return 201, action_item_out(row, today=octx.today(now))

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.patch("/action-items/{item}", response_model=ActionItemOut, summary="Update an action item (status, owner, due date, …)",
              responses=CHANGE)
async def update_action_item(request: Request, item: str, body: ActionItemEdit, principal: Responder) -> Response:
    octx = request.state.ops
    sent = {k: v for k, v in body.model_dump(exclude_unset=True, exclude={"by"}).items() if v is not None}

    async def work(conn, now):
        row = await service.update_action_item(conn, item_id(item), sent, now=now)
        if row is None:
            raise NotFound(f"no action item {item}")
        return 200, action_item_out(row, today=octx.today(now))

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.post("/incidents/{ref}/noise", response_model=dict, responses=CHANGE,
             summary="Mark an incident as noise (its alerts were false positives), or take it back")
async def mark_noise(request: Request, ref: str, principal: Responder, body: NoiseMark | None = None) -> Response:
    iid, body = incident_id(ref), body or NoiseMark()

    async def work(conn, now):
        if await incident_repo.get_incident_row(conn, iid, for_update=True) is None:
            raise NotFound(f"no incident {ref}")
        was = await repository.is_noise(conn, iid)
        await repository.set_noise(conn, iid, noise=body.noise, reason=body.reason, by=actor(principal, body), now=now)
        if was != body.noise:
            text = ("marked as noise" + (f": {body.reason}" if body.reason else "")) if body.noise else "no longer marked as noise"
            await incident_repo.add_timeline(conn, iid, [Entry("noise", text, actor(principal, body))], at=now)
        return 200, {"incident": f"INC-{iid}", "noise": body.noise}

    return await unit_of_work(request, principal, body.model_dump(), work)
