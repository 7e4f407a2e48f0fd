"""Operations: the records of the operations process — reports (daily check, weekly and monthly
reviews), postmortems, overdue action items, runbooks and handoffs — as the incident service keeps them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.web import Me

router = APIRouter(include_in_schema=False)


@router.get("/operations")
async def operations_page(request: Request, me: Me) -> Response:
    ctx = request.state.console
    return ctx.pages.render(request, "operations.html.j2", me=me)
