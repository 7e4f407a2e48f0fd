"""The console's HTTP API: personal API tokens (`/api/v1/tokens`). A person authenticates with a
personal token or session assertion (`Authorization: Bearer …`), or with their name and password
(`Authorization: Basic …`, rate-limited like the sign-in page) — how the CLI gets its first token.
A service account (`VIGIL_API_TOKENS`) with the admin role may list and revoke anyone's tokens."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic

from services.console import repository as repo, service, tokens
from services.console.schemas import CreatedToken, CreateToken, TokenOut
from services.console.throttle import Throttled
from shared.api_auth import BEARER
from shared.http_errors import Problem, error_responses

router = APIRouter(prefix="/api/v1", tags=["tokens"], responses=error_responses(401, 403, 422, 503))
BASIC = HTTPBasic(auto_error=False, description="A person's console name and password (rate-limited)")


@dataclass(frozen=True)
class Holder:
    """Who calls the token API: a person (`person`), or a service account (`person` None)."""

    person: str | None
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _unauthorized(message: str = "a personal token, a session, or name and password (Basic) is required") -> HTTPException:
    return HTTPException(401, detail={"error": "unauthorized", "message": message},
                         headers={"WWW-Authenticate": 'Bearer realm="vigil", Basic realm="vigil"'})


async def holder(request: Request, _bearer: Annotated[object, Depends(BEARER)] = None,
                 _basic: Annotated[object, Depends(BASIC)] = None) -> Holder:
    ctx = request.state.console
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            name, colon, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("Basic credentials are base64 of name:password") from None
        if not colon:
            raise _unauthorized("Basic credentials are base64 of name:password")
        address = request.client.host if request.client else "unknown"
        person = await service.check_password(ctx.pool, name=name, password=password, address=address,
                                              limit=ctx.login_limit, now=ctx.clock())
        if isinstance(person, Throttled):
            raise HTTPException(429, detail={"error": "too_many_failures", "message": "too many failed sign-ins; retry later"},
                                headers={"Retry-After": str(person.retry_after_s)})
        if isinstance(person, service.BadCredentials):
            raise _unauthorized("wrong name or password")
        return Holder(person["name"], person["role"])
    principal = request.state.authenticator.authenticate(authorization)
    if principal is None:
        raise _unauthorized()
    if principal.is_service:
        return Holder(None, principal.role)
    if principal.kind == "token":
        # The console knows its own revocations at once, before the feed brings them back.
        async with ctx.pool.acquire() as conn:
            row = await conn.fetchrow(repo.GET_TOKEN, principal.token_id)
            if row is None or row["revoked_at"] is not None:
                raise _unauthorized("this token was revoked")
            await conn.execute(repo.TOKEN_USED, principal.token_id, ctx.clock())
    return Holder(principal.name, principal.role)


Caller = Annotated[Holder, Depends(holder)]


@router.post("/tokens", status_code=201, response_model=CreatedToken, summary="Create a personal API token (shown once)",
             responses={429: {"model": Problem, "description": "Too many failed sign-ins (Basic): retry after `Retry-After` seconds"}})
async def create_token(request: Request, body: CreateToken, caller: Caller) -> JSONResponse:
    ctx = request.state.console
    if caller.person is None:
        raise HTTPException(403, detail={"error": "forbidden", "message": "personal tokens belong to people; "
                                         "a service account cannot create one"})
    now = ctx.clock()
    try:
        async with ctx.pool.acquire() as conn:
            made, row = await service.issue_token(conn, key=ctx.signing_key, person=caller.person, credential_role=caller.role,
                                                  name=body.name, role=body.role, expires_in_days=body.expires_in_days,
                                                  now=now)
    except service.Refused as exc:
        raise HTTPException(exc.status, detail={"error": "refused", "message": exc.message}) from None
    return JSONResponse(CreatedToken(**tokens.view(row, now), token=made.credential).model_dump(mode="json"), status_code=201)


@router.get("/tokens", response_model=list[TokenOut], summary="List tokens: one's own; an admin: ?person= or ?all=true")
async def list_tokens(
    request: Request, caller: Caller,
    person: Annotated[str | None, Query(max_length=200, description="Whose tokens (admin)")] = None,
    all: Annotated[bool, Query(description="Everyone's (admin; at most 1,000)")] = False,  # noqa: A002
) -> list[dict]:
    ctx = request.state.console
    if (person not in (None, caller.person) or all) and not caller.is_admin:
        raise HTTPException(403, detail={"error": "forbidden", "message": "only an admin lists other people's tokens"})
    whose = None if all or (caller.person is None and person is None) else (person or caller.person)
    async with ctx.pool.acquire() as conn:
        rows = await repo.tokens(conn, whose)
    now = ctx.clock()
    return [tokens.view(row, now) for row in rows]


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token: every service refuses it within seconds",
               responses=error_responses(404))
async def revoke_token(request: Request, token_id: str, caller: Caller) -> dict:
    ctx = request.state.console
    now = ctx.clock()
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await service.revoke_token(conn, token_id[:64], person=caller.person or "", is_admin=caller.is_admin, now=now)
    if row is None:
        raise HTTPException(404, detail={"error": "not_found", "message": f"no token {token_id[:64]} of yours"})
    return tokens.view(row, now)

