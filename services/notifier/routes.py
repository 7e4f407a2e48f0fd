"""The notifier's HTTP API: deliveries of a page, of a person, by state; a test message to one
contact method; a webhook endpoint's signing secret. Thin: each route reads or writes through the
repository. The one-click acknowledge pages and Slack's buttons are in one_click.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import AwareDatetime

from services.notifier import repository as repo
from services.notifier.schemas import DeliveryOut, WebhookSecretOut
from services.notifier.senders.webhook import derive_secret
from shared.api_auth import Admin, Responder, Viewer
from shared.http_errors import error_responses
from shared.service import Connection

router = APIRouter(prefix="/api/v1", tags=["deliveries"], responses=error_responses(401, 403, 422, 503))
MAX_ROWS = 1000


def not_found(message: str) -> HTTPException:
    return HTTPException(404, detail={"error": "not_found", "message": message})


@router.get("/pages/{page_id}/deliveries", response_model=list[DeliveryOut], summary="A page's deliveries, step by step",
            responses=error_responses(404))
async def page_deliveries(page_id: str, _: Viewer, conn: Connection) -> list[dict]:
    rows = await conn.fetch(repo.BY_SOURCE, page_id)
    if not rows:
        raise not_found(f"no deliveries for page {page_id}")
    return [dict(r) for r in rows]


@router.get("/people/{person}/deliveries", response_model=list[DeliveryOut], summary="A person's deliveries, newest first")
async def person_deliveries(
    request: Request, person: str, _: Viewer, conn: Connection,
    since: Annotated[AwareDatetime | None, Query(description="Default: 24 hours ago")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 200,
) -> list[dict]:
    since = since or request.state.notifier.clock() - timedelta(hours=24)
    return [dict(r) for r in await conn.fetch(repo.BY_PERSON, person, since, limit)]


@router.get("/deliveries", response_model=list[DeliveryOut], summary="Deliveries in one state (e.g. failed), newest first")
async def deliveries_by_state(
    _: Viewer, conn: Connection,
    state: Literal["pending", "sending", "sent", "retrying", "failed", "cancelled"] = "failed",
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 200,
) -> list[dict]:
    return [dict(r) for r in await conn.fetch(repo.BY_STATE, state, limit)]


@router.post(
    "/people/{person}/contact-methods/{method}/test", response_model=DeliveryOut,
    summary="Send a test message to one contact method and answer with its delivery (responder: oneself; admin: anyone)",
    responses=error_responses(404),
)
async def test_send(request: Request, person: str, method: str, principal: Responder) -> dict:
    if principal.role != "admin" and principal.name != person:
        raise HTTPException(403, detail={"error": "forbidden", "message": "a responder may test only their own contact methods"})
    ctx = request.state.notifier
    now = ctx.clock()
    async with request.state.pool.acquire(timeout=5) as conn:
        found = await repo.person(conn, person)
        contact = found.method(method) if found else None
        if contact is None:
            raise not_found(f"{person} has no contact method {method!r}")
        test_id = f"test-{uuid.uuid4()}"
        row = (test_id, "test", test_id, 0, "TEST", 4, f"Test message for {person} ({contact.label or contact.id})",
               "notify", person, contact.id, contact.kind, contact.address, 0, {"requested_by": principal.name},
               now, now, "pending", now, None)
        await repo.insert_deliveries(conn, [row])
    ctx.dispatcher.wake()
    deadline = asyncio.get_running_loop().time() + ctx.settings.notifier_send_timeout_s + 10
    while True:  # answer with the outcome: the person sees at once whether it worked
        async with request.state.pool.acquire(timeout=5) as conn:
            delivery = await conn.fetchrow(repo.BY_SOURCE, test_id)
        if delivery["state"] in ("sent", "failed", "retrying") or asyncio.get_running_loop().time() > deadline:
            return dict(delivery)
        await asyncio.sleep(0.05)


@router.get(
    "/people/{person}/contact-methods/{method}/webhook-secret", response_model=WebhookSecretOut,
    summary="The Standard Webhooks secret a webhook contact method's receiver verifies with (admin)",
    responses=error_responses(404, 409),
)
async def webhook_secret(request: Request, person: str, method: str, _: Admin, conn: Connection) -> WebhookSecretOut:
    settings = request.state.notifier.settings
    found = await repo.person(conn, person)
    contact = found.method(method) if found else None
    if contact is None or contact.kind != "webhook":
        raise not_found(f"{person} has no webhook contact method {method!r}")
    if settings.notifier_webhook_key is None:
        raise HTTPException(409, detail={"error": "not_configured", "message": "VIGIL_NOTIFIER_WEBHOOK_KEY is not set"})
    secret = derive_secret(settings.notifier_webhook_key.get_secret_value().encode(), person, method)
    return WebhookSecretOut(person=person, method=method, secret=secret)

