"""PURE: checking the credentials Alertmanager sends (`Authorization: Bearer <token>` from
`http_config.authorization`, or `Basic` from `http_config.basic_auth` with a token as password)."""

from __future__ import annotations

import base64
import binascii
import hmac

CHALLENGE = 'Bearer realm="vigil-ingest", Basic realm="vigil-ingest"'


def presented_secret(authorization: str | None) -> str | None:
    """The secret in an Authorization header: the bearer token, or the Basic password."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer":
        return credentials or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def token_accepted(secret: str | None, tokens: list[str]) -> bool:
    """Constant-time comparison against every configured token (no early exit, so the time taken
    does not tell which token matched or how much of one did)."""
    if secret is None:
        return False
    presented = secret.encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(presented, token.encode())
    return matched
