"""PURE: signed one-click links. A token says "`person` may `action` incident `incident_id` until
`expires_at`" and carries an HMAC-SHA256 over exactly that, so nobody can make or alter one without
a key. It opens `GET {public_url}/ack/{token}`, a confirmation page whose POST acts as the person.

Token layout (then base64url without padding; 39 bytes / 52 characters for a five-letter name):

    version (1 byte, 1) | action (1 byte: 1 ack, 2 resolve) | incident id (8 bytes, big-endian)
    | expires at (8 bytes, signed Unix seconds) | person (UTF-8, the rest) | MAC (16 bytes)

The MAC is HMAC-SHA256(key, "vigil-link" 0x00 || everything before it), cut to 128 bits. Only ids
are in the clear. The version byte lets the layout or the MAC change later while old links are still
read. Keys rotate: the first key signs, every key given verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

LinkAction = Literal["ack", "resolve"]

VERSION = 1
LINK_TTL = timedelta(hours=24)
MIN_KEY_BYTES = 16
_CONTEXT = b"vigil-link\x00"  # keeps these MACs apart from anything else signed with the same key
_HEADER = struct.Struct(">BBqq")
_MAC_BYTES = 16
_ACTION_CODES: dict[str, int] = {"ack": 1, "resolve": 2}
_ACTIONS: dict[int, LinkAction] = {1: "ack", 2: "resolve"}
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_MAX_TOKEN_CHARS = 2000  # a person name is at most 200 characters: far below this


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """What an authentic token says."""

    incident_id: int
    person: str
    action: LinkAction
    expires_at: datetime


class LinkError(ValueError):
    """A link that cannot be acted on."""


class LinkInvalid(LinkError):
    """Malformed, altered, or signed with a key we do not have: nothing in it can be trusted."""


class LinkExpired(LinkError):
    """Authentic but too old; `claim` says what it was for, so the page can say so."""

    def __init__(self, claim: LinkClaim) -> None:
        super().__init__(f"the link to {claim.action} incident {claim.incident_id} expired at {claim.expires_at.isoformat()}")
        self.claim = claim


def _mac(key: bytes, signed: bytes) -> bytes:
    return hmac.new(key, _CONTEXT + signed, hashlib.sha256).digest()[:_MAC_BYTES]


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a link key needs at least {MIN_KEY_BYTES} bytes, got {len(key)}")


def _decode(token: str) -> bytes:
    """The bytes of a token in its one canonical spelling (base64 ignores stray characters and
    spare low bits: such a variant of a link is not ours)."""
    if not _TOKEN_CHARS.fullmatch(token):
        raise LinkInvalid("the link is not well-formed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise LinkInvalid("the link is not well-formed") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        raise LinkInvalid("the link is not well-formed")
    return raw


def sign(key: bytes, *, incident_id: int, person: str, action: LinkAction, expires_at: datetime) -> str:
    """A URL-safe token for one action on one incident by one person, valid until `expires_at`."""
    _check_key(key)
    if action not in _ACTION_CODES:
        raise ValueError(f"action must be ack or resolve, got {action!r}")
    if not 1 <= incident_id < 2**63:
        raise ValueError(f"incident id out of range: {incident_id}")
    if not person:
        raise ValueError("a link needs a person")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    signed = _HEADER.pack(VERSION, _ACTION_CODES[action], incident_id, int(expires_at.timestamp())) + person.encode()
    return base64.urlsafe_b64encode(signed + _mac(key, signed)).rstrip(b"=").decode("ascii")


def verify(keys: bytes | Sequence[bytes], token: str, *, now: datetime) -> LinkClaim:
    """The claim of an authentic, unexpired token. Raises LinkInvalid or LinkExpired."""
    keys = [keys] if isinstance(keys, bytes) else list(keys)
    if not keys:
        raise ValueError("no key to verify links with")
    if len(token) > _MAX_TOKEN_CHARS:
        raise LinkInvalid("the link is too long to be one of ours")
    raw = _decode(token)
    if len(raw) < _HEADER.size + 1 + _MAC_BYTES:
        raise LinkInvalid("the link is incomplete")
    signed, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    version, action_code, incident_id, expires_s = _HEADER.unpack_from(signed)
    if version != VERSION:
        raise LinkInvalid(f"unknown link version {version}")
    # Every key is tried (no early exit), so the time taken does not say which key matched.
    matches = [hmac.compare_digest(_mac(key, signed), mac) for key in keys]
    if not any(matches):
        raise LinkInvalid("the link's signature does not match: it was altered or its key is no longer in use")
    try:
        person = signed[_HEADER.size:].decode()
        claim = LinkClaim(incident_id=incident_id, person=person, action=_ACTIONS[action_code],
                          expires_at=datetime.fromtimestamp(expires_s, UTC))
    except (UnicodeDecodeError, KeyError, ValueError, OverflowError, OSError):
        raise LinkInvalid("the link's content is not valid") from None  # only with a key's holder making it so
    if now >= claim.expires_at:
        raise LinkExpired(claim)
    return claim


@dataclass(frozen=True, slots=True)
class ActionLinks:
    """The acknowledge and resolve links of one message: tokens (Slack button values) and URLs."""

    ack_token: str
    resolve_token: str
    ack_url: str
    resolve_url: str
    expires_at: datetime


def link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/ack/{token}"


def action_links(
    key: bytes, *, public_url: str, incident_id: int, person: str, now: datetime, ttl: timedelta = LINK_TTL
) -> ActionLinks:
    """Both links for `person` and one incident, valid for `ttl` from `now`."""
    expires_at = (now + ttl).replace(microsecond=0)  # what the token can carry
    ack, resolve = (sign(key, incident_id=incident_id, person=person, action=a, expires_at=expires_at)
                    for a in ("ack", "resolve"))
    return ActionLinks(ack_token=ack, resolve_token=resolve, ack_url=link_url(public_url, ack),
                       resolve_url=link_url(public_url, resolve), expires_at=expires_at)
