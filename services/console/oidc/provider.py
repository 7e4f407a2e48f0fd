"""The console as an OpenID Connect client (authorization code flow with PKCE S256, `state` and
`nonce`): the provider's metadata from its `/.well-known/openid-configuration`, the authorization
request, the code exchange, and the ID token's verification — its signature against the provider's
published keys (JWKS, refetched when a token names a key not seen yet: key rotation), then `iss`,
`aud`, `exp`, `iat`, `nonce`, `azp` and `at_hash` (authlib's `CodeIDToken`). Claims the ID token
lacks come from the userinfo endpoint (some providers put profile claims only there).

authlib's httpx integration is deprecated in favour of httpx2, and authlib.jose in favour of joserfc
(authlib's own successor): requests go through httpx directly, signatures through joserfc."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError, MissingKeyError
from joserfc.jwk import KeySet

METADATA_TTL_S = 3600.0
JWKS_REFETCH_AFTER_S = 60.0  # a token naming an unknown key refetches the keys at most this often
LEEWAY_S = 60  # clock difference tolerated between the console and the provider
# Asymmetric algorithms only: an HMAC-signed ID token would be verified with the client secret.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
MAX_ANSWER_BYTES = 512 * 1024


class ProviderUnreachable(Exception):
    """The provider did not answer, or not with what a provider answers (a 5xx, a page, no JSON)."""


class ProviderRefused(Exception):
    """The provider answered, but refused the code or sent an ID token that does not verify."""


class UnknownKey(ProviderRefused):
    """The ID token names a key the provider's key set does not hold (yet: keys rotate)."""


@dataclass(frozen=True)
class Attempt:
    """The secrets of one sign-in: kept by the console, never by the browser."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> Attempt:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))


class OidcProvider:
    def __init__(self, *, issuer: str, client_id: str, client_secret: str | None, scopes: str, timeout_s: float) -> None:
        self.issuer, self.client_id, self._secret, self.scopes = issuer, client_id, client_secret, scopes
        self._timeout_s = timeout_s
        self._metadata: dict | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def _get_json(self, url: str, *, bearer: str | None = None) -> dict:
        headers = {"Accept": "application/json"} | ({"Authorization": f"Bearer {bearer}"} if bearer else {})
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as http:
                response = await http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"{url}: {type(exc).__name__}: {exc}") from None
        return _json_of(response, url)

    async def metadata(self) -> dict:
        """The provider's discovery document (kept for an hour); its issuer must be the configured one."""
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL_S:
            document = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if document.get("issuer") != self.issuer:
                raise ProviderUnreachable(f"the discovery document names the issuer {document.get('issuer')!r}, "
                                          f"not {self.issuer!r} (VIGIL_CONSOLE_OIDC_ISSUER must be exactly it)")
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(field), str):
                    raise ProviderUnreachable(f"the discovery document has no {field}")
            self._metadata, self._metadata_at = document, time.monotonic()
        return self._metadata

    async def authorization_url(self, attempt: Attempt, *, redirect_uri: str) -> str:
        """Where to send the browser to sign in at the provider."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri, "scope": self.scopes,
            "state": attempt.state, "nonce": attempt.nonce,
            "code_challenge": create_s256_code_challenge(attempt.code_verifier), "code_challenge_method": "S256",
        })
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def finish(self, attempt: Attempt, *, code: str, redirect_uri: str, now: datetime) -> dict:
        """The verified claims of the person the code stands for (the ID token's, completed by userinfo)."""
        metadata = await self.metadata()
        tokens = await self._exchange(metadata["token_endpoint"], code=code, redirect_uri=redirect_uri,
                                      code_verifier=attempt.code_verifier)
        id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str):
            raise ProviderRefused("the token response carries no ID token (is 'openid' among the scopes?)")
        check = {"issuer": self.issuer, "client_id": self.client_id, "nonce": attempt.nonce,
                 "access_token": access_token, "now": now}
        try:
            verified = verify_id_token(id_token, await self._key_set(refresh=False), **check)
        except UnknownKey:
            if time.monotonic() - self._keys_at < JWKS_REFETCH_AFTER_S:
                raise
            verified = verify_id_token(id_token, await self._key_set(refresh=True), **check)  # the keys rotated
        userinfo = metadata.get("userinfo_endpoint")
        if isinstance(userinfo, str) and isinstance(access_token, str):
            extra = await self._get_json(userinfo, bearer=access_token)
            if extra.get("sub") == verified["sub"]:  # another subject's answer is ignored (OIDC Core 5.3.2)
                verified = {**extra, **verified}
        return verified

    async def _exchange(self, endpoint: str, *, code: str, redirect_uri: str, code_verifier: str) -> dict:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": code_verifier}
        auth = None
        if self._secret is None:
            form["client_id"] = self.client_id  # a public client: PKCE is its proof
        else:
            auth = httpx.BasicAuth(self.client_id, self._secret)  # client_secret_basic
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as http:
                response = await http.post(endpoint, data=form, auth=auth, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"{endpoint}: {type(exc).__name__}: {exc}") from None
        if 400 <= response.status_code < 500:
            answer = _json_of(response, endpoint, check_status=False)
            raise ProviderRefused(f"the token endpoint refused the code: {answer.get('error')} "
                                  f"{answer.get('error_description') or ''}".strip())
        return _json_of(response, endpoint)

    async def _key_set(self, *, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            document = await self._get_json((await self.metadata())["jwks_uri"])
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise ProviderUnreachable(f"the provider's keys cannot be read: {exc}") from None
            self._keys_at = time.monotonic()
        return self._keys


def verify_id_token(id_token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str,
                    access_token: object, now: datetime) -> dict:
    """PURE: the claims of an ID token signed by one of `keys` for this client, this sign-in (nonce)
    and this moment — else ProviderRefused saying why."""
    try:
        decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    except (MissingKeyError, InvalidKeyIdError) as exc:
        raise UnknownKey(f"the ID token is signed with a key the provider does not publish: {exc}") from None
    except (JoseError, ValueError) as exc:
        raise ProviderRefused(f"the ID token's signature does not verify: {type(exc).__name__}: {exc}") from None
    claims = CodeIDToken(decoded.claims, decoded.header,
                         options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}},
                         params={"nonce": nonce, "client_id": client_id, "access_token": access_token})
    try:
        claims.validate(now=int(now.timestamp()), leeway=LEEWAY_S)
    except JoseError as exc:
        raise ProviderRefused(f"the ID token does not verify: {type(exc).__name__}: {exc}") from None
    return dict(claims)


def _json_of(response: httpx.Response, url: str, *, check_status: bool = True) -> dict:
    if check_status and response.status_code != 200:
        raise ProviderUnreachable(f"{url} answered {response.status_code}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise ProviderUnreachable(f"{url} answered with more than {MAX_ANSWER_BYTES} bytes")
    try:
        answer = response.json()
    except ValueError:
        raise ProviderUnreachable(f"{url} did not answer with JSON") from None
    if not isinstance(answer, dict):
        raise ProviderUnreachable(f"{url} did not answer with a JSON object")
    return answer
