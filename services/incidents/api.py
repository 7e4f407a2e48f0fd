"""What every router of the incident service shares (the incident routes in `routes.py` and the
operations wing's in `ops/`): the role dependencies, incident and record references, the unit of
work (one transaction, `Idempotency-Key`, refusals as 409 and unknown ids as 404) and Markdown
answers. Routers import this module and their own service and repository, never each other."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Annotated, Literal

import structlog
from fastapi import HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, PlainTextResponse

from services.incidents import lifecycle, repository as repo, service
from services.incidents.schemas import Actor
from shared.api_auth import Admin, Principal, Responder, Viewer  # noqa: F401 - the routers' role parameters
from shared.http_errors import error_responses

REF = re.compile(r"^(?:INC-)?(\d{1,18})$", re.IGNORECASE)
Format = Annotated[Literal["json", "markdown"], Query(description="json, or markdown (text/markdown)")]
MARKDOWN = "text/markdown; charset=utf-8"
# What the OpenAPI document says each route may answer: every route (the routers'), a route that
# names one incident or record, a change (the unit of work: a body it cannot read, an unknown id,
# a refusal), and the Markdown of `format=markdown`.
ROUTER_ERRORS = error_responses(401, 403, 422, 503)
NAMED = error_responses(404)
CHANGE = error_responses(400, 404, 409)
OR_MARKDOWN = {200: {"description": "JSON, or Markdown with `format=markdown`",
                     "content": {"text/markdown": {"schema": {"type": "string"}}}}}


def incident_id(ref: str) -> int:
    """The number of `INC-42` or `42` (404 otherwise). It is bound into the log context as
    `incident_id=INC-42` for the rest of the request (uvicorn runs each request in its own task)."""
    match = REF.match(ref)
    if not match:
        raise HTTPException(404, detail={"error": "not_found", "message": f"{ref!r} is not an incident id or INC-<n>"})
    number = int(match.group(1))
    structlog.contextvars.bind_contextvars(incident_id=f"INC-{number}")
    return number


def incident_filter(ref: str | None) -> int | None:
    """A list's `incident=INC-<n>` filter: None without one; -1 (matches nothing) when it is no incident id."""
    if ref is None:
        return None
    match = REF.match(ref)
    return int(match.group(1)) if match else -1


def item_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # "²" is a digit to isdigit
        raise service.NotFound(f"no record {value!r}")
    return int(value)


def not_found(ref: str | int) -> HTTPException:
    return HTTPException(404, detail={"error": "not_found", "message": f"no incident {ref}"})


def actor(principal: Principal, body: Actor | None) -> str:
    """Who a change is recorded under: the authenticated identity. Only a service account may say on
    whose behalf it acts (`by`, recorded as given: the notifier for the person of a one-click link,
    the escalator's ack-timeout); a person's token or session acts as that person, and naming anyone
    else is 403."""
    named = body.by if body is not None else None
    if not named or named == principal.name:
        return principal.name
    if principal.is_service:
        return named
    raise HTTPException(403, detail={
        "error": "forbidden",
        "message": f"you act as yourself ({principal.name}): only a service account may say on whose behalf it acts (by)",
    })


def markdown_of(documents: list[str]) -> PlainTextResponse:
    return PlainTextResponse("\n---\n\n".join(documents), media_type=MARKDOWN)


async def unit_of_work(request: Request, principal: Principal, body: object, work: Callable) -> JSONResponse:
    """Run `work(conn, now)` in one transaction. With an `Idempotency-Key` header, the first
    response is stored with the key and returned again for a retry of the same request; the same
    key with a different request is 422."""
    ctx = request.state.incidents
    key = request.headers.get("idempotency-key")
    signature = hashlib.sha256(
        f"{request.method} {request.url.path} ".encode() + json.dumps(body, sort_keys=True, default=str).encode()
    ).hexdigest()
    async with ctx.pool.acquire() as conn, conn.transaction():
        if key:
            if len(key) > 200:
                raise HTTPException(422, detail={"error": "invalid_idempotency_key", "message": "at most 200 characters"})
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{principal.name}:{key}")  # serialise retries
            stored = await repo.get_idempotent(conn, key, principal.name)
            if stored is not None:
                if stored["request"] != signature:
                    raise HTTPException(
                        422, detail={"error": "idempotency_key_reused", "message": "this Idempotency-Key was used for another request"}
                    )
                return JSONResponse(stored["response"], status_code=stored["status_code"], headers={"Idempotent-Replayed": "true"})
        try:
            status_code, payload = await work(conn, ctx.clock())
        except service.NotFound as exc:
            raise HTTPException(404, detail={"error": "not_found", "message": str(exc)}) from None
        except lifecycle.Refused as exc:
            raise HTTPException(409, detail={"error": exc.error, "message": str(exc)}) from None
        content = jsonable_encoder(payload)
        if key:
            await repo.put_idempotent(conn, key, principal.name, signature, status_code, content)
    return JSONResponse(content, status_code=status_code)
