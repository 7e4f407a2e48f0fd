"""Me: who I am, my sessions (sign out everywhere), my contact methods and notification rules as the
escalator's configuration has them (with a test message to each, through the notifier), my personal
API tokens (create, list by prefix, revoke). A new token is shown once, on the page that answers its
form."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console import rendering, repository as repo, service, tokens as personal_tokens
from services.console.peers import PeerError
from services.console.web import AnyoneSignedIn, Me, PageError, Responding, caller

router = APIRouter(include_in_schema=False)
EXPIRY_CHOICES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "never"))


async def _contact(request: Request, me) -> dict:
    """My contact methods and rules as the escalator knows them, or the sentence that says why not."""
    ctx = request.state.console
    person, trouble = await ctx.peers.read("escalator", f"/api/v1/people/{quote(me.person, safe='')}", caller(me))
    if trouble is not None:
        return {"person": None, "contact_note": (
            f"You ({me.person}) are not in the on-call configuration: ask an admin to add you to the escalator's "
            "people, with your contact methods and notification rules." if trouble.peer_status == 404 else trouble.message)}
    methods = person["contact_methods"]
    return {"person": person, "contact_note": None, "methods": [rendering.method_view(m) for m in methods],
            "page_rule": rendering.rule_text(person["page_rules"], methods, channel="page"),
            "notify_rule": rendering.rule_text(person["notify_rules"], methods, channel="notify"),
            "can_test": ctx.peers.configured("notifier") and me.at_least("responder"),
            "test_note": None if ctx.peers.configured("notifier") and me.at_least("responder") else
            "Test messages need the responder role." if ctx.peers.configured("notifier") else
            "Test messages go through the notifier, and the console is not connected to it (VIGIL_CONSOLE_NOTIFIER_URL is not set)."}


async def _me_page(request: Request, me, *, status: int = 200, new_token=None, notice: str | None = None,
                   error: str | None = None, test_result: dict | None = None) -> Response:
    ctx = request.state.console
    async with ctx.pool.acquire() as conn:
        rows = await repo.tokens(conn, me.person)
        sessions = await conn.fetchval(repo.COUNT_SESSIONS_OF, me.person, ctx.clock())
    now = ctx.clock()
    return ctx.pages.render(request, "me.html.j2", status_code=status, me=me,
                            tokens=[personal_tokens.view(row, now) for row in rows], sessions=sessions,
                            new_token=new_token, notice=notice, error=error, expiry_choices=EXPIRY_CHOICES,
                            roles=[r for r in ("viewer", "responder", "admin") if me.at_least(r)],
                            test_result=test_result, **await _contact(request, me))


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


@router.post("/me/contact-methods/{method}/test")
async def test_contact_method(request: Request, method: str, post: Responding) -> Response:
    """A test message to one of my contact methods, through the notifier; the page says what came of it."""
    ctx, me = request.state.console, post.me
    path = f"/api/v1/people/{quote(me.person, safe='')}/contact-methods/{quote(method[:64], safe='')}/test"
    try:
        delivery = await ctx.peers.post("notifier", path, caller(me))
    except PeerError as exc:
        message = (f"The notifier does not know your method {method[:64]!r} yet: it learns contact methods from the "
                   "escalator within seconds of a configuration change. Try again in a moment."
                   if exc.peer_status == 404 else exc.message)
        return await _me_page(request, me, status=exc.status, test_result={"ok": False, "text": message})
    return await _me_page(request, me, test_result=rendering.test_outcome(delivery))
