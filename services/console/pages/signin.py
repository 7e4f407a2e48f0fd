"""Signing in and out. The sign-in form is protected against cross-site submission by a token that
must equal the one in its own short-lived cookie; a session's forms carry the session's token."""

from __future__ import annotations

from datetime import timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console import csrf, rendering, service, sessions
from services.console.throttle import Throttled
from services.console.web import AnyoneSignedIn, MaybeMe, PageError, read_form

log = structlog.get_logger("vigil.console")
router = APIRouter(include_in_schema=False)
SIGNIN_FORM_TTL = timedelta(hours=1)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/incidents", status_code=303)


def signin_page(request: Request, *, next_path: str, name: str = "", error: str | None = None, status: int = 200,
                headers: dict[str, str] | None = None) -> Response:
    """The sign-in page (with `error` said at its top): the password form, and the provider's button
    when OpenID Connect is configured."""
    ctx = request.state.console
    token = csrf.new_token()
    oidc_name = ctx.settings.console_oidc_provider_name if ctx.settings.oidc_enabled else None
    response = ctx.pages.render(request, "signin.html.j2", status_code=status, next_path=next_path, name=name, error=error,
                                signin_token=token, oidc_name=oidc_name, headers=headers)
    response.set_cookie(csrf.SIGNIN_COOKIE, token, max_age=int(SIGNIN_FORM_TTL.total_seconds()), path="/signin",
                        secure=ctx.cookies.secure, httponly=True, samesite="lax")
    return response


def throttled_page(request: Request, verdict: Throttled, *, next_path: str, name: str = "") -> Response:
    minutes = max(1, round(verdict.retry_after_s / 60))
    return signin_page(request, next_path=next_path, name=name, status=429,
                       headers={"Retry-After": str(verdict.retry_after_s)},
                       error=f"Too many failed sign-ins. Try again in {minutes} min.")


@router.get("/signin")
async def signin_form(request: Request, me: MaybeMe, next: str = "/incidents") -> Response:
    next_path = rendering.local_path(next)
    if me is not None:
        return RedirectResponse(next_path, status_code=303)
    return signin_page(request, next_path=next_path)


@router.post("/signin")
async def signin(request: Request) -> Response:
    ctx = request.state.console
    form = await read_form(request)
    if not csrf.matches(request.cookies.get(csrf.SIGNIN_COOKIE), form.get(csrf.FIELD)):
        raise PageError(403, "This sign-in form has expired", "Reload the sign-in page and try again.")
    name, password = form.get("name", "").strip(), form.get("password", "")
    next_path = rendering.local_path(form.get("next"))
    address = request.client.host if request.client else "unknown"
    outcome = await service.sign_in(ctx.pool, name=name, password=password, address=address,
                                    user_agent=request.headers.get("user-agent"), limit=ctx.login_limit,
                                    lifetime=ctx.cookies.lifetime, now=ctx.clock())
    if isinstance(outcome, Throttled):
        log.warning("sign-in refused: too many failures", scope=outcome.scope, account=name[:100], address=address)
        return throttled_page(request, outcome, next_path=next_path, name=name)
    if isinstance(outcome, service.BadCredentials):
        log.info("sign-in failed", account=name[:100], address=address)
        return signin_page(request, next_path=next_path, name=name, status=401, error="Wrong name or password.")
    log.info("signed in", person=outcome.signed_in.person, address=address)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(value=outcome.session_id, **ctx.cookies.attributes())
    response.delete_cookie(csrf.SIGNIN_COOKIE, path="/signin")
    return response


def _signed_out() -> Response:
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request, post: AnyoneSignedIn) -> Response:
    async with request.state.console.pool.acquire() as conn:
        await service.sign_out(conn, post.me)
    return _signed_out()


@router.post("/signout/everywhere")
async def signout_everywhere(request: Request, post: AnyoneSignedIn) -> Response:
    """Ends every session of the person: phones, laptops, a forgotten browser."""
    async with request.state.console.pool.acquire() as conn:
        await service.sign_out_everywhere(conn, post.me.person)
    log.info("signed out everywhere", person=post.me.person)
    return _signed_out()
