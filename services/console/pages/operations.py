"""Operations: the records of the operations process as the incident service keeps them — reports
(daily check, weekly and monthly reviews) and postmortems rendered from their Markdown, action
items (overdue first), runbooks and on-call handoffs. Every link they carry to an incident or a
runbook opens in the console (services/console/markdown.py). Viewers read; responders also run a
report, acknowledge a handoff made to them and move an action item along."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console import markdown, rendering
from services.console.web import Me, PageError, Responding, caller

router = APIRouter(include_in_schema=False)

# URL kind -> (the incident service's stored kind, what people call it, how it is produced)
REPORTS = {
    "daily-check": ("daily_check", "Daily check", "day"),
    "weekly-review": ("weekly_review", "Weekly review", "week"),
    "monthly-review": ("monthly_review", "Monthly review", "month"),
}
STORED = {stored: kind for kind, (stored, _, _) in REPORTS.items()}
PERIOD = re.compile(r"^\d{4}-(?:W\d{2}|\d{2}(?:-\d{2})?)$")
OPEN_ITEMS = ("open", "in_progress")
ITEM_STATUSES = {"in_progress": "in progress", "done": "done", "wont_do": "won't do"}
DONE = {"generated": "produced", "acknowledged": "Handoff acknowledged.", "item": "Action item updated.",
        "completed": "Handoff completed: the incoming engineer is asked to acknowledge it when the overlap starts."}


def report_kind(kind: str) -> str:
    """The URL's report kind (`daily-check`; `daily_check` as the API names it is accepted too)."""
    kind = kind.replace("_", "-")
    if kind not in REPORTS:
        raise PageError(404, "Not found", f"There is no kind of report called {kind[:40]!r}: the console shows daily checks, "
                        "weekly reviews and monthly reviews.")
    return kind


def report_path(report: dict) -> str:
    return f"/operations/reports/{STORED.get(report['kind'], report['kind'])}/{quote(report['period'])}"


def _number(value: str, noun: str) -> str:
    if not value.isdigit() or len(value) > 18:
        raise PageError(404, "Not found", f"{value[:40]!r} is not a {noun} number.")
    return value


def period_body(kind: str, period: str) -> dict:
    """What the incident service's generate call takes for a report's period (none: today, this week, this month)."""
    if not period:
        return {}
    if not PERIOD.match(period):
        raise PageError(422, "Unknown period", f"{period[:40]!r} is not a report period (2026-12-01, 2026-W49 or 2026-12).")
    field = REPORTS[kind][2]
    if field == "week" and "W" in period:
        year, week = period.split("-W")
        try:
            return {"week_of": date.fromisocalendar(int(year), int(week), 1).isoformat()}
        except ValueError:
            raise PageError(422, "Unknown period", f"{period} is not a week.") from None
    return {{"day": "day", "month": "month"}.get(field, "week_of"): period}


def check_summary(report: dict | None) -> dict | None:
    """A daily check's automated part in a line: passed, or which checks failed / are unknown."""
    if not report:
        return None
    checks = report["data"].get("checks", [])
    failed = [c["label"] for c in checks if c.get("status") == "fail"]
    unknown = [c["label"] for c in checks if c.get("status") not in ("pass", "fail", "not_configured")]
    return {"passed": bool(report["data"].get("passed")) and not failed, "failed": failed, "unknown": unknown,
            "total": len(checks)}


def action_item_order(items: list[dict]) -> list[dict]:
    """Overdue first (longest overdue on top), then the rest of the open ones by due date."""
    return sorted(items, key=lambda i: (not i.get("overdue"), str(i.get("due_on")), i.get("id", 0)))


async def vigil_links(request: Request, me) -> markdown.VigilLinks:
    """What the Markdown's links to Vigil objects are recognised by: our services' addresses and the runbooks."""
    ctx = request.state.console
    runbooks, _ = await ctx.peers.read("incidents", "/api/v1/runbooks", caller(me))
    return markdown.VigilLinks.of(base_urls=[ctx.settings.console_public_url, *ctx.settings.peer_urls().values()],
                                  runbooks=runbooks or [])


def _notice(done: str | None, what: str | None) -> str | None:
    if done == "generated" and what:
        return f"{what} produced."
    return DONE.get(done) if done in ("acknowledged", "item", "completed") else None


@router.get("/operations")
async def operations_page(request: Request, me: Me) -> Response:
    ctx = request.state.console
    who = caller(me)

    def latest(stored: str):
        return ctx.peers.read("incidents", "/api/v1/reports", who, params={"kind": stored, "limit": 1})

    (daily, daily_error), (weekly, _), (monthly, _), (overdue, items_error), (postmortems, pm_error), \
        (handoffs, handoffs_error), (runbooks, runbooks_error) = await asyncio.gather(
            latest("daily_check"), latest("weekly_review"), latest("monthly_review"),
            ctx.peers.read("incidents", "/api/v1/action-items", who, params={"overdue": "true", "limit": 1000}),
            ctx.peers.read("incidents", "/api/v1/postmortems", who, params={"limit": 200}),
            ctx.peers.read("incidents", "/api/v1/handoffs", who, params={"limit": 50}),
            ctx.peers.read("incidents", "/api/v1/runbooks", who),
        )
    error = next((e.message for e in (daily_error, items_error, pm_error, handoffs_error, runbooks_error) if e), None)
    latest_daily = (daily or [None])[0]
    return ctx.pages.render(
        request, "operations.html.j2", me=me, error=error, reports=REPORTS,
        daily=latest_daily, daily_summary=check_summary(latest_daily),
        weekly=(weekly or [None])[0], monthly=(monthly or [None])[0], report_path=report_path,
        overdue=action_item_order(overdue or []),
        unpublished=[p for p in postmortems or [] if p["status"] != "published"],
        pending_handoffs=[h for h in handoffs or [] if not h["acknowledged_at"]],
        due_runbooks=[r for r in runbooks or [] if r.get("outdated")],
    )


@router.post("/operations/reports/{kind}")
async def produce_report(request: Request, kind: str, post: Responding) -> Response:
    """Run the daily check / generate this week's or month's review now (the incident service stores it)."""
    kind = report_kind(kind)
    body = period_body(kind, post.form.get("period", "").strip())
    report = await request.state.console.peers.post("incidents", f"/api/v1/reports/{kind}", caller(post.me), body=body)
    return RedirectResponse(f"{report_path(report)}?done=generated", status_code=303)


@router.get("/operations/reports")
async def reports_page(request: Request, me: Me, kind: str | None = None) -> Response:
    ctx = request.state.console
    params: dict[str, object] = {"limit": 100}
    if kind:
        params["kind"] = REPORTS[report_kind(kind)][0]
    reports, error = await ctx.peers.read("incidents", "/api/v1/reports", caller(me), params=params)
    return ctx.pages.render(request, "operations_reports.html.j2", me=me, reports=reports or [], error=error and error.message,
                            kinds=REPORTS, kind=kind and report_kind(kind), stored=STORED, report_path=report_path,
                            summary=check_summary)


@router.get("/operations/reports/{kind}")
async def reports_of_kind(kind: str, me: Me) -> Response:
    return RedirectResponse(f"/operations/reports?kind={report_kind(kind)}", status_code=303)


@router.get("/operations/reports/{kind}/{period}")
async def report_page(request: Request, kind: str, period: str, me: Me, done: str | None = None) -> Response:
    ctx = request.state.console
    kind = report_kind(kind)
    stored, title, _ = REPORTS[kind]
    if not PERIOD.match(period):
        raise PageError(404, "Not found", f"{period[:40]!r} is not a report period (2026-12-01, 2026-W49 or 2026-12).")
    found, links = await asyncio.gather(
        ctx.peers.get("incidents", "/api/v1/reports", caller(me), params={"kind": stored, "period": period, "limit": 1}),
        vigil_links(request, me))
    if not found:
        raise PageError(404, "No such report", f"There is no {title.lower()} for {period}. Reports are produced with "
                        f"POST /api/v1/reports/{kind}, `vigil report`, or the buttons on the Operations page.")
    report = found[0]
    return ctx.pages.render(request, "operations_report.html.j2", me=me, report=report, kind=kind, title=title,
                            html=markdown.render(report["markdown"], links), summary=check_summary(report),
                            notice=_notice(done, f"{title} {period}"))


@router.get("/operations/postmortems")
async def postmortems_page(request: Request, me: Me) -> Response:
    ctx = request.state.console
    postmortems, error = await ctx.peers.read("incidents", "/api/v1/postmortems", caller(me), params={"limit": 200})
    return ctx.pages.render(request, "operations_postmortems.html.j2", me=me, postmortems=postmortems or [],
                            error=error and error.message)


@router.get("/operations/postmortems/{ref}")
async def postmortem_page(request: Request, ref: str, me: Me) -> Response:
    ctx = request.state.console
    iid = rendering.incident_ref(ref)
    if iid is None:
        raise PageError(404, "Not found", f"{ref[:40]!r} is not an incident number (INC-42).")
    found, links = await asyncio.gather(
        ctx.peers.get("incidents", "/api/v1/postmortems", caller(me), params={"incident": f"INC-{iid}", "limit": 1}),
        vigil_links(request, me))
    if not found:
        raise PageError(404, "No postmortem", f"INC-{iid} has no postmortem. One opens when a SEV1 or SEV2 incident "
                        "resolves (the postmortem policy), or with POST /api/v1/incidents/INC-{iid}/postmortem.")
    return ctx.pages.render(request, "operations_postmortem.html.j2", me=me, pm=found[0],
                            html=markdown.render(found[0]["markdown"], links))


@router.get("/operations/action-items")
async def action_items_page(request: Request, me: Me, done: str | None = None) -> Response:
    ctx = request.state.console
    items, error = await ctx.peers.read("incidents", "/api/v1/action-items", caller(me),
                                        params=[("status", s) for s in OPEN_ITEMS] + [("limit", 1000)])
    ordered = action_item_order(items or [])
    return ctx.pages.render(request, "operations_action_items.html.j2", me=me, error=error and error.message,
                            overdue=[i for i in ordered if i["overdue"]], open_items=[i for i in ordered if not i["overdue"]],
                            statuses=ITEM_STATUSES, notice=_notice(done, None))


@router.post("/operations/action-items/{item}/status")
async def set_action_item_status(request: Request, item: str, post: Responding) -> Response:
    item = _number(item, "action item")
    status = post.form.get("status", "")
    if status not in ITEM_STATUSES:
        raise PageError(422, "Unknown status", "Choose in progress, done or won't do.")
    await request.state.console.peers.call("PATCH", "incidents", f"/api/v1/action-items/{item}", caller(post.me),
                                           body={"status": status})
    return RedirectResponse("/operations/action-items?done=item", status_code=303)


@router.get("/operations/runbooks")
async def runbooks_page(request: Request, me: Me) -> Response:
    ctx = request.state.console
    runbooks, error = await ctx.peers.read("incidents", "/api/v1/runbooks", caller(me))
    return ctx.pages.render(request, "operations_runbooks.html.j2", me=me, runbooks=runbooks or [], error=error and error.message)


@router.get("/operations/runbooks/{runbook}")
async def runbook_page(request: Request, runbook: str, me: Me) -> Response:
    ctx = request.state.console
    runbook = _number(runbook, "runbook")
    runbooks = await ctx.peers.get("incidents", "/api/v1/runbooks", caller(me))
    found = next((r for r in runbooks if str(r["id"]) == runbook), None)
    if found is None:
        raise PageError(404, "No such runbook", f"There is no runbook {runbook[:40]!r}. Runbooks are recorded with "
                        "POST /api/v1/runbooks or `vigil records add runbooks name=…`.")
    return ctx.pages.render(request, "operations_runbook.html.j2", me=me, runbook=found,
                            document=rendering.safe_url(found.get("link")))


@router.get("/operations/handoffs")
async def handoffs_page(request: Request, me: Me, done: str | None = None) -> Response:
    ctx = request.state.console
    (handoffs, error), links = await asyncio.gather(
        ctx.peers.read("incidents", "/api/v1/handoffs", caller(me), params={"limit": 50}), vigil_links(request, me))
    shown = [{**h, "html": markdown.render(h["markdown"], links)} for h in handoffs or []]
    return ctx.pages.render(request, "operations_handoffs.html.j2", me=me, handoffs=shown, error=error and error.message,
                            notice=_notice(done, None))


@router.post("/operations/handoffs/{handoff}/acknowledge")
async def acknowledge_handoff(request: Request, handoff: str, post: Responding) -> Response:
    """The incoming engineer (the handoff's `to`) acknowledges it; the incident service checks who."""
    handoff = _number(handoff, "handoff")
    await request.state.console.peers.post("incidents", f"/api/v1/handoffs/{handoff}/acknowledge", caller(post.me), body={})
    back = f"/operations/handoffs/{handoff}" if post.form.get("back") == "handoff" else "/operations/handoffs"
    return RedirectResponse(f"{back}?done=acknowledged", status_code=303)


@router.get("/operations/handoffs/{handoff}")
async def handoff_page(request: Request, handoff: str, me: Me, done: str | None = None) -> Response:
    """One handoff: the outgoing engineer completes the drafted one here, the incoming one acknowledges it."""
    ctx = request.state.console
    handoff = _number(handoff, "handoff")
    found, links = await asyncio.gather(ctx.peers.get("incidents", f"/api/v1/handoffs/{handoff}", caller(me)),
                                        vigil_links(request, me))
    return ctx.pages.render(request, "operations_handoff.html.j2", me=me, h=found, html=markdown.render(found["markdown"], links),
                            notice=_notice(done, None))


@router.post("/operations/handoffs/{handoff}/complete")
async def complete_handoff(request: Request, handoff: str, post: Responding) -> Response:
    """The outgoing engineer (the handoff's `from`) completes it; the incident service checks who."""
    handoff = _number(handoff, "handoff")
    watch = [line.strip() for line in post.form.get("things_to_watch", "").splitlines() if line.strip()]
    await request.state.console.peers.call("PUT", "incidents", f"/api/v1/handoffs/{handoff}", caller(post.me),
                                           body={"note": post.form.get("note", "").strip() or None, "things_to_watch": watch})
    return RedirectResponse(f"/operations/handoffs/{handoff}?done=completed", status_code=303)
