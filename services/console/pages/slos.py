"""SLOs (read-only): every SLO with its target, current level, error budget remaining and what is
firing, as the SLO service says; an honest empty state says how metrics get there."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.web import Me, caller

router = APIRouter(include_in_schema=False)


@router.get("/slos")
async def slos_page(request: Request, me: Me) -> Response:
    ctx = request.state.console
    listed, error = await ctx.peers.read("slo", "/api/v1/slos", caller(me))
    return ctx.pages.render(request, "slos.html.j2", me=me, slos=(listed or {}).get("items", []),
                            evaluated_at=(listed or {}).get("evaluated_at"), error=error and error.message)
