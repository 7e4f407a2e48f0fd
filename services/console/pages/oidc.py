"""Signing in with OpenID Connect: `/signin/oidc` sends the browser to the provider (authorization
code flow, PKCE S256, state and nonce kept by the console under the hash of a short-lived cookie of
this browser), `/signin/oidc/callback` takes it back, verifies what the provider says and signs the
person in with the same session a password gives. Every refusal is the sign-in page with a sentence
at its top; refusals count against the client address like wrong passwords (rate limiting)."""

from __future__ import annotations

from datetime import timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console import csrf, rendering, service, sessions
from services.console.oidc.claims import (
    ClaimPolicy,
    Refusal,
    RoleRule,
    identity_from_claims,
)
from services.console.oidc.provider import (
    Attempt,
    OidcProvider,
    ProviderRefused,
    ProviderUnreachable,
)
from services.console.pages.signin import signin_page, throttled_page
from services.console.web import MaybeMe, PageError

log = structlog.get_logger("vigil.console")
router = APIRouter(include_in_schema=False)
COOKIE = "vigil_oidc"
COOKIE_PATH = "/signin/oidc"
ATTEMPT_TTL = timedelta(minutes=10)  # time to sign in at the provider
CALLBACK = "/signin/oidc/callback"


def _provider(request: Request) -> OidcProvider:
    """The app's provider client (its discovery document and keys are kept between sign-ins)."""
    settings = request.state.console.settings
    if not settings.oidc_enabled:
        raise PageError(404, "Not found", "Signing in with OpenID Connect is not configured on this console.")
    app_state = request.app.state
    if getattr(app_state, "oidc_provider", None) is None:
        secret = settings.console_oidc_client_secret
        app_state.oidc_provider = OidcProvider(
            issuer=settings.console_oidc_issuer, client_id=settings.console_oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None, scopes=settings.console_oidc_scopes,
            timeout_s=settings.console_oidc_timeout_s)
    return app_state.oidc_provider


def _policy(settings) -> ClaimPolicy:
    return ClaimPolicy(name_claim=settings.console_oidc_name_claim, new_person_role=settings.console_oidc_new_person_role,
                       role_claim=settings.console_oidc_role_claim,
                       role_rules=tuple(RoleRule.parse(rule) for rule in settings.console_oidc_roles))


def _redirect_uri(request: Request) -> str:
    """The callback's URL as the provider must know it: under the public URL when one is set (behind
    a proxy the request's own URL may say http:// or an inner host)."""
    public = request.state.console.settings.console_public_url
    return (public + CALLBACK) if public else str(request.base_url).rstrip("/") + CALLBACK


def _unreachable(request: Request, next_path: str, exc: Exception) -> Response:
    log.warning("OpenID Connect provider unreachable", error=str(exc))
    return signin_page(request, next_path=next_path, status=503,
                       error="The sign-in provider cannot be reached right now. Try again in a minute, or sign in "
                       "with your console password.")


@router.get(COOKIE_PATH)
async def begin(request: Request, me: MaybeMe, next: str = "/incidents") -> Response:
    """Send the browser to the provider to sign in."""
    provider, next_path = _provider(request), rendering.local_path(next)
    if me is not None:
        return RedirectResponse(next_path, status_code=303)
    ctx = request.state.console
    attempt, browser_id = Attempt.new(), sessions.new_id()
    try:
        url = await provider.authorization_url(attempt, redirect_uri=_redirect_uri(request))
    except ProviderUnreachable as exc:
        return _unreachable(request, next_path, exc)
    async with ctx.pool.acquire() as conn:
        await service.begin_oidc_sign_in(conn, browser_id=browser_id, attempt=attempt, next_path=next_path,
                                         now=ctx.clock(), ttl=ATTEMPT_TTL)
    response = RedirectResponse(url, status_code=303)
    # SameSite=Lax: sent on the provider's top-level redirect back to the callback.
    response.set_cookie(COOKIE, browser_id, max_age=int(ATTEMPT_TTL.total_seconds()), path=COOKIE_PATH,
                        secure=ctx.cookies.secure, httponly=True, samesite="lax")
    return response


@router.get(CALLBACK)
async def callback(request: Request, code: str | None = None, state: str | None = None, error: str | None = None,
                   error_description: str | None = None) -> Response:
    """Where the provider sends the browser back: signed in, or a page that says why not."""
    provider, ctx = _provider(request), request.state.console
    address = request.client.host if request.client else "unknown"
    now = ctx.clock()
    async with ctx.pool.acquire() as conn:
        if verdict := await service.throttled(conn, account="", address=address, limit=ctx.login_limit, now=now):
            log.warning("OpenID Connect sign-in refused: too many failures", address=address)
            return throttled_page(request, verdict, next_path="/incidents")
        taken = await service.take_oidc_sign_in(conn, browser_id=request.cookies.get(COOKIE), now=now)

    async def refuse(status: int, reason: str, message: str, next_path: str = "/incidents", *, name: str = "",
                     record: bool = True) -> Response:
        log.info("OpenID Connect sign-in refused", reason=reason, account=name, address=address)
        if record:
            async with ctx.pool.acquire() as conn:
                await service.record_oidc_failure(conn, name=name, address=address, now=now)
        response = signin_page(request, next_path=next_path, status=status, error=message)
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    if taken is None or not csrf.matches(taken[0].state, state):
        return await refuse(400, "state_mismatch", "This sign-in was not started here, was already used, or took "
                            "longer than 10 minutes. Start again with the button below.")
    attempt, next_path = taken
    if error:
        if error == "access_denied":
            return await refuse(403, "access_denied", "You did not allow Vigil to sign you in at the provider. "
                                "Start again to sign in.", next_path, record=False)  # no failed sign-in
        return await refuse(502, f"provider_error:{error[:50]}", f"The sign-in provider refused: "
                            f"{(error_description or error)[:300]}", next_path)
    if not code:
        return await refuse(400, "no_code", "The provider sent you back without a sign-in. Start again.", next_path)
    try:
        claims = await provider.finish(attempt, code=code, redirect_uri=_redirect_uri(request), now=now)
    except ProviderUnreachable as exc:
        return _unreachable(request, next_path, exc)
    except ProviderRefused as exc:
        log.warning("OpenID Connect answer refused", error=str(exc))
        return await refuse(502, "unverified", "The sign-in provider's answer could not be verified, so nobody was "
                            "signed in. Try again; if it happens again, tell an admin (it is in the console's log).",
                            next_path)
    policy = _policy(ctx.settings)
    identity = identity_from_claims(claims, policy=policy)
    if isinstance(identity, Refusal):
        return await refuse(identity.status, identity.reason, identity.message, next_path)
    outcome = await service.sign_in_with_provider(ctx.pool, identity=identity, policy=policy,
                                                  address=address, user_agent=request.headers.get("user-agent"),
                                                  lifetime=ctx.cookies.lifetime, now=now)
    if isinstance(outcome, Refusal):  # recorded as a failure by the unit of work
        return await refuse(outcome.status, outcome.reason, outcome.message, next_path, name=identity.name, record=False)
    log.info("signed in", person=outcome.signed_in.person, address=address, via="oidc", subject=identity.subject)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(value=outcome.session_id, **ctx.cookies.attributes())
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
