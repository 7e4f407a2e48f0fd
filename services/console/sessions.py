"""PURE: console sessions. The browser holds a random id in the `vigil_session` cookie (Secure,
HttpOnly, SameSite=Lax); the database holds only its SHA-256, so a copy of the table signs nobody
in. A session lasts a fixed time from sign-in; its last-seen time is written at most once a minute."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

COOKIE = "vigil_session"
SEEN_EVERY = timedelta(minutes=1)
MAX_ID_LENGTH = 100  # longer cookie values are not ours: not even hashed


def new_id() -> str:
    return secrets.token_urlsafe(32)


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool
    lifetime: timedelta

    def attributes(self) -> dict:
        """Keyword arguments of Starlette's `set_cookie` for the session cookie."""
        return {"key": COOKIE, "max_age": int(self.lifetime.total_seconds()), "path": "/", "secure": self.secure,
                "httponly": True, "samesite": "lax"}


def is_live(expires_at: datetime, now: datetime) -> bool:
    return now < expires_at


def should_touch(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= SEEN_EVERY
