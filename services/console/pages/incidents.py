"""The incident pages: the open list (filters, a big Acknowledge button, live over SSE) and one
incident (header, actions, alerts, timeline). Everything is read and done through the incident
service's API, as the signed-in person."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import (
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from services.console import fragments, live, markdown, rendering
from services.console.peers import PeerError
from services.console.web import (
    SECURITY_HEADERS,
    Administering,
    FormPost,
    Me,
    PageError,
    Responding,
    caller,
    signed_in_sessions,
)

router = APIRouter(include_in_schema=False)
LIST_LIMIT = 100
TIMELINE_SHOWN = 200  # an incident page's newest timeline entries (a long incident has thousands)
# The incident page's settings reads (postmortem policy, runbook list, SEV definitions) are used again
# for this long: a changed setting shows on incident pages within it (4 long pages at once: p99 62 → 47–50 ms).
SETTINGS_KEPT = timedelta(seconds=30)
MAX_LABEL_FIELDS = 40  # repeated `label` parameters read; more are ignored
FILTER_STATUSES = ("open", "investigating", "mitigating", "resolved", "all")
DONE = {"acknowledged": "acknowledged", "note": "note added", "status": "status changed", "resolved": "resolved",
        "reopened": "reopened", "severity": "severity changed", "commander": "commander assigned"}


@dataclass(frozen=True)
class Filters:
    """The list's filters as the incident service is asked for them."""

    status: str
    severities: list[int]
    text: str
    labels: list[tuple[str, str]]
    label_problems: list[str]

    @property
    def query(self) -> str:
        return rendering.list_query(status=self.status, severities=self.severities, text=self.text, labels=self.labels)

    @property
    def filtered(self) -> bool:
        return self.status != "open" or bool(self.severities or self.text or self.labels)

    def params(self) -> list[tuple[str, object]]:
        params: list[tuple[str, object]] = [("limit", LIST_LIMIT)]
        statuses = rendering.OPEN_STATUSES if self.status == "open" else () if self.status == "all" else (self.status,)
        params += [("status", s) for s in statuses]
        params += [("severity", s) for s in self.severities]
        if self.text:
            params.append(("q", self.text))
        return params + [("label", f"{name}={value}") for name, value in self.labels]


def _filters(status: str, sev: list[int], q: str, label: list[str]) -> Filters:
    labels, problems = rendering.label_filters([text[:400] for text in label[:MAX_LABEL_FIELDS]])
    return Filters(status if status in FILTER_STATUSES else "open", sorted({s for s in sev if 1 <= s <= 4}),
                   q.strip()[:200], labels, problems)


async def _rows(request: Request, me, filters: Filters, *, seq: int | None = None) -> dict:
    """The list's context: incidents, or the sentence that says why there are none to show. `seq`: the
    change the rows are read after, for the live refresh (they share one call)."""
    shown = {"filtered": filters.filtered, "peer_error": False}
    if filters.label_problems:
        return {"incidents": [], "more": False, **shown,
                "error": f"Not a label filter: {', '.join(filters.label_problems)}. Write name=value (service=checkout "
                         "team=payments; all must match), or a service's name alone."}
    try:
        page = await request.state.console.peers.get("incidents", "/api/v1/incidents", caller(me),
                                                     params=filters.params(), shared_after=seq)
        return {"incidents": page["items"], "more": page["next_cursor"] is not None, "error": None, **shown}
    except PeerError as exc:
        return {"incidents": [], "more": False, "error": exc.message, **shown, "peer_error": True}


@router.get("/incidents")
async def incident_list(
    request: Request, me: Me, status: str = "open", sev: Annotated[list[int], Query()] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=200)] = "", label: Annotated[list[str], Query()] = [],  # noqa: B006
    done: str | None = None, number: str | None = None,
) -> Response:
    filters = _filters(status, sev, q, label)
    rows = await _rows(request, me, filters, seq=request.state.console.live.seq)
    notice = f"{number} {DONE[done]}." if done in DONE and number and rendering.incident_ref(number) else None
    return request.state.console.pages.render(
        request, "incidents.html.j2", me=me, status=filters.status, severities=filters.severities, text=filters.text,
        labels=rendering.label_text(filters.labels) or " ".join(label)[:400], query=filters.query,
        statuses=FILTER_STATUSES, cursor=request.state.console.live.cursor, notice=notice,
        request_id=secrets.token_hex(8), **rows)


async def _shared_rows(request: Request, me, filters: Filters, seq: int) -> str:
    """The list's rows after change `seq`, rendered once for every page of the same filters and role,
    with placeholders for the CSRF token and the request id (fragments.personal fills them in)."""
    ctx = request.state.console

    async def render() -> tuple[str, bool]:
        rows = await _rows(request, me, filters, seq=seq)
        page = ctx.pages.render(request, "incident_rows.html.j2", me=fragments.RoleOnly(me.role), status=filters.status,
                                query=filters.query, request_id=fragments.REQUEST_ID_PLACEHOLDER, **rows)
        return page.body.decode(), not rows["peer_error"]

    key = (filters.status, tuple(filters.severities), filters.text, tuple(filters.labels),
           tuple(filters.label_problems), me.role)
    return await ctx.live.rows.get(seq, key, render)


@router.get("/incidents/rows")
async def incident_rows(
    request: Request, me: Me, status: str = "open", sev: Annotated[list[int], Query()] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=200)] = "", label: Annotated[list[str], Query()] = [],  # noqa: B006
) -> Response:
    """The list alone: what an open page fetches when its live stream cannot send the rows itself."""
    # Every open page refreshes after a change: they share one rendering of its rows.
    shared = await _shared_rows(request, me, _filters(status, sev, q, label), request.state.console.live.seq)
    return HTMLResponse(fragments.personal(shared, csrf_token=me.csrf_token, request_id=secrets.token_hex(8)),
                        headers=SECURITY_HEADERS)


@router.get("/events/incidents")
async def incident_events(
    request: Request, me: Me, since: str | None = None, status: str = "open",
    sev: Annotated[list[int], Query()] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=200)] = "", label: Annotated[list[str], Query()] = [],  # noqa: B006
) -> StreamingResponse:
    """Server-Sent Events: whenever an incident changed after the page's cursor, `incident` (what
    changed) and `rows` (the page's rows with the list's filters, as `/incidents/rows` answers)."""
    ctx, filters = request.state.console, _filters(status, sev, q, label)
    cursor = request.headers.get("last-event-id") or since
    watched = me.session_hash

    async def rows(seq: int) -> str | None:
        now = ctx.live.sessions.current(watched)
        if now is None:
            return None
        shared = live.event_data(await _shared_rows(request, now, filters, seq))  # no placeholder spans lines
        return fragments.personal(shared, csrf_token=now.csrf_token, request_id=secrets.token_hex(8))

    async def events():
        with ctx.live.sessions.watching(watched, me, lambda hashes: signed_in_sessions(ctx.pool, hashes,
                                                                                       now=ctx.clock())):
            async for chunk in live.stream(ctx.live, since=cursor, duration_s=ctx.settings.console_live_stream_s,
                                           rows=rows, signed_out=lambda: ctx.live.sessions.gone(watched)):
                yield chunk

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _ref(ref: str) -> str:
    found = rendering.incident_ref(ref)
    if found is None:
        raise PageError(404, "Not found", f"{ref[:40]!r} is not an incident number (INC-42).")
    return found


@router.get("/incidents/{ref}")
async def incident_page(request: Request, ref: str, me: Me, done: str | None = None, timeline: str | None = None) -> Response:
    """One incident; its timeline's newest TIMELINE_SHOWN entries (`?timeline=all`: every one)."""
    iid = _ref(ref)
    ctx, who = request.state.console, caller(me)
    shown = {} if timeline == "all" else {"timeline_limit": TIMELINE_SHOWN}
    # The parts are read at once; only the incident itself is needed to show the page. Vigil's runbooks
    # too (an alert's runbook annotation may name one): asking after the incident came doubled the wait.
    # The SEV definitions are the help text of the admins' severity choice.
    (incident, missing), (escalation, trouble), (postmortems, _), (policy, _), (runbooks, _), (severities, _) = await asyncio.gather(
        ctx.peers.read("incidents", f"/api/v1/incidents/{iid}", who, params=shown),
        ctx.peers.read("escalator", f"/api/v1/incidents/{iid}/escalation", who),
        ctx.peers.read("incidents", "/api/v1/postmortems", who, params={"incident": f"INC-{iid}", "limit": 1}),
        ctx.peers.read("incidents", "/api/v1/postmortem-policy", who, fresh_for=SETTINGS_KEPT),
        ctx.peers.read("incidents", "/api/v1/runbooks", who, fresh_for=SETTINGS_KEPT),
        ctx.peers.read("incidents", "/api/v1/severities", who, fresh_for=SETTINGS_KEPT))
    if missing is not None:
        raise (PageError(404, "Not found", f"There is no incident INC-{iid}.") if missing.peer_status == 404 else missing)
    named = any(rendering.mentions_runbook(a["annotations"]) for a in incident["alerts"])
    links = markdown.VigilLinks.of(base_urls=[ctx.settings.console_public_url, *ctx.settings.peer_urls().values()],
                                   runbooks=(runbooks or []) if named else [])
    escalation_note = None
    if trouble is not None:
        escalation_note = trouble.message if trouble.peer_status != 404 else (
            "The escalator has no record of it: it was resolved before the escalator saw it open."
            if incident["status"] == "resolved" else
            "The escalator has not planned its escalation yet: it does within seconds of the incident opening. Reload in a moment.")
    postmortem = postmortems[0] if postmortems else None
    notice = f"{incident['number']} {DONE[done]}." if done in DONE else None
    return ctx.pages.render(
        request, "incident.html.j2", me=me, incident=incident, notice=notice, request_id=secrets.token_hex(8),
        timeline_total=incident.get("timeline_total", len(incident["timeline"])),
        statuses=rendering.STATUSES, escalation=escalation, escalation_note=escalation_note,
        pending=rendering.pending_steps(escalation, ctx.clock()) if escalation else [],
        alert_links=[rendering.alert_links(a["annotations"], a["generator_url"], links) for a in incident["alerts"]],
        postmortem=postmortem, postmortem_text=rendering.needs_postmortem(incident, postmortem, (policy or {}).get("sevs")),
        firing_alerts=sum(1 for a in incident["alerts"] if a["status"] == "firing"), severities=severities or [])


async def _act(request: Request, post: FormPost, ref: str, action: str, body: dict, done: str) -> Response:
    """Do `action` at the incident service as the signed-in person, then back to where the form was."""
    iid = _ref(ref)
    request_id = post.form.get("request_id", "")
    # A form sent twice (a double tap, a reload) acts once: the incident service replays the first answer.
    key = ("console-" + hashlib.sha256(f"{post.me.person}|{iid}|{action}|{request_id}".encode()).hexdigest()[:40]
           if request_id else None)
    await request.state.console.peers.post("incidents", f"/api/v1/incidents/{iid}/{action}", caller(post.me),
                                           body=body, key=key)
    back = rendering.local_path(post.form.get("next"), default=f"/incidents/INC-{iid}")
    separator = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{separator}done={done}&number={quote(f'INC-{iid}')}", status_code=303)


def _text(post: FormPost, name: str, *, required: bool = False, limit: int = 10_000) -> str | None:
    value = post.form.get(name, "").strip()
    if required and not value:
        raise PageError(422, "Something is missing", f"Fill in {name.replace('_', ' ')}, then send again.")
    if len(value) > limit:
        raise PageError(422, "Too long", f"{name.replace('_', ' ').capitalize()} has at most {limit} characters.")
    return value or None


@router.post("/incidents/{ref}/acknowledge")
async def acknowledge(request: Request, ref: str, post: Responding) -> Response:
    return await _act(request, post, ref, "acknowledge", {}, "acknowledged")


@router.post("/incidents/{ref}/notes")
async def add_note(request: Request, ref: str, post: Responding) -> Response:
    return await _act(request, post, ref, "notes", {"text": _text(post, "text", required=True)}, "note")


@router.post("/incidents/{ref}/status")
async def set_status(request: Request, ref: str, post: Responding) -> Response:
    status = post.form.get("status")
    if status not in ("investigating", "mitigating"):
        raise PageError(422, "Unknown status", "Choose Investigating or Mitigating (resolve with the resolve form).")
    return await _act(request, post, ref, "status", {"status": status}, "status")


@router.post("/incidents/{ref}/resolve")
async def resolve(request: Request, ref: str, post: Responding) -> Response:
    body = {name: _text(post, name) for name in ("root_cause", "contributing_factors", "fix_applied")}
    body["even_if_firing"] = post.form.get("even_if_firing") == "true"
    try:
        return await _act(request, post, ref, "resolve", body, "resolved")
    except PeerError as exc:
        if exc.error != "alerts_firing":
            raise
        raise PageError(409, "Its alerts still fire", f"{exc.message.split(':')[0]}. If you know the problem is over, "
                        "go back, tick “Resolve anyway” on the resolve form and resolve again: the timeline records "
                        "it.") from None


@router.post("/incidents/{ref}/reopen")
async def reopen(request: Request, ref: str, post: Administering) -> Response:
    body = {"reason": _text(post, "reason", limit=500)} if post.form.get("reason", "").strip() else {}
    return await _act(request, post, ref, "reopen", body, "reopened")


@router.post("/incidents/{ref}/severity")
async def set_severity(request: Request, ref: str, post: Administering) -> Response:
    severity = post.form.get("severity", "")
    if severity not in ("1", "2", "3", "4"):
        raise PageError(422, "Unknown severity", "Choose SEV1 to SEV4.")
    return await _act(request, post, ref, "severity", {"severity": int(severity)}, "severity")


@router.post("/incidents/{ref}/commander")
async def set_commander(request: Request, ref: str, post: Administering) -> Response:
    return await _act(request, post, ref, "commander", {"commander": _text(post, "commander", required=True, limit=200)},
                      "commander")
