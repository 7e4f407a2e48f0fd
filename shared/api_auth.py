"""Authentication and roles for every Vigil HTTP API (shared/identity.py says which credentials exist).

`VIGIL_API_TOKENS` holds comma-separated service accounts, `token:role` or `token:role:name`; roles
are ordered viewer < responder < admin. `VIGIL_IDENTITY_KEYS` verify personal API tokens (`vgt_…`)
and session assertions (`vgs_…`). Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBearer
from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.clock import Clock, utc_now
from shared.identity import MIN_KEY_BYTES, RANK, Principal, RevokedTokens, Role, is_signed, verify
from shared.settings import BaseServiceSettings, CommaList, split_csv

__all__ = ["RANK", "Admin", "ApiTokenSettings", "Authenticator", "Principal", "Responder", "Role", "Viewer", "require"]

MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class ServiceAccount:
    secret: bytes
    role: Role
    name: str  # what timelines record for its calls: given, or "<role>-token-<n>"


def parse_account(entry: str, n: int) -> ServiceAccount:
    """`token:role` or `token:role:name`; raises ValueError naming the entry's position."""
    parts = entry.split(":")
    if len(parts) >= 3 and parts[-2] in RANK:
        token, role, name = ":".join(parts[:-2]), parts[-2], parts[-1]
    elif len(parts) >= 2 and parts[-1] in RANK:
        token, role, name = ":".join(parts[:-1]), parts[-1], f"{parts[-1]}-token-{n}"
    else:
        raise ValueError(f"entry #{n} is not token:role or token:role:name with role viewer, responder or admin")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"token #{n} is shorter than {MIN_TOKEN_LENGTH} characters")
    if not name:
        raise ValueError(f"entry #{n} has an empty name")
    return ServiceAccount(token.encode(), role, name)  # type: ignore[arg-type]


class ApiTokenSettings(BaseServiceSettings):
    api_tokens: CommaList = Field(
        default_factory=list, description="Service accounts: token:role or token:role:name, comma-separated")
    identity_keys: Annotated[list[SecretStr], NoDecode, BeforeValidator(split_csv)] = Field(
        default_factory=list,
        description="Keys (≥ 32 characters, comma-separated) that verify personal API tokens and console sessions; "
        "the same on every service. The first signs, all verify.")

    @field_validator("api_tokens")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        for n, entry in enumerate(value, start=1):
            parse_account(entry, n)
        return value

    @field_validator("identity_keys")
    @classmethod
    def _long_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value().encode()) < MIN_KEY_BYTES for key in value):
            raise ValueError(f"identity keys have at least {MIN_KEY_BYTES} characters")
        return value

    def service_accounts(self) -> list[ServiceAccount]:
        return [parse_account(entry, n) for n, entry in enumerate(self.api_tokens, start=1)]

    def identity_key_bytes(self) -> list[bytes]:
        return [key.get_secret_value().encode() for key in self.identity_keys]


class Authenticator:
    """Who a request's `Authorization: Bearer …` is: a service account (constant-time comparison
    against every one), or a personal token / session assertion signed with an identity key and not
    revoked. One per process; `revoked` is kept current from `vigil.identity.v1`."""

    def __init__(self, accounts: Sequence[ServiceAccount], keys: Sequence[bytes], *,
                 revoked: RevokedTokens | None = None, clock: Clock = utc_now) -> None:
        self._accounts = list(accounts)
        self._keys = list(keys)
        self.revoked = revoked if revoked is not None else RevokedTokens()
        self._clock = clock

    @classmethod
    def of(cls, settings: BaseServiceSettings, *, clock: Clock = utc_now) -> Authenticator:
        if not isinstance(settings, ApiTokenSettings):
            return cls([], [], clock=clock)
        keys = settings.identity_key_bytes()
        # With keys, personal tokens wait for the revocations to be read (shared/identity_feed.py).
        return cls(settings.service_accounts(), keys, revoked=RevokedTokens(complete=not keys), clock=clock)

    @property
    def verifies_personal_credentials(self) -> bool:
        return bool(self._keys)

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, presented = authorization.strip().partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            return None
        if is_signed(presented):
            if not self._keys:
                return None
            return verify(self._keys, presented, now=self._clock(), revoked=self.revoked)
        candidate = presented.encode()
        found: Principal | None = None
        for account in self._accounts:  # every one compared: the time taken does not tell which matched
            if hmac.compare_digest(candidate, account.secret) and found is None:
                found = Principal(name=account.name, role=account.role, kind="service")
        return found


# Declares the scheme in the OpenAPI document (an Authorize button in /docs); checking is ours.
BEARER = HTTPBearer(auto_error=False, description="A personal API token (vgt_…), a service account's token, "
                    "or a console session's assertion")


def require(role: Role):
    """A FastAPI dependency: 401 without a valid credential, 403 when its role is below `role`."""

    # async: checking is a few microseconds of CPU; a plain `def` would cost a worker-thread hop per request.
    async def dependency(request: Request, _scheme: Annotated[object, Depends(BEARER)] = None) -> Principal:
        principal = request.state.authenticator.authenticate(request.headers.get("authorization"))
        if principal is None:
            raise HTTPException(
                401, detail={"error": "unauthorized", "message": "a valid API token is required (Authorization: Bearer <token>)"},
                headers={"WWW-Authenticate": 'Bearer realm="vigil"'},
            )
        if not principal.at_least(role):
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
