"""API tokens with roles for the HTTP APIs of incidents, escalator and SLO.

`VIGIL_API_TOKENS` holds comma-separated `token:role` pairs; roles are ordered
viewer < responder < admin. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from pydantic import Field, field_validator

from shared.settings import BaseServiceSettings, CommaList

Role = Literal["viewer", "responder", "admin"]
RANK: dict[str, int] = {"viewer": 1, "responder": 2, "admin": 3}
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Principal:
    name: str  # what the timeline shows as the actor when the request does not say who
    role: Role


class ApiTokenSettings(BaseServiceSettings):
    api_tokens: CommaList = Field(default_factory=list, description="token:role pairs, comma-separated")

    @field_validator("api_tokens")
    @classmethod
    def _pairs(cls, value: list[str]) -> list[str]:
        for i, pair in enumerate(value):
            token, sep, role = pair.rpartition(":")
            if not sep or role not in RANK:
                raise ValueError(f"entry #{i + 1} is not token:role with role viewer, responder or admin")
            if len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(f"token #{i + 1} is shorter than {MIN_TOKEN_LENGTH} characters")
        return value

    def token_roles(self) -> list[tuple[bytes, Role]]:
        return [(pair.rpartition(":")[0].encode(), pair.rpartition(":")[2]) for pair in self.api_tokens]  # type: ignore[misc]


def authenticate(authorization: str | None, tokens: list[tuple[bytes, Role]]) -> Principal | None:
    """The principal of a `Bearer` token, comparing against every token in constant time."""
    if not authorization:
        return None
    scheme, _, presented = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    candidate = presented.strip().encode()
    found: Principal | None = None
    for n, (token, role) in enumerate(tokens):
        if hmac.compare_digest(candidate, token) and found is None:
            found = Principal(name=f"{role}-token-{n + 1}", role=role)
    return found


def require(role: Role):
    """A FastAPI dependency: 401 without a valid token, 403 when its role is below `role`."""

    def dependency(request: Request) -> Principal:
        tokens: list[tuple[bytes, Role]] = request.state.api_tokens
        principal = authenticate(request.headers.get("authorization"), tokens)
        if principal is None:
            raise HTTPException(
                401, detail={"error": "unauthorized", "message": "a valid API token is required (Authorization: Bearer <token>)"},
                headers={"WWW-Authenticate": 'Bearer realm="vigil"'},
            )
        if RANK[principal.role] < RANK[role]:
            raise HTTPException(
                403, detail={"error": "forbidden", "message": f"this needs the {role} role; the token has {principal.role}"}
            )
        return principal

    dependency.required_role = role  # read by the auth-matrix test
    return dependency


# Route parameters: the caller, who must hold at least that role.
Viewer = Annotated[Principal, Depends(require("viewer"))]
Responder = Annotated[Principal, Depends(require("responder"))]
Admin = Annotated[Principal, Depends(require("admin"))]
