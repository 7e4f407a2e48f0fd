"""The console's calls to the other services' HTTP APIs (it never reads their databases). Every call
carries a fresh session assertion of the signed-in person (`vgs_…`, five minutes), so the service
sees — and its timeline records — the person, with their role as the console knows it now.

A peer's trouble never becomes a stack trace: `PeerError` carries a sentence for the page and the
status the page answers with (the peer's 403/404/409/422 as they are; 401, 5xx and silence as 502/503)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import structlog

from shared.clock import Clock
from shared.identity import Role, mint

log = structlog.get_logger("vigil.console")

ASSERTION_TTL = timedelta(minutes=5)
TITLES = {"incidents": "incident service", "escalator": "escalator", "slo": "SLO service", "notifier": "notifier"}
SETTINGS = {"incidents": "VIGIL_CONSOLE_INCIDENTS_URL", "escalator": "VIGIL_CONSOLE_ESCALATOR_URL",
            "slo": "VIGIL_CONSOLE_SLO_URL", "notifier": "VIGIL_CONSOLE_NOTIFIER_URL"}


@dataclass(frozen=True)
class Caller:
    """Whom a call is made for."""

    person: str
    role: Role


class PeerError(Exception):
    def __init__(self, service: str, status: int, message: str, *, peer_status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.status = status  # what the console's page answers with
        self.peer_status = peer_status  # what the service answered (0: nothing)
        self.message = message
        self.error = error  # the service's error code, e.g. alerts_firing ("" when it gave none)


class Peers:
    def __init__(self, urls: dict[str, str | None], *, key: bytes, clock: Clock, timeout_s: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._urls = urls
        self._key = key
        self._clock = clock
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, transport=transport)
        self._flights: dict[tuple, asyncio.Future] = {}  # shared GETs under way

    def configured(self, service: str) -> bool:
        return bool(self._urls.get(service))

    async def close(self) -> None:
        await self._http.aclose()

    def _assertion(self, caller: Caller) -> str:
        return mint(self._key, kind="session", person=caller.person, role=caller.role,
                    expires_at=self._clock() + ASSERTION_TTL)

    async def get(self, service: str, path: str, caller: Caller, *, params: Any = None,
                  shared_after: int | None = None) -> Any:
        """The JSON answer of a GET. `shared_after`, for a read whose answer depends only on the role:
        the number of the last change the caller knows of (the live feed's); the call joins one under
        way with the same service, path, parameters, role and number — which began after that change
        — instead of asking again. So the burst of list refreshes that follows a change (every open
        page at once) asks the incident service once. A shared answer is read, never changed."""
        if shared_after is None:
            return await self.call("GET", service, path, caller, params=params)
        key = (service, path, repr(params), caller.role, shared_after)
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = asyncio.ensure_future(self.call("GET", service, path, caller, params=params))
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        return await asyncio.shield(flight)  # a page that goes away does not cancel the others' call

    async def read(self, service: str, path: str, caller: Caller, *, params: Any = None) -> tuple[Any, PeerError | None]:
        """(answer, None), or (None, the error) — for a part of a page that can say why it is empty."""
        try:
            return await self.get(service, path, caller, params=params), None
        except PeerError as exc:
            return None, exc

    async def post(self, service: str, path: str, caller: Caller, *, body: Any = None, key: str | None = None) -> Any:
        return await self.call("POST", service, path, caller, body=body, key=key)

    async def call(self, method: str, service: str, path: str, caller: Caller, *, params: Any = None, body: Any = None,
                   key: str | None = None) -> Any:
        """The JSON answer of a 2xx; raises PeerError otherwise."""
        response = await self._send(method, service, path, caller, params=params, body=body, key=key)
        return response.json() if response.content else None

    async def fetch(self, service: str, path: str, caller: Caller, *, accept: str) -> httpx.Response:
        """A GET whose answer is not JSON (an SVG chart): the 2xx response; raises PeerError otherwise."""
        return await self._send("GET", service, path, caller, accept=accept)

    async def _send(self, method: str, service: str, path: str, caller: Caller, *, params: Any = None, body: Any = None,
                    key: str | None = None, accept: str = "application/json") -> httpx.Response:
        base = self._urls.get(service)
        title = TITLES[service]
        if not base:
            raise PeerError(service, 503, f"The console is not connected to the {title} ({SETTINGS[service]} is not set).")
        headers = {"Authorization": f"Bearer {self._assertion(caller)}", "Accept": accept}
        if key:
            headers["Idempotency-Key"] = key
        try:
            response = await self._http.request(method, base + path, params=params, json=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("peer did not answer", service=service, path=path, error=f"{type(exc).__name__}: {exc}")
            raise PeerError(service, 503, f"The {title} is not answering right now ({type(exc).__name__}). "
                                          "Try again in a moment.") from None
        if response.is_success:
            return response
        raise _error(service, title, response)


def _error(service: str, title: str, response: httpx.Response) -> PeerError:
    status, detail = response.status_code, problem_message(response)
    if status == 401:
        log.error("a peer refused the console's session assertion", service=service, status=status)
        return PeerError(service, 502, f"The {title} did not accept your sign-in. Its VIGIL_IDENTITY_KEYS may differ "
                                       "from the console's.", peer_status=status)
    if status == 403:
        return PeerError(service, 403, f"You may not do this: {detail}", peer_status=status)
    if status in (404, 409, 422):
        return PeerError(service, status, detail, peer_status=status, error=error_code(response))
    if status in (502, 503, 504):
        return PeerError(service, 503, f"The {title} is unavailable right now ({detail}). Try again in a moment.",
                         peer_status=status)
    log.error("a peer failed", service=service, status=status, detail=detail)
    return PeerError(service, 502, f"The {title} failed (HTTP {status}): {detail}", peer_status=status)


def error_code(response: httpx.Response) -> str:
    """The `error` of a Vigil error body (`{"error", "message"}`, or inside FastAPI's `detail`)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    return str((detail if isinstance(detail, dict) else body).get("error") or "")


def problem_message(response: httpx.Response) -> str:
    """The `message` of a Vigil error body (`{"error", "message"}`, or FastAPI's `detail`)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        detail = body.get("detail", body)
        if isinstance(detail, dict):
            message = detail.get("message") or detail.get("error")
            fields = detail.get("fields") or []
            if fields and isinstance(fields, list):
                message = f"{message}: " + "; ".join(f"{f.get('field')}: {f.get('message')}" for f in fields[:5]
                                                     if isinstance(f, dict))
            return str(message or f"HTTP {response.status_code}")
        if isinstance(detail, str):
            return detail
    return f"HTTP {response.status_code}"
