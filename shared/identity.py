"""Who is calling, for every service: signed credentials that belong to a person with a role.

Three kinds of credentials reach a Vigil API, all as `Authorization: Bearer <credential>`:

- **Service accounts** — `VIGIL_API_TOKENS` (`token:role` or `token:role:name`), for bootstrapping
  and automation (Alertmanager-side scripts, the escalator's and the notifier's own calls). Compared
  in constant time (shared/api_auth.py). A service account may say on whose behalf it acts.
- **Personal API tokens** — `vgt_…`, created by a person (console, CLI, API), signed with
  `VIGIL_IDENTITY_KEYS`, carrying the token's id, the person, the role and an optional expiry. Any
  service verifies one without a lookup; revoking one publishes its id on `vigil.identity.v1`
  (compacted), which every service reads into its `RevokedTokens`.
- **Session assertions** — `vgs_…`, minted for one person for a few minutes by the console (a signed-in
  session) or the notifier (a signed one-click link): short-lived, so never revoked.

Format: `<prefix><base64url(payload JSON)>.<base64url(HMAC-SHA256(key, label + payload))>`; the first
key signs, every key verifies (rotation). Pure: no I/O, `now` is an argument.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Role = Literal["viewer", "responder", "admin"]
RANK: dict[str, int] = {"viewer": 1, "responder": 2, "admin": 3}
Kind = Literal["service", "token", "session"]
PREFIXES: dict[str, Kind] = {"vgt_": "token", "vgs_": "session"}
_PREFIX_OF = {kind: prefix for prefix, kind in PREFIXES.items()}
_LABEL = b"vigil-identity-v1\x00"
MIN_KEY_BYTES = 32
MAX_CREDENTIAL = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. `name`: the person (or the service account's name) — what timelines record.
    `token_id`: the personal token's id (revocation, last use)."""

    name: str
    role: Role
    kind: Kind = "service"
    token_id: str | None = None

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    data = base64.urlsafe_b64decode(padded.encode())
    if _b64(data) != text:  # only the canonical spelling: no alternative encodings of one credential
        raise ValueError("not canonical base64url")
    return data


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _LABEL + payload, hashlib.sha256).digest()


def mint(key: bytes, *, kind: Literal["token", "session"], person: str, role: Role, expires_at: datetime | None,
         token_id: str | None = None) -> str:
    """A signed credential for `person`. Sessions must expire; tokens may not (expires_at None)."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"identity keys have at least {MIN_KEY_BYTES} bytes")
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}")
    if kind == "session" and expires_at is None:
        raise ValueError("a session assertion must expire")
    claims: dict[str, object] = {"k": kind, "p": person, "r": role}  # the kind is signed too
    if expires_at is not None:
        claims["x"] = int(expires_at.timestamp())
    if token_id is not None:
        claims["i"] = token_id
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return f"{_PREFIX_OF[kind]}{_b64(payload)}.{_b64(_mac(key, payload))}"


def is_signed(credential: str) -> bool:
    return credential[:4] in PREFIXES


def verify(keys: Sequence[bytes], credential: str, *, now: datetime, revoked: RevokedTokens | None = None) -> Principal | None:
    """The principal of a signed credential, or None when it is malformed, not signed by one of
    `keys`, expired, or a revoked token."""
    kind = PREFIXES.get(credential[:4])
    if kind is None or len(credential) > MAX_CREDENTIAL:
        return None
    body, dot, signature = credential[4:].partition(".")
    if not dot:
        return None
    try:
        payload, presented = _unb64(body), _unb64(signature)
    except (ValueError, binascii.Error):
        return None
    valid = False
    for key in keys:  # every key is tried: the time taken does not tell which one matched
        valid |= hmac.compare_digest(_mac(key, payload), presented)
    if not valid:
        return None
    try:
        claims = json.loads(payload)
        person, role = claims["p"], claims["r"]
        if claims["k"] != kind:
            return None
        expires = claims.get("x")
        token_id = claims.get("i")
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(person, str) or role not in RANK or (expires is not None and not isinstance(expires, int)):
        return None
    if kind == "session" and expires is None:
        return None
    if expires is not None and now >= datetime.fromtimestamp(expires, UTC):
        return None
    if kind == "token" and revoked is not None and (not revoked.complete or token_id in revoked):
        return None
    return Principal(name=person, role=role, kind=kind, token_id=token_id)


class RevokedTokens:
    """The ids of revoked personal tokens, as `vigil.identity.v1` says; shared by a process's requests.
    Not `complete` until the topic was read to its end: personal tokens are refused until then."""

    def __init__(self, ids: Iterable[str] = (), *, complete: bool = True) -> None:
        self._ids: set[str] = set(ids)
        self.complete = complete

    def __contains__(self, token_id: object) -> bool:
        return token_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def revoke(self, token_id: str) -> None:
        self._ids.add(token_id)

    def restore(self, token_id: str) -> None:
        self._ids.discard(token_id)
