"""The ID token check of the console's OpenID Connect sign-in: only a token signed by one of the
provider's published keys, for this client, this issuer, this sign-in (nonce) and this moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from services.console.oidc.provider import ProviderRefused, UnknownKey, verify_id_token

ISSUER, CLIENT, NONCE = "https://id.example.test", "vigil-console", "nonce-123"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SIGNING = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same key id, another key: a forgery
PUBLISHED = KeySet.import_key_set({"keys": [SIGNING.as_dict(private=False)]})


def token(*, key=SIGNING, header: dict | None = None, **overrides) -> str:
    claims = {"iss": ISSUER, "sub": "alice", "aud": CLIENT, "nonce": NONCE, "iat": int(NOW.timestamp()),
              "exp": int((NOW + timedelta(minutes=5)).timestamp()), **overrides}
    return jwt.encode(header or {"alg": "RS256", "kid": "k1"}, {k: v for k, v in claims.items() if v is not None}, key)


def verify(id_token: str, *, now: datetime = NOW, nonce: str = NONCE) -> dict:
    return verify_id_token(id_token, PUBLISHED, issuer=ISSUER, client_id=CLIENT, nonce=nonce, access_token=None, now=now)


def test_a_token_signed_by_the_provider_for_this_sign_in_verifies():
    claims = verify(token(aud=[CLIENT], preferred_username="alice"))
    assert claims["sub"] == "alice" and claims["preferred_username"] == "alice"


@pytest.mark.parametrize("forged", [
    token(key=OTHER),  # signed by someone else's key
    token(iss="https://evil.example.test"),
    token(aud="another-client"),
    token(aud=None),
    token(nonce="another-sign-in"),  # a token from another sign-in, replayed
    token(nonce=None),
    token(exp=int((NOW - timedelta(minutes=5)).timestamp())),  # expired (beyond the minute's leeway)
    token(iat=None),
    token(key=OctKey.import_key(b"c" * 32), header={"alg": "HS256", "kid": "k1"}),  # HMAC: refused outright
    "not.a.token",
])
def test_a_token_that_is_not_for_this_sign_in_is_refused(forged):
    with pytest.raises(ProviderRefused):
        verify(forged)


def test_a_token_with_a_key_the_provider_does_not_publish_asks_for_the_keys_again():
    with pytest.raises(UnknownKey):
        verify(token(header={"alg": "RS256", "kid": "rotated"}))


def test_a_minute_of_clock_difference_is_tolerated():
    assert verify(token(), now=NOW + timedelta(minutes=5, seconds=30))["sub"] == "alice"
