"""The console's calls to other services: each carries a fresh session assertion of the person, and
every kind of trouble becomes a sentence and a status for the page. A real HTTP server answers (no
Kafka or PostgreSQL needed)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.console.peers import Caller, PeerError, Peers
from shared.identity import verify
from shared.local.kafka_broker import free_port
from tests.support import ServerThread

pytestmark = pytest.mark.integration
KEY = b"peer-test-identity-key-0123456789abcdef"
ALICE = Caller(person="alice", role="responder")


def peer_app() -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict:
        principal = verify([KEY], request.headers["authorization"].removeprefix("Bearer "), now=datetime.now(UTC))
        return {"name": principal.name, "role": principal.role, "kind": principal.kind,
                "key": request.headers.get("idempotency-key")}

    @app.post("/whoami")
    async def whoami_post(request: Request) -> dict:
        return await whoami(request)

    @app.get("/status/{code}")
    async def status(code: int) -> JSONResponse:
        return JSONResponse({"error": "x", "message": f"refused with {code}"}, status_code=code)

    @app.get("/connection")
    async def connection(request: Request, close: bool = False, q: str = "") -> JSONResponse:
        return JSONResponse({"port": request.client.port, "q": q}, headers={"Connection": "close"} if close else None)

    @app.get("/chunked")
    async def chunked() -> StreamingResponse:
        async def parts():
            yield b'{"items": ['
            for n in range(3):
                yield f'{n}{"," if n < 2 else ""}'.encode()
            yield b"]}"

        return StreamingResponse(parts(), media_type="application/json")

    return app


@pytest.fixture(scope="module")
def peer():
    with ServerThread(peer_app(), free_port()) as server:
        yield server.url


def call(url: str | None, path: str, method: str = "GET", key: str | None = None):
    async def run():
        peers = Peers({"incidents": url}, key=KEY, clock=lambda: datetime.now(UTC), timeout_s=2)
        try:
            return await peers.call(method, "incidents", path, ALICE, key=key)
        finally:
            await peers.close()

    return asyncio.run(run())


def test_a_call_carries_a_session_assertion_of_the_person(peer):
    assert call(peer, "/whoami") == {"name": "alice", "role": "responder", "kind": "session", "key": None}
    assert call(peer, "/whoami", "POST", key="k-1")["key"] == "k-1"


@pytest.mark.parametrize(("code", "status", "says"), [
    (401, 502, "did not accept your sign-in"),
    (403, 403, "You may not do this: refused with 403"),
    (404, 404, "refused with 404"),
    (409, 409, "refused with 409"),
    (422, 422, "refused with 422"),
    (500, 502, "failed (HTTP 500): refused with 500"),
    (503, 503, "unavailable right now"),
])
def test_each_answer_of_a_peer_becomes_a_sentence_and_a_status(peer, code, status, says):
    with pytest.raises(PeerError) as caught:
        call(peer, f"/status/{code}")
    assert caught.value.status == status and caught.value.peer_status == code and says in caught.value.message


def test_a_peer_that_does_not_answer_or_is_not_configured(peer):
    with pytest.raises(PeerError) as silent:
        call(f"http://127.0.0.1:{free_port()}", "/whoami")
    assert silent.value.status == 503 and "not answering right now" in silent.value.message
    with pytest.raises(PeerError) as unset:
        call(None, "/whoami")
    assert unset.value.status == 503 and "VIGIL_CONSOLE_INCIDENTS_URL is not set" in unset.value.message


def reads(url: str, paths: list[str]) -> list:
    """GETs one after another through one Peers, as a page's reads are."""

    async def run():
        peers = Peers({"incidents": url}, key=KEY, clock=lambda: datetime.now(UTC), timeout_s=2)
        try:
            return [await peers.get("incidents", path, ALICE) for path in paths]
        finally:
            await peers.close()

    return asyncio.run(run())


def test_reads_share_one_kept_alive_connection_unless_the_peer_closes_it(peer):
    kept, again, closing, after = reads(peer, ["/connection", "/connection?q=a%20b", "/connection?close=true",
                                                "/connection"])
    assert kept["port"] == again["port"] and again["q"] == "a b"
    assert closing["port"] == kept["port"] and after["port"] != kept["port"]  # "Connection: close" was honoured
    assert reads(peer, ["/chunked"]) == [{"items": [0, 1, 2]}]


def test_a_read_on_a_connection_the_peer_closed_is_sent_again_on_a_new_one():
    """A peer that closes every connection after one answer, without saying so (as a keep-alive
    timeout that crosses the next request does): every read still gets its answer."""
    connections = []

    async def run():
        async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(writer)
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        peers = Peers({"incidents": f"http://127.0.0.1:{port}"}, key=KEY, clock=lambda: datetime.now(UTC), timeout_s=2)
        try:
            answers = []
            for _ in range(3):
                answers.append(await peers.get("incidents", "/x", ALICE))
            return answers
        finally:
            await peers.close()
            server.close()

    assert asyncio.run(run()) == [{}, {}, {}] and len(connections) == 3


def test_reads_go_through_the_http_proxy_of_the_environment_as_httpx_sends_them(peer, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens: a read through it fails
    with pytest.raises(PeerError) as through_proxy:
        call(peer, "/whoami")
    assert through_proxy.value.status == 503
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert call(peer, "/whoami")["name"] == "alice"
