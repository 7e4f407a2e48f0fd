"""Silences: the incident service's silences, active, pending and expired, each with the alerts it
held — still held (nobody paged) or the incident each joined when it ended. Responders create one
(matcher rows or Alertmanager's matcher text, a start, an end, a comment; the API's refusals shown
beside the form, kept as typed) and expire one, after a warning of what it still holds. Everything
goes through the incident service's API as the signed-in person: it records them as the creator."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.console import silence_view as view
from services.console.peers import PeerError
from services.console.web import Me, PageError, Responding, caller

router = APIRouter(include_in_schema=False)

STATES = {"active": "Active", "pending": "Pending", "expired": "Expired"}
EMPTY = {
    "active": "No silence is active: every alert that fires opens (or joins) an incident and pages.",
    "pending": "No silence is waiting to start.",
    "expired": "No silence has ended yet.",
}
DONE = {"created": "Silence created: matching alerts that start firing now open no incident and page nobody.",
        "expired": "Silence expired: the alerts it still held took the normal path (incidents, pages)."}


def _silence_id(value: str) -> str:
    if not value.isdigit() or len(value) > 18:
        raise PageError(404, "Not found", f"{value[:40]!r} is not a silence number.")
    return value


def _responder(me) -> None:
    if not me.at_least("responder"):
        raise PageError(403, "Not allowed", f"Creating a silence needs the responder role; you are a {me.role}.")


@router.get("/silences")
async def silences_page(request: Request, me: Me, state: str = "active", done: str | None = None) -> Response:
    ctx = request.state.console
    if state not in STATES:
        raise PageError(404, "Not found", f"{state[:40]!r} is not a state of silences: active, pending or expired.")
    silences, error = await ctx.peers.read("incidents", "/api/v1/silences", caller(me), params={"state": state})
    return ctx.pages.render(request, "silences.html.j2", me=me, state=state, states=STATES, empty=EMPTY[state],
                            silences=silences or [], error=error and error.message, timing=view.timing,
                            notice=DONE.get(done or ""))


@router.get("/silences/new")
async def new_silence_page(request: Request, me: Me, label: list[str] = Query(default=[])) -> Response:  # noqa: B008
    """The create form; `?label=name=value&label=…` fills its rows (the "Silence…" link of an alert)."""
    _responder(me)
    return _form_page(request, me, view.prefilled(label, key=uuid.uuid4().hex))


def _form_page(request: Request, me, form: view.SilenceForm, *, errors: dict | None = None,
               status_code: int = 200) -> Response:
    return request.state.console.pages.render(
        request, "silence_new.html.j2", me=me, status_code=status_code, form=form, errors=errors or {}, ops=view.OPS,
        presets=view.END_PRESETS, until=view.UNTIL)


@router.post("/silences")
async def create_silence(request: Request, post: Responding) -> Response:
    """Sent as the signed-in person with the form's Idempotency-Key (a double submit creates one silence)."""
    ctx = request.state.console
    key = post.form.get("key", "")
    form = view.SilenceForm.of(post.form, key=key if 0 < len(key) <= 64 and key.isalnum() else uuid.uuid4().hex)
    try:
        body = view.silence_request(form, now=ctx.clock())
        created = await ctx.peers.post("incidents", "/api/v1/silences", caller(post.me), body=body, key=form.key)
    except view.InputError as exc:
        return _form_page(request, post.me, form, errors={exc.field: [str(exc)]}, status_code=422)
    except PeerError as exc:
        if exc.status != 422:
            raise
        if exc.message == view.KEY_REUSED:  # sending the form again now means another silence: a new key
            form.key = uuid.uuid4().hex
        return _form_page(request, post.me, form, errors=view.field_errors(exc.message, exc.fields), status_code=422)
    return RedirectResponse(f"/silences/{created['id']}?done=created", status_code=303)


@router.get("/silences/{silence}")
async def silence_page(request: Request, silence: str, me: Me, done: str | None = None) -> Response:
    ctx = request.state.console
    silence = _silence_id(silence)
    who = caller(me)
    found, (alerts, alerts_error) = await asyncio.gather(
        ctx.peers.get("incidents", f"/api/v1/silences/{silence}", who),
        ctx.peers.read("incidents", f"/api/v1/silences/{silence}/alerts", who))
    held = sum(1 for a in alerts or [] if a["held"])
    return ctx.pages.render(request, "silence.html.j2", me=me, silence=found, alerts=alerts or [],
                            alerts_error=alerts_error and alerts_error.message, held=held,
                            warning=view.expire_warning(held), timing=view.timing(found, ctx.clock()),
                            notice=DONE.get(done or ""))


@router.post("/silences/{silence}/expire")
async def expire_silence(request: Request, silence: str, post: Responding) -> Response:
    """Ends it now: what it still holds opens (or joins) incidents and pages, in the same request."""
    silence = _silence_id(silence)
    await request.state.console.peers.post("incidents", f"/api/v1/silences/{silence}/expire", caller(post.me), body={})
    return RedirectResponse(f"/silences/{silence}?done=expired", status_code=303)
