"""PURE: login rate limiting. Failed sign-ins are counted per account and per client address over a
sliding window; once either reaches the limit, sign-in is refused (429) until enough of them have
left the window. Checked before the password is, so guessing stops even when a guess is right."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True)
class LoginLimit:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Allowed:
    pass


@dataclass(frozen=True)
class Throttled:
    scope: Literal["account", "address"]
    retry_after_s: int  # whole seconds until a sign-in is accepted again (at least 1)


def _lifted_at(failures: Sequence[datetime], limit: LoginLimit, now: datetime) -> datetime | None:
    """When fewer than `max_failures` of `failures` will be inside the window, or None when that is so now."""
    recent = sorted(at for at in failures if now - limit.window < at <= now)
    if len(recent) < limit.max_failures:
        return None
    # The block lifts when the failure that keeps the count at the limit leaves the window.
    return recent[len(recent) - limit.max_failures] + limit.window


def check(limit: LoginLimit, *, account_failures: Sequence[datetime], address_failures: Sequence[datetime],
          now: datetime) -> Allowed | Throttled:
    """May someone try to sign in now, given the recent failures of the account and of the address?"""
    blocks = [(scope, at) for scope, failures in (("account", account_failures), ("address", address_failures))
              if (at := _lifted_at(failures, limit, now)) is not None]
    if not blocks:
        return Allowed()
    scope, until = max(blocks, key=lambda block: block[1])
    return Throttled(scope=scope, retry_after_s=max(1, math.ceil((until - now).total_seconds())))  # type: ignore[arg-type]


def account_key(name: str) -> str:
    """Failures count against the account however its name was typed."""
    return name.strip().lower()[:200]
