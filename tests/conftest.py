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


@pytest.fixture(scope="module")
def topic_prefix() -> str:
    """Each test module's own topics (`VIGIL_TOPIC_PREFIX`): its services never read another
    module's events on the shared broker."""
    import uuid

    return f"t{uuid.uuid4().hex[:10]}."


def _runner(name: str, bootstrap: str, database_url: str | None, prefix: str):
    from shared.clock import utc_now
    from tests.services import service_settings, start_service

    def run(*, clock=utc_now, ready: bool = True, app: dict | None = None, **overrides):
        """Start the service: `with running_<name>(clock=…, app={"run_relay": False}, <setting>=…) as svc:`."""
        # The module's database and topic prefix, unless the test gives its own.
        values = {"database_url": database_url, "topic_prefix": prefix, **overrides}
        settings = service_settings(name, bootstrap=bootstrap, **values)
        return start_service(name, settings, clock=clock, ready=ready, **(app or {}))

    return run


@pytest.fixture(scope="module")
def running_ingest(kafka_broker, topic_prefix):
    return _runner("ingest", kafka_broker.bootstrap_servers, None, topic_prefix)


@pytest.fixture(scope="module")
def running_incidents(kafka_broker, database_url, topic_prefix):
    return _runner("incidents", kafka_broker.bootstrap_servers, database_url, topic_prefix)


@pytest.fixture(scope="module")
def running_escalator(kafka_broker, database_url, topic_prefix):
    return _runner("escalator", kafka_broker.bootstrap_servers, database_url, topic_prefix)


@pytest.fixture(scope="module")
def running_slo(kafka_broker, database_url, topic_prefix):
    return _runner("slo", kafka_broker.bootstrap_servers, database_url, topic_prefix)


@pytest.fixture(scope="module")
def running_notifier(kafka_broker, database_url, topic_prefix):
    return _runner("notifier", kafka_broker.bootstrap_servers, database_url, topic_prefix)


@pytest.fixture(scope="module")
def running_console(kafka_broker, database_url, topic_prefix):
    return _runner("console", kafka_broker.bootstrap_servers, database_url, topic_prefix)
