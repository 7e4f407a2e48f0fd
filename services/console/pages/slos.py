"""The SLO pages (read-only), everything as the SLO service says it, read as the signed-in person:
every SLO worst first with its budget, burn rates and firing alerts; one SLO with its budgets,
burn-rate rules, daily history and the burn-down chart (proxied: the console's CSP allows only its
own images); capacity forecasts. Empty states say what to do: connect the console, or send metrics."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console import slo_view
from services.console.peers import PeerError
from services.console.web import Me, PageError, caller
from shared.events import Topic

router = APIRouter(include_in_schema=False)
HISTORY_DAYS = 31
# The proxied chart: an image that may load nothing, run nothing and be framed by nobody.
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=60",
}


def _slo_path(service: str, slo: str) -> str:
    return f"/api/v1/slos/{quote(service, safe='')}/{quote(slo, safe='')}"


def _how_to_send(request: Request, services: list[str]) -> dict:
    """What the empty states show: the SLO service's address as the console reaches it, the topic."""
    ctx = request.state.console
    slo_url = ctx.settings.console_slo_url or "http://<slo-service>:8083"
    return {"slo_url": slo_url, "topic": ctx.settings.topic_prefix + Topic.METRICS,
            "curl": slo_view.push_example(slo_url=slo_url, service=services[0] if services else "checkout", now=ctx.clock())}


@router.get("/slos")
async def slos_page(request: Request, me: Me) -> Response:
    ctx = request.state.console
    who = caller(me)
    (listed, error), (defined, _), (capacity, _) = await asyncio.gather(
        ctx.peers.read("slo", "/api/v1/slos", who, params={"burn_rates": "true"}),
        ctx.peers.read("slo", "/api/v1/definitions", who),
        ctx.peers.read("slo", "/api/v1/capacity", who))
    slos = slo_view.worst_first((listed or {}).get("items", []))
    definitions = (defined or {}).get("items", [])
    named = sorted({d["service"] for d in definitions if d["service"] != "*"})
    capacity_items = (capacity or {}).get("items", [])
    return ctx.pages.render(
        request, "slos.html.j2", me=me, view=slo_view, slos=slos, error=error and error.message,
        connected=ctx.peers.configured("slo"), evaluated_at=(listed or {}).get("evaluated_at"), definitions=definitions,
        counts=slo_view.count_states(slos), waiting=slo_view.waiting_definitions(definitions, slos), capacity_alerts=[c for c in capacity_items if c.get("alert")],
        capacity_count=len(capacity_items), **_how_to_send(request, named))


@router.get("/slos/capacity")
async def capacity_page(request: Request, me: Me) -> Response:
    ctx = request.state.console
    capacity, error = await ctx.peers.read("slo", "/api/v1/capacity", caller(me))
    return ctx.pages.render(
        request, "slo_capacity.html.j2", me=me, view=slo_view, error=error and error.message,
        items=slo_view.capacity_soonest_first((capacity or {}).get("items", [])),
        evaluated_at=(capacity or {}).get("evaluated_at"), today=ctx.clock().date(), **_how_to_send(request, []))


@router.get("/slos/{service}/{slo}")
async def slo_page(request: Request, me: Me, service: str, slo: str) -> Response:
    ctx = request.state.console
    who = caller(me)
    try:
        detail = await ctx.peers.get("slo", _slo_path(service, slo), who)
    except PeerError as exc:
        if exc.peer_status == 404:
            raise PageError(404, "No such SLO", f"The SLO service knows no SLO “{slo}” for the service “{service}”: "
                            "it is not configured, or that service has sent no metrics yet.") from None
        raise
    history, history_error = await ctx.peers.read("slo", _slo_path(service, slo) + "/history", who,
                                                  params={"days": HISTORY_DAYS})
    days = (history or {}).get("days", [])
    return ctx.pages.render(
        request, "slo.html.j2", me=me, view=slo_view, slo=detail, state=slo_view.state_of(detail),
        days=[d for d in reversed(days) if d["total_events"]], history_days=HISTORY_DAYS, history_error=history_error and history_error.message,
        chart_url=f"/slos/{quote(service, safe='')}/{quote(slo, safe='')}/burn-down.svg",
        chart_alt=slo_view.burn_down_alt(detail, days, ctx.clock()))


@router.get("/slos/{service}/{slo}/burn-down.svg")
async def burn_down_chart(request: Request, me: Me, service: str, slo: str) -> Response:
    """The SLO service's chart, fetched as the signed-in person and served only if it is a picture."""
    ctx = request.state.console
    answer = await ctx.peers.fetch("slo", _slo_path(service, slo) + "/burn-down.svg", caller(me), accept="image/svg+xml")
    try:
        slo_view.check_svg(answer.content)
    except slo_view.UnsafeSvg as exc:
        raise PageError(502, "Chart refused", f"The SLO service's chart was not shown: it carries {exc}.") from None
    return Response(answer.content, media_type="image/svg+xml", headers=SVG_HEADERS)
