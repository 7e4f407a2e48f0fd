"""On call: per schedule who is on call now (both engineers during a handoff overlap) and who is
next, a four-week calendar in the schedule's zone with overlaps and coverage gaps, overrides (added
and removed through the escalator as the signed-in person), and iCalendar feeds.

Everything comes from the escalator's API; `services/console/calendar.py` lays it out."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.console import calendar as cal, repository as repo
from services.console.peers import Caller, PeerError
from services.console.service import SignedIn
from services.console.web import Me, PageError, Responding, SignInRequired, caller, current_session

router = APIRouter(include_in_schema=False)
ICS = "text/calendar; charset=utf-8"
FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
DONE = {"added": "Override added.", "removed": "Override removed."}


@dataclass
class ScheduleView:
    """One schedule as the page shows it; `error` says why a part is missing."""

    name: str
    zone: str
    calendar: cal.Calendar | None = None
    tiers: tuple[cal.TierNow, ...] = ()
    overrides: list[dict] = field(default_factory=list)
    error: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    form_error: str | None = None


async def _schedule_view(ctx, who: Caller, spec: dict) -> ScheduleView:
    name, zone, now = spec["name"], cal.display_zone(spec), ctx.clock()
    start, end = cal.window(now, zone)
    path = f"/api/v1/schedules/{quote(name, safe='')}"
    (shifts, shifts_error), (gaps, gaps_error), (overrides, overrides_error) = await asyncio.gather(
        ctx.peers.read("escalator", f"{path}/shifts", who, params={"start": start.isoformat(), "end": end.isoformat()}),
        ctx.peers.read("escalator", f"{path}/gaps", who, params={"weeks": cal.WEEKS}),
        ctx.peers.read("escalator", f"{path}/overrides", who),
    )
    view = ScheduleView(name=name, zone=zone, form=cal.form_defaults(now, zone))
    problem = shifts_error or gaps_error or overrides_error
    if problem:
        view.error = problem.message
        return view
    found = cal.shifts_of(shifts)
    view.calendar = cal.calendar(shifts=found, gaps=cal.gaps_of(gaps), zone=zone, now=now)
    view.tiers = cal.now_and_next(found, now)
    view.overrides = sorted(overrides, key=lambda o: (o["start_at"], o["id"]))
    return view


async def _schedules(ctx, who: Caller) -> list[dict]:
    """The configured schedules (each with its rotations' zones); PeerError when the escalator cannot say."""
    return await ctx.peers.get("escalator", "/api/v1/schedules", who)


def _render(request: Request, me: SignedIn, views: list[ScheduleView], *, one: str | None = None, error: str | None = None,
            status_code: int = 200, done: str | None = None) -> Response:
    ctx = request.state.console
    base = (ctx.settings.console_public_url or str(request.base_url)).rstrip("/")
    return ctx.pages.render(request, "oncall.html.j2", status_code=status_code, me=me, views=views, one=one, error=error,
                            notice=DONE.get(done or ""), base_url=base, can_edit=me.at_least("responder"),
                            wall_clock=cal.wall_clock, weeks=cal.WEEKS)


@router.get("/oncall")
async def oncall_page(request: Request, me: Me, done: str | None = None) -> Response:
    ctx = request.state.console
    who = caller(me)
    try:
        specs = await _schedules(ctx, who)
    except PeerError as exc:
        return _render(request, me, [], error=exc.message)
    views = list(await asyncio.gather(*(_schedule_view(ctx, who, spec) for spec in specs)))
    return _render(request, me, views, done=done)


async def _spec(request: Request, me: SignedIn, schedule: str) -> dict:
    spec = next((s for s in await _schedules(request.state.console, caller(me)) if s["name"] == schedule), None)
    if spec is None:
        raise PageError(404, "No such schedule", f"The escalator has no schedule {schedule!r}. The On call page lists "
                        "every schedule.")
    return spec


@router.get("/oncall/{schedule}")
async def schedule_page(request: Request, schedule: str, me: Me, done: str | None = None) -> Response:
    view = await _schedule_view(request.state.console, caller(me), await _spec(request, me, schedule))
    return _render(request, me, [view], one=schedule, done=done)


def _back(schedule: str, form: dict[str, str], done: str) -> RedirectResponse:
    # Back to the page the form was on: the schedule's own page, or the list of every schedule.
    page = f"/oncall/{quote(schedule, safe='')}" if form.get("from") == "schedule" else "/oncall"
    anchor = f"#schedule-{quote(schedule, safe='')}" if page == "/oncall" else ""
    return RedirectResponse(f"{page}?done={done}{anchor}", status_code=303)


@router.post("/oncall/{schedule}/overrides")
async def add_override(request: Request, schedule: str, post: Responding) -> Response:
    """Validated here in the page's zone (a sentence per problem, the form kept as typed), then sent
    to the escalator as the signed-in person: it records them as the override's author."""
    ctx, me = request.state.console, post.me
    spec = await _spec(request, me, schedule)
    try:
        body = cal.override_request(post.form, zone=cal.display_zone(spec), now=ctx.clock())
        await ctx.peers.post("escalator", f"/api/v1/schedules/{quote(schedule, safe='')}/overrides", caller(me), body=body)
    except (cal.InputError, PeerError) as exc:
        if isinstance(exc, PeerError) and exc.status not in (404, 409, 422):
            raise
        view = await _schedule_view(ctx, caller(me), spec)
        view.form = {k: post.form.get(k, "") for k in ("person", "tier", "start", "end")}
        view.form_error = exc.message if isinstance(exc, PeerError) else str(exc)
        return _render(request, me, [view], one=schedule, status_code=422)
    return _back(schedule, post.form, "added")


@router.post("/oncall/{schedule}/overrides/{override_id}/remove")
async def remove_override(request: Request, schedule: str, override_id: int, post: Responding) -> Response:
    ctx = request.state.console
    await ctx.peers.call("DELETE", "escalator", f"/api/v1/schedules/{quote(schedule, safe='')}/overrides/{override_id}",
                         caller(post.me))
    return _back(schedule, post.form, "removed")


async def _feed_caller(request: Request, token: str | None) -> Caller:
    """Who reads a feed: the signed-in browser (a link clicked on the page), or — for a calendar app,
    which cannot sign in — a personal API token in `?token=`, as the escalator's own feeds accept.
    The token acts as its person with the viewer role, and only while it is neither expired nor revoked."""
    if not token:
        me = await current_session(request)
        if me is None:
            raise SignInRequired(request.url.path)
        return caller(me)
    ctx = request.state.console
    principal = request.state.authenticator.authenticate(f"Bearer {token}")
    if principal is not None and principal.kind == "token":
        async with ctx.pool.acquire() as conn:  # the console knows its own revocations at once
            row = await conn.fetchrow(repo.GET_TOKEN, principal.token_id)
            if row is not None and row["revoked_at"] is None:
                await conn.execute(repo.TOKEN_USED, principal.token_id, ctx.clock())
                return Caller(person=principal.name, role="viewer")
    raise PageError(401, "Not a valid token", "This calendar address needs a personal API token that is neither "
                    "expired nor revoked (made on Me).", headers={"WWW-Authenticate": 'Bearer realm="vigil"'})


async def _feed(request: Request, path: str, who: Caller, filename: str) -> Response:
    answer = await request.state.console.peers.fetch("escalator", path, who, accept="text/calendar")
    return Response(answer.content, media_type=ICS, headers={
        "Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


FeedToken = Annotated[str | None, Query(max_length=2000, description="A personal API token, for calendar apps.")]


@router.get("/oncall/{schedule}/calendar.ics")
async def schedule_calendar(request: Request, schedule: str, token: FeedToken = None) -> Response:
    """The schedule's shifts (both tiers, overrides applied) as an iCalendar feed, from the escalator."""
    who = await _feed_caller(request, token)
    return await _feed(request, f"/api/v1/schedules/{quote(schedule, safe='')}/calendar.ics", who,
                       f"oncall-{FILENAME_UNSAFE.sub('_', schedule)}.ics")


@router.get("/me/calendar.ics")
async def my_calendar(request: Request, token: FeedToken = None) -> Response:
    """My shifts in every schedule as an iCalendar feed (the token's person, or the signed-in one)."""
    who = await _feed_caller(request, token)
    return await _feed(request, f"/api/v1/people/{quote(who.person, safe='')}/calendar.ics", who,
                       f"oncall-{FILENAME_UNSAFE.sub('_', who.person)}.ics")
