"""Session fixtures: a real Kafka broker (KRaft) and a real PostgreSQL, started by the project's
own code on free ports in throw-away directories."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from shared.local.kafka_broker import LocalKafka, free_port
from shared.local.postgres_server import LocalPostgres
from shared.observability import configure_logging

configure_logging(level="info", fmt="console")


def new_broker() -> LocalKafka:
    return LocalKafka(
        Path(tempfile.mkdtemp(prefix="vigil-test-kafka-")),
        port=free_port(), controller_port=free_port(), heap="384m", partitions=3,
    )


@pytest.fixture(scope="session")
def kafka_broker():
    broker = new_broker()
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    server = LocalPostgres(Path(tempfile.mkdtemp(prefix="vigil-test-pg-")), port=free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


def create_database(server: LocalPostgres) -> str:
    """A new, empty database on `server`; returns its URL. Callable from sync and async tests
    (it runs its own event loop in a worker thread)."""
    import asyncio
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    import asyncpg

    name = f"test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(server.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def database_url(postgres_server):
    """A new, empty database on the session's server for each test module."""
    return create_database(postgres_server)
