"""PURE: personal API tokens. A token is a `vgt_…` credential signed with the first identity key
(shared/identity.py), carrying a random id, the person, a role no higher than theirs and an optional
expiry. It is shown once; the console stores its id, a prefix to recognise it by, and its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.identity import RANK, Role, mint

# "vgt_" and the start of the signed payload (`{"i":"`) are the same in every token: the prefix
# reaches into the token's id, so two tokens of one person show different prefixes.
PREFIX_LENGTH = 20
MAX_EXPIRY_DAYS = 3650


@dataclass(frozen=True)
class NewToken:
    id: str
    credential: str  # returned to its owner once, never stored
    prefix: str
    hash: str
    role: Role
    expires_at: datetime | None


def grantable(requested: str, *, person_role: str, credential_role: str) -> bool:
    """A token's role is at most its person's role, and at most the role of what asks for it (a viewer
    token of an admin cannot make an admin token)."""
    return requested in RANK and RANK[requested] <= min(RANK[person_role], RANK[credential_role])


def expiry(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now + timedelta(days=days)


def new_token(key: bytes, *, person: str, role: Role, expires_at: datetime | None) -> NewToken:
    token_id = secrets.token_hex(12)
    credential = mint(key, kind="token", person=person, role=role, expires_at=expires_at, token_id=token_id)
    return NewToken(id=token_id, credential=credential, prefix=credential[:PREFIX_LENGTH], hash=token_hash(credential),
                    role=role, expires_at=expires_at)


def token_hash(credential: str) -> str:
    """Tokens carry 256 bits of signature: a plain SHA-256 suffices (no password hashing needed)."""
    return hashlib.sha256(credential.encode()).hexdigest()


def state(*, revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str:
    """What the token list says of a token."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and now >= expires_at:
        return "expired"
    return "active"


FIELDS = ("id", "person", "name", "role", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")


def view(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A stored token as the API and the Me page show it (never its hash)."""
    return {**{name: row[name] for name in FIELDS},
            "state": state(revoked_at=row["revoked_at"], expires_at=row["expires_at"], now=now)}
