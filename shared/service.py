"""One skeleton for every service: `build_app` owns what each of them needs the same way — the
PostgreSQL pool and its migrations, the Kafka producer (topics and their DLQs), the outbox relay,
health and readiness, supervision of background tasks, and teardown in reverse order. A service
says what it is (`ServiceSpec`) and wires its own parts in `start`, which gets the built `Runtime`.

Nothing is created at import time or in `build_app` beyond the producer object: the pool, the
relay and the loops exist only inside the lifespan, so tests build apps with their own settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import REGISTRY

from shared.clock import Clock, utc_now
from shared.db import ACQUIRE_TIMEOUT_S, create_pool, migrate
from shared.events import Topic
from shared.api_auth import Authenticator
from shared.api_docs import assets_dir, install_api_docs
from shared.http_errors import install_error_handlers
from shared.identity_feed import IdentityFeed
from shared.kafka import EventProducer
from shared.metrics import claim_process_metrics, registry
from shared.observability import Check, configure_tracing, health_router
from shared.outbox import OutboxRelay
from shared.runtime import freeze_startup_heap
from shared.settings import BaseServiceSettings
from shared.supervision import Supervisor


@dataclass(frozen=True)
class ServiceSpec:
    """What a service is, as far as the skeleton cares."""

    name: str  # "escalator": traces as "vigil-escalator"
    title: str
    description: str  # the OpenAPI description
    ce_source: str  # CloudEvents `source` of what it produces
    topics: tuple[str, ...]  # created at start, each with its dead-letter topic
    routers: tuple[APIRouter, ...] = ()
    schema: str | None = None  # its PostgreSQL schema; None: the service keeps no state (ingest)
    migrations: Path | None = None
    init_connection: Callable[[asyncpg.Connection], Awaitable[None]] | None = None
    # The relay's "published" marks skip the WAL flush: a PostgreSQL crash may re-send the last
    # events (consumers drop them by event id), never lose one (shared/outbox.py).
    relay_marks_without_flush: bool = False
    request_tracing: bool = True  # FastAPI's per-request spans (ingest turns them off: their cost)


@dataclass
class Runtime:
    """What the skeleton built for one run of the service, handed to its `start`."""

    app: FastAPI
    settings: BaseServiceSettings
    clock: Clock
    producer: EventProducer
    work: Supervisor
    pool: asyncpg.Pool | None = None
    relay: OutboxRelay | None = None  # this process's relay (writers may wake it while it leads)
    checks: dict[str, Check] = field(default_factory=dict)  # its dependencies' checks, as /readyz runs them
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def on_stop(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run `close` at shutdown, after the background tasks stopped and before the producer and
        the pool close (in reverse order of registration)."""
        self._closers.append(close)


# Wires the service's own parts (context, consumers, tickers) and returns what the lifespan state
# holds for its routes (request.state.<key>).
Start = Callable[[Runtime], Awaitable[dict[str, Any]]]


def build_app(
    spec: ServiceSpec, settings: BaseServiceSettings, *, start: Start, clock: Clock = utc_now, run_relay: bool = True,
) -> FastAPI:
    if spec.schema is not None and not settings.database_url:
        raise ValueError(f"the {spec.name} service needs VIGIL_DATABASE_URL")
    configure_tracing(service_name=f"vigil-{spec.name}", otlp_endpoint=settings.otlp_endpoint)
    authenticator = Authenticator.of(settings)
    topics = [*spec.topics, *([Topic.IDENTITY] if authenticator.verifies_personal_credentials else [])]
    producer = EventProducer(settings, ce_source=spec.ce_source, ensure=[*dict.fromkeys(topics), *(Topic.dlq(t) for t in spec.topics)],
                             service=spec.name)
    identity_feed = IdentityFeed(settings, authenticator.revoked) if authenticator.verifies_personal_credentials else None
    live: dict[str, Any] = {}  # what the running lifespan holds, for the health checks

    async def postgres_ok() -> bool:
        async with live["pool"].acquire() as conn:
            return await conn.fetchval("SELECT 1") == 1

    dependency_checks: dict[str, Check] = {"kafka": producer.check}
    if identity_feed is not None:
        async def identity_ok() -> bool:
            return identity_feed.caught_up.is_set()

        dependency_checks["identity"] = identity_ok
    if spec.schema is not None:
        dependency_checks["postgres"] = postgres_ok

    async def background_ok() -> bool:
        return await live["work"].alive()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        work = Supervisor()
        pool = None
        if spec.schema is not None:
            pool = await create_pool(settings.database_url, init=spec.init_connection)
        rt = Runtime(app=app, settings=settings, clock=clock, producer=producer, work=work, pool=pool,
                     checks=dependency_checks)
        live.update(pool=pool, work=work)
        try:
            if pool is not None:
                async with pool.acquire() as conn:
                    await migrate(conn, schema=spec.schema, directory=spec.migrations)
                if run_relay:
                    rt.relay = OutboxRelay(pool, schema=spec.schema, producer=producer,
                                           mark_without_flush=spec.relay_marks_without_flush)
            producer.start()  # connects in the background; until then readiness says "kafka"
            if identity_feed is not None:
                work.start("identity-feed", identity_feed.run, identity_feed.stop)
            state = await start(rt)
            if rt.relay is not None:
                work.start("outbox-relay", rt.relay.run, rt.relay.stop)
            # What exists now lives as long as the process: keep it out of the garbage collector's
            # full collections (the thresholds are the process entry point's: shared/runtime.py).
            freeze_startup_heap()
            yield {**state, "pool": pool, "authenticator": authenticator}
        finally:
            await work.stop()
            for close in reversed(rt._closers):
                await close()
            await producer.stop()
            if pool is not None:
                await pool.close()

    # FastAPI's own /docs and /redoc load their scripts from a CDN: ours are served locally.
    app = FastAPI(
        title=spec.title, version="1", description=spec.description, lifespan=lifespan, docs_url=None, redoc_url=None,
        **({} if spec.request_tracing else {"telemetry": {"tracing": False}}),
    )
    install_error_handlers(app)
    install_api_docs(app, title=spec.title, node_modules=assets_dir())
    for router in spec.routers:
        app.include_router(router)
    checks = {**dependency_checks, "background": background_ok}
    # Its own series, and the process's (CPU, memory, GC) if it is the process's first service.
    registries = [registry(spec.name), *([REGISTRY] if claim_process_metrics() else [])]
    app.include_router(health_router(checks, died=lambda: dict(live["work"].died) if "work" in live else {},
                                     registries=registries))
    return app


# A route waits at most ACQUIRE_TIMEOUT_S for a connection, then answers 503 (shared/http_errors.py).
async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.state.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        yield conn


async def _transaction(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.state.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
        yield conn


# Route parameters: a pooled connection for the request, or one inside a transaction that commits
# when the route returns (rolls back when it raises) — before the response is sent, so a client
# that got its answer reads what it wrote (scope="function").
Connection = Annotated[asyncpg.Connection, Depends(_connection, scope="function")]
Transaction = Annotated[asyncpg.Connection, Depends(_transaction, scope="function")]
