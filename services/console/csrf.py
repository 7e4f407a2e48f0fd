"""PURE: cross-site request forgery tokens. Every form of a signed-in session carries the session's
token in a hidden field and every POST is checked against it; the sign-in form, before there is a
session, carries a token that must equal the one in its own short-lived cookie (double submit)."""

from __future__ import annotations

import hmac
import secrets

FIELD = "csrf_token"  # the hidden field's name in every form
SIGNIN_COOKIE = "vigil_signin"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def matches(expected: str | None, presented: object) -> bool:
    """True only when both are present and equal (compared in constant time)."""
    if not expected or not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
