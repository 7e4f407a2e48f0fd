"""PURE: integration keys (PagerDuty's routing keys) as ingest holds them. A key is 32 characters,
shown once when it is made; what is stored, and what a request's routing key is looked up by, is
its SHA-256. Random keys (128 bits) need no slow hash: nobody can guess one from its digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IntegrationKey:
    """A key in use, as the enqueue path needs it: what it routes to."""

    id: str
    name: str
    service: str
    labels: dict[str, str] = field(default_factory=dict)


def digest(routing_key: str) -> bytes:
    return hashlib.sha256(routing_key.encode()).digest()


def hint(routing_key: str) -> str:
    """The last 4 characters: enough to tell keys apart in a list, useless for guessing one."""
    return routing_key[-4:]
