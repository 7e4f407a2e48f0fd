"""On-call (read-only): who is on call now per schedule — both engineers during a handoff overlap —,
the shifts of the coming week, and coverage gaps, as the escalator says."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.web import Me, caller

router = APIRouter(include_in_schema=False)
AHEAD = timedelta(days=7)


@router.get("/oncall")
async def oncall_page(request: Request, me: Me) -> Response:
    ctx = request.state.console
    who = caller(me)
    now = ctx.clock()
    current, error = await ctx.peers.read("escalator", "/api/v1/oncall", who)
    gaps, gaps_error = await ctx.peers.read("escalator", "/api/v1/coverage/gaps", who, params={"weeks": 4})
    shifts: dict[str, list] = {}
    for schedule in current or []:
        found, _ = await ctx.peers.read("escalator", f"/api/v1/schedules/{schedule['schedule']}/shifts", who,
                                        params={"start": now.isoformat(), "end": (now + AHEAD).isoformat()})
        shifts[schedule["schedule"]] = found or []
    return ctx.pages.render(request, "oncall.html.j2", me=me, current=current or [], error=error and error.message,
                            gaps=gaps or [], gaps_error=gaps_error and gaps_error.message, shifts=shifts)
