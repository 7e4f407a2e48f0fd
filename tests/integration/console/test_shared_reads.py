"""A read the console marks as shared (`Peers.get(..., shared_after=n)`, the live list's refresh):
calls that come while one with the same path, parameters, role and change number is under way wait
for its answer instead of asking again; another number, role or parameters ask on their own. A real
HTTP server answers slowly and counts what it was asked."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI, HTTPException, Request

from services.console.peers import Caller, PeerError, Peers
from shared.local.kafka_broker import free_port
from tests.support import ServerThread

pytestmark = pytest.mark.integration
KEY = b"peer-test-identity-key-0123456789abcdef"
ALICE, BOB, VERA = Caller("alice", "responder"), Caller("bob", "responder"), Caller("vera", "viewer")


@pytest.fixture(scope="module")
def peer():
    asked: list[str] = []
    app = FastAPI()

    @app.get("/list")
    async def listing(request: Request) -> dict:
        asked.append(str(request.url.query))
        await asyncio.sleep(0.3)
        return {"asked": len(asked)}

    @app.get("/broken")
    async def broken() -> dict:
        asked.append("broken")
        raise HTTPException(503, detail={"error": "unavailable", "message": "down for a moment"})

    with ServerThread(app, free_port()) as server:
        yield server.url, asked


def gather(url: str, calls: list[tuple[Caller, dict, int | None]]) -> list:
    async def run():
        peers = Peers({"incidents": url}, key=KEY, clock=lambda: datetime.now(UTC), timeout_s=5)
        try:
            return await asyncio.gather(*(peers.get("incidents", "/list", who, params=params, shared_after=after)
                                          for who, params, after in calls))
        finally:
            await peers.close()

    return asyncio.run(run())


def test_refreshes_after_the_same_change_ask_once_and_share_the_answer(peer):
    url, asked = peer
    asked.clear()
    began = time.monotonic()
    answers = gather(url, [(who, {"status": "open"}, 7) for who in (ALICE, BOB) * 10])
    assert len(asked) == 1 and all(a is answers[0] for a in answers)
    assert time.monotonic() - began < 3, "the calls waited for each other one by one"


def test_another_change_number_role_or_filter_asks_again(peer):
    url, asked = peer
    asked.clear()
    gather(url, [(ALICE, {"status": "open"}, 7), (ALICE, {"status": "open"}, 8), (VERA, {"status": "open"}, 7),
                 (ALICE, {"status": "all"}, 7), (ALICE, {"status": "open"}, None), (ALICE, {"status": "open"}, None)])
    assert len(asked) == 6  # the two unshared reads ask on their own


def test_a_shared_read_that_ended_is_asked_again(peer):
    url, asked = peer
    asked.clear()
    gather(url, [(ALICE, {"status": "open"}, 9)])
    gather(url, [(ALICE, {"status": "open"}, 9)])
    assert len(asked) == 2


def test_a_settings_read_is_used_again_while_fresh_per_role_and_an_error_is_not_kept(peer):
    """`fresh_for` (the incident page's postmortem policy, runbooks, SEV definitions)."""
    url, asked = peer
    asked.clear()
    now = [datetime(2026, 12, 6, 15, 0, tzinfo=UTC)]

    async def run():
        peers = Peers({"incidents": url}, key=KEY, clock=lambda: now[0], timeout_s=5)
        fresh = timedelta(seconds=30)
        try:
            first = await peers.get("incidents", "/list", ALICE, fresh_for=fresh)
            assert await peers.get("incidents", "/list", BOB, fresh_for=fresh) == first  # same role: kept
            await peers.get("incidents", "/list", VERA, fresh_for=fresh)  # another role asks on its own
            now[0] += timedelta(seconds=31)
            later = await peers.get("incidents", "/list", ALICE, fresh_for=fresh)
            for _ in range(2):
                _, error = await peers.read("incidents", "/broken", ALICE, fresh_for=fresh)
                assert isinstance(error, PeerError) and error.status == 503
            return first, later
        finally:
            await peers.close()

    first, later = asyncio.run(run())
    assert asked.count("") == 3 and asked.count("broken") == 2, asked
    assert later != first
