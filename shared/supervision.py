"""Background tasks of a service, watched: a loop that dies is logged and makes `/readyz` fail,
and a periodic job runs each tick under a deadline (GoAlert's engine gives each module a timeout),
so a hung query or peer cannot stall it forever."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("vigil.runtime")


class Supervisor:
    """A service's long-running loops (consumers, relay, ticker, …): started in its lifespan,
    watched while they run, stopped together at its end — each asked to stop, then awaited
    (cancelled after `timeout_s`).

    A loop is meant to run until it is asked to stop. One that returns or raises before that has
    died: it is logged as an error with its exception, and `alive()` is False from then on, which
    fails the service's readiness (`/readyz` answers 503 and names the task)."""

    def __init__(self) -> None:
        self._stops: list[Callable[[], None]] = []
        self._tasks: dict[str, asyncio.Task] = {}
        self._stopping = False
        self.died: dict[str, str] = {}  # task name -> why it ended

    def start(self, name: str, run: Callable[[], Awaitable[None]], stop: Callable[[], None]) -> None:
        if name in self._tasks:
            raise ValueError(f"a background task named {name!r} is already running")
        self._stops.append(stop)
        task = asyncio.create_task(run(), name=name)
        task.add_done_callback(self._on_done)
        self._tasks[name] = task

    def every(
        self, name: str, tick: Callable[[], Awaitable[object]], *, interval_s: float, timeout_s: float,
    ) -> None:
        """Run `tick` every `interval_s` seconds, each run under a deadline of `timeout_s`: a tick that
        fails or overruns is logged and the next one runs on schedule; the job itself never dies."""
        stopping = asyncio.Event()
        self.start(name, lambda: run_periodically(name, tick, interval_s=interval_s, timeout_s=timeout_s,
                                                  stopping=stopping), stopping.set)

    def _on_done(self, task: asyncio.Task) -> None:
        if self._stopping:
            return
        if task.cancelled():
            why = "cancelled"
        elif task.exception() is not None:
            why = repr(task.exception())
        else:
            why = "returned before it was asked to stop"
        self.died[task.get_name()] = why
        log.error("background task died; the service is not ready until it restarts", task=task.get_name(),
                  reason=why, exc_info=task.exception() if not task.cancelled() else None)

    def names(self) -> list[str]:
        return list(self._tasks)

    async def alive(self) -> bool:
        """A readiness check: every background task still runs."""
        return not self.died

    async def stop(self, timeout_s: float = 15.0) -> None:
        self._stopping = True
        for stop in self._stops:
            stop()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout_s)


async def run_periodically(
    name: str, tick: Callable[[], Awaitable[object]], *, interval_s: float, timeout_s: float,
    stopping: asyncio.Event,
) -> None:
    """Call `tick` every `interval_s` until `stopping` is set; each call under `timeout_s`."""
    while not stopping.is_set():
        await run_tick(name, tick, timeout_s=timeout_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)


async def run_tick(name: str, tick: Callable[[], Awaitable[object]], *, timeout_s: float) -> bool:
    """One tick of a periodic job under a deadline. False (and an error logged) when it raised or
    overran; the caller carries on with the next tick. Cancellation from outside still propagates."""
    try:
        async with asyncio.timeout(timeout_s):
            await tick()
        return True
    except TimeoutError:
        log.error("periodic job overran its deadline and was cut off; it runs again next tick", job=name,
                  timeout_s=timeout_s)
    except Exception as exc:  # noqa: BLE001 - a failing tick must not end the job
        log.error("periodic job failed; it runs again next tick", job=name, error=repr(exc))
    return False
