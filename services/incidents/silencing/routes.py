"""The silence API (`/api/v1/silences`): create and expire (responder), list and read (viewer).
The creator and whoever expires a silence are the authenticated identity, never a body field."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from services.incidents.api import CHANGE, NAMED, ROUTER_ERRORS, Responder, Viewer, item_id, unit_of_work
from services.incidents.service import NotFound
from services.incidents.silencing import repository as repo, service
from services.incidents.silencing.schemas import NewSilence, SilenceOut, SuppressedAlert, checked_matchers
from shared.service import Connection

router = APIRouter(prefix="/api/v1", tags=["silences"], responses=ROUTER_ERRORS)
State = Literal["active", "pending", "expired"]


@router.post("/silences", status_code=201, response_model=SilenceOut, summary="Create a silence", responses=CHANGE)
async def create_silence(request: Request, body: NewSilence, principal: Responder) -> JSONResponse:
    """While it is active, a new firing alert that every matcher matches is recorded as suppressed by
    it: it opens no incident and pages nobody (`GET /silences/{id}/alerts` lists them). When the
    silence ends — expired, or its `ends_at` passed — an alert it still holds takes the normal path:
    it opens or joins an incident and pages. Alerts that fired before the silence started keep
    their incidents. A regex that does not compile, or matchers that would match every alert, are
    refused with 422."""

    async def work(conn, now):
        row = await service.create_silence(
            conn, matchers=checked_matchers(body.matchers), starts_at=body.starts_at or now, ends_at=body.ends_at,
            created_by=principal.name, comment=body.comment, now=now,
        )
        return 201, SilenceOut.from_row(row, now=now)

    return await unit_of_work(request, principal, body.model_dump(), work)


@router.get("/silences", response_model=list[SilenceOut], summary="List silences, latest end first")
async def list_silences(
    request: Request, _: Viewer, conn: Connection,
    state: Annotated[State | None, Query(description="active, pending (not started) or expired; default: all")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[SilenceOut]:
    """Each with how many alerts it has suppressed and how many it holds now (firing, no incident)."""
    now = request.state.incidents.clock()
    return [SilenceOut.from_row(r, now=now) for r in await repo.list_silences(conn, state=state, now=now, limit=limit)]


@router.get("/silences/{silence}", response_model=SilenceOut, summary="One silence", responses=NAMED)
async def get_silence(request: Request, silence: str, _: Viewer, conn: Connection) -> SilenceOut:
    row = await repo.get_silence(conn, _silence_id(silence))
    if row is None:
        raise _missing(silence)
    return SilenceOut.from_row(row, now=request.state.incidents.clock())


@router.get("/silences/{silence}/alerts", response_model=list[SuppressedAlert], summary="The alerts a silence suppressed",
            responses=NAMED)
async def suppressed_alerts(
    silence: str, _: Viewer, conn: Connection, limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[SuppressedAlert]:
    """Oldest first. `held`: still firing and held (no incident, nobody paged); `incident`: the
    incident it joined when the silence ended while it fired."""
    silence_id = _silence_id(silence)
    if await repo.get_silence(conn, silence_id) is None:
        raise _missing(silence)
    return [SuppressedAlert.from_row(r) for r in await repo.suppressed_alerts(conn, silence_id, limit=limit)]


@router.post("/silences/{silence}/expire", response_model=SilenceOut, summary="Expire a silence now", responses=CHANGE)
async def expire_silence(request: Request, silence: str, principal: Responder) -> JSONResponse:
    """Ends it now (a silence that has not started ends at its start). The alerts it holds that
    still fire take the normal path in the same request: they open or join incidents, which page.
    An ended silence is 409."""
    silence_id = _silence_id(silence)
    rules = request.state.grouping

    async def work(conn, now):
        row = await service.expire_silence(conn, silence_id, by=principal.name, rules=rules, now=now)
        return 200, SilenceOut.from_row(row, now=now)

    return await unit_of_work(request, principal, {"expire": silence_id}, work)


def _silence_id(value: str) -> int:
    try:
        return item_id(value)
    except NotFound:
        raise _missing(value) from None


def _missing(value: str) -> HTTPException:
    return HTTPException(404, detail={"error": "not_found", "message": f"no silence {value}"})
