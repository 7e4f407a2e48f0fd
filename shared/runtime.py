"""Running services: process setup and uvicorn servers that stop together on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import structlog
import uvicorn
from fastapi import FastAPI

from shared.observability import configure_logging, configure_tracing
from shared.settings import BaseServiceSettings


def configure_process(settings: BaseServiceSettings, *, service_name: str) -> None:
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    configure_tracing(service_name=service_name, otlp_endpoint=settings.otlp_endpoint)


def freeze_startup_heap() -> None:
    """Call when a service has started: what is alive now (modules, the app, settings, pools) lives
    as long as the process, so the garbage collector stops walking it in every full collection
    (`gc.freeze`). Safe to call once per service in a process that runs several."""
    gc.collect()
    gc.freeze()


def tune_gc(thresholds: tuple[int, int, int] | None) -> None:
    """Set the garbage collector's thresholds for this process (`gc.set_threshold`); None keeps
    Python's. Process-wide, so only a process entry point calls it (`vigil serve`, `python -m
    services.<name>`, `vigil dev`, the benchmarks' servers), with the thresholds of what it runs:
    each service states its own (`GC_THRESHOLDS` in its app module) and why."""
    if thresholds is not None:
        gc.set_threshold(*thresholds)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to `serve`, so several share one process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class Listener:
    name: str
    app: FastAPI
    host: str
    port: int


def run(main) -> None:
    """Run a coroutine on uvloop when it is installed (uvicorn[standard] brings it), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; this keeps other platforms working
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def _serve_as(name: str, server: uvicorn.Server, *, several: bool) -> None:
    """Serve one app; with several in the process (`vigil dev`), each log line of its tasks names it
    (`vigil_service=…`: the lifespan, consumers and loops inherit this task's context)."""
    if several:
        structlog.contextvars.bind_contextvars(vigil_service=name)
    await server.serve()


async def serve(listeners: list[Listener]) -> None:
    """Serve every app until SIGINT/SIGTERM, then shut all of them down cleanly (lifespans run
    their shutdown: consumers commit, producers flush). A second Ctrl-C forces the exit."""
    servers = [
        _Server(
            uvicorn.Config(
                item.app, host=item.host, port=item.port, log_config=None, access_log=False,
                lifespan="on", timeout_graceful_shutdown=10, limit_concurrency=None,
            )
        )
        for item in listeners
    ]
    loop = asyncio.get_running_loop()

    def stop(sig: signal.Signals) -> None:
        for server in servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        results = await asyncio.gather(
            *(_serve_as(item.name, s, several=len(servers) > 1) for item, s in zip(listeners, servers, strict=True)),
            return_exceptions=True,
        )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    for item, server, result in zip(listeners, servers, results, strict=True):
        if isinstance(result, BaseException):
            raise RuntimeError(f"{item.name} failed") from result
        if not server.started:
            raise RuntimeError(f"{item.name} did not start (port {item.port} in use, or its start-up failed)")
