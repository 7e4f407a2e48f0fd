"""Me: who I am, my sessions (sign out everywhere), my personal API tokens (create, list by prefix,
revoke). A new token is shown once, on the page that answers its form."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console import repository as repo, service, tokens as personal_tokens
from services.console.web import AnyoneSignedIn, Me, PageError

router = APIRouter(include_in_schema=False)
EXPIRY_CHOICES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "never"))


async def _me_page(request: Request, me, *, status: int = 200, new_token=None, notice: str | None = None,
                   error: str | None = None) -> Response:
    ctx = request.state.console
    async with ctx.pool.acquire() as conn:
        rows = await repo.tokens(conn, me.person)
        sessions = await conn.fetchval(repo.COUNT_SESSIONS_OF, me.person, ctx.clock())
    now = ctx.clock()
    return ctx.pages.render(request, "me.html.j2", status_code=status, me=me,
                            tokens=[personal_tokens.view(row, now) for row in rows], sessions=sessions,
                            new_token=new_token, notice=notice, error=error, expiry_choices=EXPIRY_CHOICES,
                            roles=[r for r in ("viewer", "responder", "admin") if me.at_least(r)])


@router.get("/me")
async def me_page(request: Request, me: Me, done: str | None = None) -> Response:
    return await _me_page(request, me, notice="Token revoked: it stops working everywhere within seconds."
                          if done == "revoked" else None)


@router.post("/me/tokens")
async def create_token(request: Request, post: AnyoneSignedIn) -> Response:
    ctx = request.state.console
    days = post.form.get("expires_in_days", "")
    if days and not days.isdigit():
        raise PageError(422, "Unknown expiry", "Choose when the token expires.")
    try:
        async with ctx.pool.acquire() as conn:
            made, row = await service.issue_token(
                conn, key=ctx.signing_key, person=post.me.person, credential_role=post.me.role,
                name=post.form.get("name", ""), role=post.form.get("role") or None,
                expires_in_days=int(days) if days else None, now=ctx.clock())
    except service.Refused as exc:
        return await _me_page(request, post.me, status=exc.status, error=exc.message)
    return await _me_page(request, post.me, status=201, new_token={"credential": made.credential, "name": row["name"]})


@router.post("/me/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: str, post: AnyoneSignedIn) -> Response:
    ctx = request.state.console
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await service.revoke_token(conn, token_id[:64], person=post.me.person, is_admin=post.me.at_least("admin"),
                                         now=ctx.clock())
    if row is None:
        raise PageError(404, "Not found", "There is no such token of yours.")
    return RedirectResponse("/me?done=revoked", status_code=303)
