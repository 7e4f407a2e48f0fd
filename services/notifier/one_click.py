"""One-click acknowledgement: the signed links in every message and Slack's buttons.

A GET shows a small confirmation page with a button, and only its POST acts: mail scanners that
follow every link in a message must not acknowledge anything. The link itself is the credential
(signed, bound to incident, person, action and expiry); the incident's timeline says who acted and
through which link. A tampered link is a 400 page, an expired one a 410 page that says what it was for."""

from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from services.notifier import links
from services.notifier.senders.slack import verify_slack_request

log = structlog.get_logger("vigil.notifier")

router = APIRouter(tags=["one-click"])
VERBS = {"ack": ("Acknowledge", "acknowledged"), "resolve": ("Resolve", "resolved")}
MAX_SLACK_BODY = 64 * 1024


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{html.escape(title)} · Vigil</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.4}}
button{{font-size:1.25rem;padding:.9rem 1.5rem;width:100%;border-radius:.5rem;border:0;background:#b3261e;color:#fff}}
.muted{{color:#555}}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"""
    return HTMLResponse(document, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def _incident_title(request: Request, incident_id: int) -> tuple[str, str]:
    """(number, title) as the notifier last delivered them."""
    async with request.state.pool.acquire(timeout=5) as conn:
        row = await conn.fetchrow(
            "SELECT number, title FROM notifier.delivery WHERE incident_id = $1 ORDER BY created_at DESC LIMIT 1", incident_id)
    return (row["number"], row["title"]) if row else (f"INC-{incident_id}", "")


def _claim(request: Request, token: str) -> links.LinkClaim | HTMLResponse:
    ctx = request.state.notifier
    try:
        return links.verify(ctx.settings.link_keys(), token, now=ctx.clock())
    except links.LinkExpired as exc:
        verb = VERBS[exc.claim.action][0].lower()
        return _page("This link has expired", f"<p>It was to {verb} INC-{exc.claim.incident_id} as "
                     f"{html.escape(exc.claim.person)}, and worked until {exc.claim.expires_at:%Y-%m-%d %H:%M} UTC.</p>"
                     "<p class=muted>Open the incident in Vigil instead.</p>", 410)
    except links.LinkInvalid:
        return _page("This link is not valid", "<p>It may have been cut short or changed. Open the incident in Vigil "
                     "instead.</p>", 400)


@router.get("/ack/{token}", response_class=HTMLResponse, summary="Confirmation page of a one-click link (does not act)")
async def confirm(request: Request, token: str) -> HTMLResponse:
    claim = _claim(request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    number, title = await _incident_title(request, claim.incident_id)
    verb = VERBS[claim.action][0]
    return _page(f"{verb} {number}?", f"<p><strong>{html.escape(title)}</strong></p>"
                 f"<p class=muted>As {html.escape(claim.person)}.</p>"
                 f"<form method=post><button type=submit>{verb} {html.escape(number)}</button></form>")


@router.post("/ack/{token}", response_class=HTMLResponse, summary="Act on a one-click link (acknowledge or resolve)")
async def act(request: Request, token: str, even_if_firing: bool = False) -> HTMLResponse:
    """`even_if_firing`: the person confirmed resolving although its alerts still fire."""
    claim = _claim(request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    number, _title = await _incident_title(request, claim.incident_id)
    confirmed = even_if_firing and claim.action == "resolve"
    acted = await request.state.notifier.incidents.act(
        claim.incident_id, claim.action, by=f"{claim.person} (link)", key=_key(token) + ("-anyway" if confirmed else ""),
        even_if_firing=confirmed,
    )
    log.info("one-click link used", incident_id=number, person=claim.person, action=claim.action, ok=acted.ok,
             status=acted.status)
    if acted.error == "alerts_firing":
        return _page(f"{number} is not resolved yet", f"<p>{html.escape(acted.message)}.</p>"
                     "<p class=muted>Its alerts say the problem may still be there. Resolve it anyway only if you "
                     "know it is over; the timeline records that you did.</p>"
                     "<form method=post action=\"?even_if_firing=true\"><button type=submit>Resolve anyway</button></form>",
                     409)
    if not acted.ok:
        return _page(f"{number} was not {VERBS[claim.action][1]}", f"<p>{html.escape(acted.message)}</p>",
                     503 if acted.status in (0, 502, 503, 504) else 409)
    note = "" if acted.status == 200 else f"<p class=muted>{html.escape(acted.message)}</p>"
    return _page(f"{number} {VERBS[claim.action][1]}", f"<p>By {html.escape(claim.person)}.</p>{note}")


@router.post("/slack/actions", summary="Slack interactivity: the Acknowledge and Resolve buttons (Slack-signed)")
async def slack_actions(request: Request) -> JSONResponse:
    ctx = request.state.notifier
    secret = ctx.settings.notifier_slack_signing_secret
    body = await read_limited(request, MAX_SLACK_BODY)
    # Slack's timestamp is checked against the wall clock (Slack's), not the injected one.
    if secret is None or not verify_slack_request(secret.get_secret_value(), request.headers, body, now=datetime.now(UTC)):
        return JSONResponse({"error": "unauthorized", "message": "not signed by Slack"}, status_code=401)
    try:
        data = json.loads(parse_qs(body.decode()).get("payload", [""])[0])
        actions = [a for a in data.get("actions", []) if a.get("action_id") in ("vigil_ack", "vigil_resolve")]
        slack_user = str(data.get("user", {}).get("username") or data.get("user", {}).get("id") or "someone")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return JSONResponse({"error": "invalid_request", "message": "payload is not Slack's JSON"}, status_code=400)
    replies = []
    for action in actions:
        claim = _claim(request, str(action.get("value", "")))
        if isinstance(claim, HTMLResponse):
            replies.append("This button has expired or is not valid.")
            continue
        acted = await ctx.incidents.act(claim.incident_id, claim.action, by=f"{claim.person} (Slack: {slack_user})",
                                        key=_key(str(action.get("value"))))
        replies.append(f"INC-{claim.incident_id} {VERBS[claim.action][1]} by {claim.person}." if acted.ok
                       else f"INC-{claim.incident_id} was not {VERBS[claim.action][1]}: {acted.message}")
    return JSONResponse({"response_type": "ephemeral", "replace_original": False, "text": " ".join(replies) or "Nothing to do."})


def _key(token: str) -> str:
    """The Idempotency-Key of acting on a link: a double click acts once."""
    return "link-" + hashlib.sha256(token.encode()).hexdigest()[:32]


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes while reading (chunked bodies too)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, detail={"error": "too_large", "message": f"at most {limit} bytes"})
    return bytes(body)
