"""The console's calls to the other services' HTTP APIs (it never reads their databases). Every call
carries a fresh session assertion of the signed-in person (`vgs_…`, five minutes), so the service
sees — and its timeline records — the person, with their role as the console knows it now.

A peer's trouble never becomes a stack trace: `PeerError` carries a sentence for the page and the
status the page answers with (the peer's 403/404/409/422 as they are; 401, 5xx and silence as 502/503).

The reads (GETs of JSON) of a peer at an http:// URL go over connections of our own, kept open
(`KeptAlive`); the rest through httpx. httpx spent about 0.65 ms of CPU per call in its pool and
models — on the console's one event loop, most of an incident page's five calls — where the same
GET over asyncio's streams with httptools' parser (uvicorn's) takes about 0.05 ms."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx
import structlog

from shared.clock import Clock
from shared.error_bodies import error_code, error_fields, error_message
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
    def __init__(self, service: str, status: int, message: str, *, peer_status: int = 0, error: str = "",
                 fields: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.service = service
        self.status = status  # what the console's page answers with
        self.peer_status = peer_status  # what the service answered (0: nothing)
        self.message = message
        self.error = error  # the service's error code, e.g. alerts_firing ("" when it gave none)
        self.fields = fields  # a 422's (field, message) pairs, e.g. ("matchers[1].name", "…")


class Peers:
    def __init__(self, urls: dict[str, str | None], *, key: bytes, clock: Clock, timeout_s: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._urls = urls
        self._key = key
        self._clock = clock
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, transport=transport)
        self._timeout_s = timeout_s
        # The reads of plain-HTTP peers (not with a test's transport, nor through a proxy httpx would
        # use from the environment): our own kept-alive connections.
        self._kept = {} if transport is not None else {
            service: KeptAlive(parts.hostname, parts.port or 80, path=parts.path.rstrip("/"))
            for service, url in urls.items() if url and (parts := urlsplit(url)).scheme == "http" and parts.hostname
            and not _proxied(parts.hostname)}
        self._flights: dict[tuple, asyncio.Future] = {}  # shared GETs under way
        self._kept_answers: dict[tuple, tuple[datetime, Any]] = {}  # `fresh_for` reads: (until, answer)

    def configured(self, service: str) -> bool:
        return bool(self._urls.get(service))

    async def close(self) -> None:
        await self._http.aclose()
        for kept in self._kept.values():
            kept.close()

    def _assertion(self, caller: Caller) -> str:
        return mint(self._key, kind="session", person=caller.person, role=caller.role,
                    expires_at=self._clock() + ASSERTION_TTL)

    async def get(self, service: str, path: str, caller: Caller, *, params: Any = None,
                  shared_after: int | None = None, fresh_for: timedelta | None = None) -> Any:
        """The JSON answer of a GET. `fresh_for`, for a read of settings that rarely change and depend
        only on the role (the postmortem policy, the runbook list, the SEV definitions): an answer this
        young is used again instead of asking (errors are not kept). `shared_after`, for a read whose answer depends only on the role:
        the number of the last change the caller knows of (the live feed's); the call joins one under
        way with the same service, path, parameters, role and number — which began after that change
        — instead of asking again. So the burst of list refreshes that follows a change (every open
        page at once) asks the incident service once. A shared answer is read, never changed."""
        if fresh_for is not None:
            kept_key, now = (service, path, repr(params), caller.role), self._clock()
            kept = self._kept_answers.get(kept_key)
            if kept is not None and now < kept[0]:
                return kept[1]
            answer = await self.call("GET", service, path, caller, params=params)
            self._kept_answers[kept_key] = (now + fresh_for, answer)
            return answer
        if shared_after is None:
            return await self.call("GET", service, path, caller, params=params)
        key = (service, path, repr(params), caller.role, shared_after)
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = asyncio.ensure_future(self.call("GET", service, path, caller, params=params))
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        return await asyncio.shield(flight)  # a page that goes away does not cancel the others' call

    async def read(self, service: str, path: str, caller: Caller, *, params: Any = None,
                   fresh_for: timedelta | None = None) -> tuple[Any, PeerError | None]:
        """(answer, None), or (None, the error) — for a part of a page that can say why it is empty."""
        try:
            return await self.get(service, path, caller, params=params, fresh_for=fresh_for), None
        except PeerError as exc:
            return None, exc

    async def post(self, service: str, path: str, caller: Caller, *, body: Any = None, key: str | None = None) -> Any:
        return await self.call("POST", service, path, caller, body=body, key=key)

    async def call(self, method: str, service: str, path: str, caller: Caller, *, params: Any = None, body: Any = None,
                   key: str | None = None) -> Any:
        """The JSON answer of a 2xx; raises PeerError otherwise."""
        if method == "GET" and service in self._kept:
            return await self._read(service, path, caller, params=params)
        response = await self._send(method, service, path, caller, params=params, body=body, key=key)
        return response.json() if response.content else None

    async def _read(self, service: str, path: str, caller: Caller, *, params: Any) -> Any:
        """A GET over a kept-alive connection: what `_send` does for it, the same answers and errors."""
        # httpx's own encoding of the path and parameters (given parameters replace a query in `path`, as in httpx)
        target = (httpx.URL(path) if params is None else httpx.URL(path, params=params)).raw_path
        headers = f"Authorization: Bearer {self._assertion(caller)}\r\nAccept: application/json\r\n"
        try:
            async with asyncio.timeout(self._timeout_s):
                status, answer_headers, content = await self._kept[service].get(target, headers)
        except (OSError, TimeoutError, EOFError, httptools.HttpParserError) as exc:
            log.warning("peer did not answer", service=service, path=path, error=f"{type(exc).__name__}: {exc}")
            raise PeerError(service, 503, f"The {TITLES[service]} is not answering right now ({type(exc).__name__}). "
                                          "Try again in a moment.") from None
        if 200 <= status < 300:
            return json.loads(content) if content else None
        raise _error(service, TITLES[service], httpx.Response(status, headers=answer_headers, content=content))

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


MAX_IDLE = 32  # connections kept open to one peer


def _proxied(host: str) -> bool:
    """Whether httpx would send a request to `host` through an HTTP proxy of the environment."""
    proxies = urllib.request.getproxies_environment()
    return bool(proxies.get("http") or proxies.get("all")) and not urllib.request.proxy_bypass_environment(host)


class _Answer:
    """httptools' callbacks: one response's headers and body."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.complete = self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # known here; reset once the message is complete

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


class KeptAlive:
    """HTTP/1.1 GETs to one peer over connections kept open between calls (at most MAX_IDLE idle).
    A connection the peer closed while idle (uvicorn closes them after 5 s) is noticed before use, or,
    when the close crosses the request, by an answer that never began: the GET is sent once more on a
    new connection (GETs are safe to repeat)."""

    def __init__(self, host: str, port: int, *, path: str = "") -> None:
        self._host, self._port, self._prefix = host, port, path.encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, target: bytes, headers: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) of `GET target` with `headers` (CRLF-terminated lines)."""
        request = (b"GET " + self._prefix + target + b" HTTP/1.1\r\nHost: " + f"{self._host}:{self._port}".encode()
                   + b"\r\nUser-Agent: vigil-console\r\nAccept-Encoding: identity\r\n" + headers.encode("latin-1")
                   + b"\r\n")
        while self._idle:
            reader, writer = self._idle.pop()
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            answered = await self._exchange(reader, writer, request)
            if answered is not None:
                return answered
        reader, writer = await asyncio.open_connection(self._host, self._port)
        answered = await self._exchange(reader, writer, request)
        if answered is None:
            raise EOFError("the peer closed the connection without answering")
        return answered

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        request: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The answer on this connection; None when it ended before any of it came."""
        answer = _Answer()
        received = False
        try:
            writer.write(request)
            while not answer.complete:
                data = await reader.read(65536)
                if not data:
                    if received:
                        raise EOFError("the peer closed the connection in the middle of its answer")
                    writer.close()
                    return None
                received = True
                answer.parser.feed_data(data)
        except ConnectionError:
            writer.close()
            if received:
                raise
            return None  # reset before it answered (closed while idle): the caller asks on another
        except BaseException:
            writer.close()  # whatever was under way on it (a timeout, a cancelled page) leaves it unusable
            raise
        if answer.keep_alive and len(self._idle) < MAX_IDLE:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return answer.parser.get_status_code(), answer.headers, bytes(answer.body)

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()


def _error(service: str, title: str, response: httpx.Response) -> PeerError:
    status, detail = response.status_code, error_message(response)
    if status == 401:
        log.error("a peer refused the console's session assertion", service=service, status=status)
        return PeerError(service, 502, f"The {title} did not accept your sign-in. Its VIGIL_IDENTITY_KEYS may differ "
                                       "from the console's.", peer_status=status)
    if status == 403:
        return PeerError(service, 403, f"You may not do this: {detail}", peer_status=status)
    if status in (404, 409, 422):
        return PeerError(service, status, detail, peer_status=status, error=error_code(response),
                         fields=error_fields(response))
    if status in (502, 503, 504):
        return PeerError(service, 503, f"The {title} is unavailable right now ({detail}). Try again in a moment.",
                         peer_status=status)
    log.error("a peer failed", service=service, status=status, detail=detail)
    return PeerError(service, 502, f"The {title} failed (HTTP {status}): {detail}", peer_status=status)
