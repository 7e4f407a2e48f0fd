"""The service skeleton (`shared/service.py`) with a real broker and PostgreSQL: a background task
that dies makes `/readyz` answer 503 and name it; a hung periodic job is cut off and goes on; the
routes' transaction commits before the response, so a client reads what it just wrote."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from shared.events import Topic
from shared.local.kafka_broker import free_port
from shared.service import Connection, Runtime, ServiceSpec, Transaction, build_app
from shared.settings import BaseServiceSettings
from tests.support import ServerThread, wait_for

pytestmark = pytest.mark.integration

router = APIRouter()


@router.post("/notes/{text}")
async def add_note(text: str, conn: Transaction) -> dict:
    await conn.execute("INSERT INTO skeleton.note (text) VALUES ($1)", text)
    return {"stored": text}


@router.get("/notes")
async def notes(conn: Connection) -> list[str]:
    return [r["text"] for r in await conn.fetch("SELECT text FROM skeleton.note ORDER BY id")]


def spec(migrations: Path) -> ServiceSpec:
    return ServiceSpec(name="skeleton", title="skeleton", description="test", ce_source="/test", topics=(Topic.ALERTS,),
                       routers=(router,), schema="skeleton", migrations=migrations)


def test_a_dead_task_fails_readiness_a_hung_job_goes_on_and_routes_read_their_writes(kafka_broker, database_url, tmp_path):
    (tmp_path / "0001_note.sql").write_text("CREATE TABLE skeleton.note (id bigserial PRIMARY KEY, text text NOT NULL);")
    settings = BaseServiceSettings(kafka_bootstrap_servers=kafka_broker.bootstrap_servers, database_url=database_url,
                                   topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    die = asyncio.Event()
    ticks: list[int] = []

    async def start(rt: Runtime) -> dict:
        loop = asyncio.get_running_loop()

        async def doomed() -> None:
            while not die.is_set():
                await asyncio.sleep(0.01)
            raise RuntimeError("connection has been released back to the pool")

        async def tick() -> None:
            ticks.append(len(ticks))
            if len(ticks) == 1:
                await asyncio.sleep(3600)  # hangs: the deadline cuts it off

        rt.work.start("outbox-relay-like", doomed, lambda: loop.call_soon_threadsafe(die.set))
        rt.work.every("gauge", tick, interval_s=0.01, timeout_s=0.2)
        return {}

    with ServerThread(build_app(spec(tmp_path), settings, start=start, run_relay=False), free_port()) as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout_s=60, what="ready")
        assert client.get("/readyz").json()["checks"] == {"kafka": "ok", "postgres": "ok", "background": "ok"}
        for n in range(5):  # each answer comes after its commit: the next request sees it
            assert client.post(f"/notes/n{n}").json() == {"stored": f"n{n}"}
            assert client.get("/notes").json()[-1] == f"n{n}"
        wait_for(lambda: len(ticks) >= 3, what="the periodic job going on after its hung tick")

        die.set()  # from the test's thread: the task polls the flag
        wait_for(lambda: client.get("/readyz").status_code == 503, what="readiness failing")
        body = client.get("/readyz").json()
        assert body["checks"]["background"] == "unavailable"
        assert "released back to the pool" in body["died"]["outbox-relay-like"]
        assert client.get("/healthz").status_code == 200  # alive, not ready: an orchestrator restarts it
