"""What every console page shares: the templates, who is signed in (the `vigil_session` cookie), the
checks of every form (signed in, the session's CSRF token, the role), and errors as pages — a
refusal, a peer's trouble or an outage is a sentence on a page, never a stack trace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import asyncpg
import jinja2
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException  # FastAPI's and Starlette's own (404, 405) alike

from services.console import csrf, rendering, sessions
from services.console import repository as repo
from services.console.peers import Caller, PeerError
from services.console.service import SignedIn, session_of
from shared.db import ACQUIRE_TIMEOUT_S
from shared.identity import Role

log = structlog.get_logger("vigil.console")

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """A page that cannot be shown or an action that cannot be done, said in a sentence."""

    def __init__(self, status: int, title: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.headers = status, title, message, headers or {}


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(jinja2.Environment):
    """`x.name` on a dict (the services' JSON) looks up the key first: the same result as Jinja's
    getattr-then-item for every name that is not a dict attribute, without the AttributeError it
    raises and catches first — the larger part of rendering a long timeline."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _environment() -> jinja2.Environment:
    # auto_reload off: templates are files of the release, not re-checked (a stat per template) per render.
    env = _Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(ago=rendering.ago, duration=rendering.duration, time_left=rendering.time_left, utc=rendering.utc,
                       severity_name=rendering.severity_name, status_label=rendering.status_label,
                       timeline_kind=rendering.timeline_kind, safe_url=rendering.safe_url,
                       link_annotations=rendering.link_annotations)
    env.tests["open"] = rendering.is_open
    return env


class Pages:
    """Renders templates with what every page needs (who is signed in, the CSRF token, the time)."""

    def __init__(self, clock) -> None:
        self._env = _environment()
        self._clock = clock

    def render(self, request: Request, template: str, *, status_code: int = 200, me: SignedIn | None = None,
               headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        html = self._env.get_template(template).render(
            me=me, csrf_field=csrf.FIELD, csrf_token=me.csrf_token if me else "", now=self._clock(), path=request.url.path,
            **context)
        return HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})


async def current_session(request: Request) -> SignedIn | None:
    ctx = request.state.console
    cookie = request.cookies.get(sessions.COOKIE)
    if not cookie:
        return None
    async with ctx.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        return await session_of(conn, cookie, now=ctx.clock())


async def signed_in_sessions(pool: asyncpg.Pool, session_hashes: list[str], *, now: datetime) -> dict[str, SignedIn]:
    """Those of these sessions (by hash) that are still signed in: the open live streams' check."""
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        found = await conn.fetch(repo.GET_SESSIONS, session_hashes)
    return {row["id_hash"]: SignedIn(row["person"], row["display_name"], row["role"], row["id_hash"], row["csrf_token"],
                                     row["expires_at"])
            for row in found if not row["disabled"] and sessions.is_live(row["expires_at"], now)}


async def _page_session(request: Request) -> SignedIn:
    me = await current_session(request)
    if me is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return me


# A page's parameter: who is signed in (a browser that is not is sent to the sign-in page).
Me = Annotated[SignedIn, Depends(_page_session)]
MaybeMe = Annotated[SignedIn | None, Depends(current_session)]


def caller(me: SignedIn) -> Caller:
    return Caller(person=me.person, role=me.role)


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form body (at most MAX_FORM_BYTES): each field's first value."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PageError(413, "Too much text", f"A form may send at most {MAX_FORM_BYTES // 1024} KiB.")
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=50, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "Unreadable form", "The form's data could not be read.") from None
    return {name: values[0] for name, values in fields.items()}


@dataclass(frozen=True)
class FormPost:
    me: SignedIn
    form: dict[str, str]


def form_post(role: Role):
    """A dependency of every state-changing page route: signed in, the session's CSRF token in the
    form, and at least `role` — else 403, before anything is done."""

    async def dependency(request: Request) -> FormPost:
        form = await read_form(request)
        me = await current_session(request)
        if me is None:
            raise PageError(403, "Not signed in", "Sign in, then try again.")
        if not csrf.matches(me.csrf_token, form.get(csrf.FIELD)):
            raise PageError(403, "This form has expired", "The form did not carry this session's security token "
                            "(it may come from an older sign-in, or another site). Go back, reload the page and try again.")
        if not me.at_least(role):
            raise PageError(403, "Not allowed", f"This needs the {role} role; you are a {me.role}.")
        return FormPost(me, form)

    return dependency


Responding = Annotated[FormPost, Depends(form_post("responder"))]
Administering = Annotated[FormPost, Depends(form_post("admin"))]
AnyoneSignedIn = Annotated[FormPost, Depends(form_post("viewer"))]


def install_page_errors(app: FastAPI) -> None:
    """Errors of page routes as pages; the JSON API (`/api/…`) keeps the shared JSON error shape."""
    json_http_error = app.exception_handlers[HTTPException]

    async def page_error(request: Request, exc: PageError) -> Response:
        return _error_page(request, exc.status, exc.title, exc.message, exc.headers)

    async def peer_error(request: Request, exc: PeerError) -> Response:
        return _error_page(request, exc.status, "Could not complete this", exc.message)

    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        if request.headers.get("hx-request"):  # a live refresh: the whole page goes to sign-in, then back to it
            page = _same_site_path(request, request.headers.get("hx-current-url", ""))
            return Response(status_code=200, headers={"HX-Redirect": f"/signin?next={quote(page)}"})
        return RedirectResponse(f"/signin?next={quote(exc.next_path)}", status_code=303)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return await json_http_error(request, exc)
        message = exc.detail.get("message") if isinstance(exc.detail, dict) else str(exc.detail)
        return _error_page(request, exc.status_code, {404: "Not found", 405: "Not allowed"}.get(exc.status_code, "Error"),
                           str(message), dict(exc.headers or {}))

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("console page failed", path=request.url.path, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        return _error_page(request, 500, "Something went wrong", "The console failed to show this page; the error "
                           "is in its log. Try again, or go back.")

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(PeerError, peer_error)
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(HTTPException, http_error)


def _error_page(request: Request, status: int, title: str, message: str, headers: dict | None = None) -> Response:
    ctx = getattr(request.state, "console", None)
    if ctx is None or request.url.path.startswith("/api/"):
        return JSONResponse({"error": title.lower().replace(" ", "_"), "message": message}, status_code=status,
                            headers=headers)
    back = _same_site_path(request, request.headers.get("referer", ""))
    return ctx.pages.render(request, "error.html.j2", status_code=status, me=None, title=title, message=message, back=back,
                            headers=headers)


def _same_site_path(request: Request, url: str) -> str:
    """The path of `url` when it is on this site (a Referer, htmx's current URL), else the incident list."""
    base = str(request.base_url)
    return rendering.local_path("/" + url[len(base):] if url.startswith(base) else None)
