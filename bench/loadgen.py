"""The load generator: one process, `--concurrency` keep-alive HTTP/1.1 connections, each posting
one request at a time (closed loop, like Alertmanager's webhook sender) for `--duration` seconds.

It is deliberately lean so that on a 2-core machine it takes as little CPU as possible from the
server under test: requests are pre-encoded bytes written straight to the socket, and responses are
parsed by httptools (the C parser uvicorn uses), so status line, headers, Content-Length and
chunked framing are all handled properly. Every 200 response body is decoded and must say how many
alerts were accepted; anything else counts as an error.

Run by bench.ingest_load (`python -m bench.loadgen ...`); prints one JSON object on stdout. The
bearer token comes from the BENCH_TOKEN environment variable, not the command line.

`open_loop` is the open-loop variant (a fixed rate whatever the server's latency, as many
Alertmanagers firing at once would send), imported by bench.escalator_load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from collections import Counter

import httptools

from bench.payloads import ALERTS_PER_PAYLOAD, bodies

WEBHOOK_PATH = "/api/v1/webhooks/alertmanager"


def build_request(port: int, path: str, body: bytes, token: str | None) -> bytes:
    """The request as Alertmanager 0.25 sends it (same headers, same order; see
    observed-headers.json in the fixtures)."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "User-Agent: Alertmanager/0.25.0",
        f"Content-Length: {len(body)}",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    head.append("Content-Type: application/json")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class ResponseError(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request()` writes one request and waits for its response."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None
        self.sent_at = 0.0  # perf_counter() of the request in flight, 0 when idle
        self.open = False

    # asyncio.Protocol
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.open = True

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("bad_http")
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail("connection_lost")

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        keep_alive = self._parser.should_keep_alive()
        body = b"".join(self._body)
        self._body = []
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body, keep_alive))

    def _fail(self, kind: str) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ResponseError(kind))

    def request(self, data: bytes) -> asyncio.Future:
        waiter = self._loop.create_future()
        self.waiter = waiter
        self.sent_at = time.perf_counter()
        self.transport.write(data)  # type: ignore[union-attr]
        return waiter

    def expire(self) -> None:
        """Give up on the request in flight (the monitor calls this after the request timeout)."""
        self._fail("timeout")
        self.abort()

    def abort(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.abort()


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.ok = 0
        self.alerts_ok = 0
        self.errors: Counter[str] = Counter()
        self.last_done = 0.0


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


async def run(
    *, port: int, concurrency: int, duration_s: float, shape: str, token: str | None,
    request_timeout_s: float, connect_timeout_s: float = 5.0, wait_go: bool = False,
) -> dict:
    loop = asyncio.get_running_loop()
    expected_alerts = ALERTS_PER_PAYLOAD[shape]
    requests = [build_request(port, WEBHOOK_PATH, body, token) for body in bodies(shape)]
    stats = Stats()
    conns: list[Connection | None] = [None] * concurrency

    async def connect() -> Connection:
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: Connection(loop), "127.0.0.1", port), connect_timeout_s
        )
        return conn  # type: ignore[return-value]

    # Open every connection before the clock starts.
    opened = await asyncio.gather(*(connect() for _ in range(concurrency)), return_exceptions=True)
    for i, conn in enumerate(opened):
        if isinstance(conn, BaseException):
            return {"fatal": f"could not connect: {conn!r}"}
        conns[i] = conn
    if wait_go:
        # Tell the orchestrator we are connected and wait for its go (it snapshots CPU counters in
        # between). EOF, i.e. the orchestrator is gone, means stop.
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        try:
            go = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 120)
        except TimeoutError:
            os._exit(2)  # the reader thread cannot be joined; nothing to clean up yet
        if go != "go\n":
            return {"fatal": "no go from the orchestrator"}

    started = time.perf_counter()
    deadline = started + duration_s
    stats.last_done = started

    async def worker(index: int) -> None:
        conn = conns[index]
        sent = index  # each connection starts at a different body variant
        while time.perf_counter() < deadline:
            if conn is None or not conn.open:
                try:
                    conn = conns[index] = await connect()
                except (OSError, TimeoutError):
                    stats.errors["connect"] += 1
                    await asyncio.sleep(0.05)
                    continue
            data = requests[sent % len(requests)]
            sent += 1
            response = conn.request(data)
            sent_at = conn.sent_at
            try:
                status, body, keep_alive = await response
            except ResponseError as exc:
                stats.errors[exc.kind] += 1
                conn.sent_at = 0.0
                conn.abort()
                continue
            now = time.perf_counter()
            stats.last_done = now
            conn.sent_at = 0.0
            if status == 200:
                try:
                    accepted = json.loads(body)["alerts"]
                except (ValueError, KeyError, TypeError):
                    accepted = None
                if accepted == expected_alerts:
                    stats.ok += 1
                    stats.alerts_ok += accepted
                    stats.latencies.append(now - sent_at)  # write of the request to end of response
                else:
                    stats.errors["bad_body"] += 1
            else:
                stats.errors[f"http_{status}"] += 1
            if not keep_alive:
                conn.abort()

    async def monitor() -> None:
        """Expire requests that take longer than the request timeout (a bounded loop)."""
        hard_stop = deadline + request_timeout_s + 5
        while time.perf_counter() < hard_stop:
            await asyncio.sleep(0.1)
            now = time.perf_counter()
            for conn in conns:
                if conn is not None and conn.sent_at and now - conn.sent_at > request_timeout_s:
                    conn.expire()

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    workers = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    watchdog = asyncio.create_task(monitor())
    # Every worker stops issuing at the deadline and waits for its request in flight, which the
    # monitor expires after request_timeout_s, so this wait is bounded; the timeout is a backstop.
    done, pending = await asyncio.wait(workers, timeout=duration_s + request_timeout_s + 10)
    for task in pending:
        task.cancel()
        stats.errors["unfinished"] += 1
    watchdog.cancel()
    for task in done:
        if task.exception() is not None:
            stats.errors[f"worker_crash:{type(task.exception()).__name__}"] += 1
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    for conn in conns:
        if conn is not None:
            conn.abort()

    elapsed = max(stats.last_done - started, 1e-9)
    lat = sorted(stats.latencies)
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {
        "shape": shape,
        "concurrency": concurrency,
        "duration_s": duration_s,
        "elapsed_s": round(elapsed, 4),
        "ok": stats.ok,
        "alerts_ok": stats.alerts_ok,
        "errors": dict(stats.errors),
        "error_count": sum(stats.errors.values()),
        "req_per_s": round(stats.ok / elapsed, 1),
        "alerts_per_s": round(stats.alerts_ok / elapsed, 1),
        "latency_ms": {
            "p50": ms(percentile(lat, 50)),
            "p90": ms(percentile(lat, 90)),
            "p99": ms(percentile(lat, 99)),
            "p999": ms(percentile(lat, 99.9)),
            "max": ms(lat[-1] if lat else None),
            "mean": ms(sum(lat) / len(lat) if lat else None),
        },
        "loadgen_cpu_s": round(
            (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 3
        ),
    }


class OpenLoopResult:
    """What `open_loop` saw, per request index: the HTTP status (None: an error, see `errors`), the
    wall-clock time (time.time()) the response was complete, and the latency from writing the
    request; plus how late the sends fell behind the schedule and the generator's own CPU time."""

    def __init__(self, n: int) -> None:
        self.status: list[int | None] = [None] * n
        self.done_at: list[float | None] = [None] * n
        self.latency_s: list[float | None] = [None] * n
        self.errors: Counter[str] = Counter()
        self.send_lag_s: list[float] = []
        self.connections = 0
        self.elapsed_s = 0.0
        self.cpu_s = 0.0


async def open_loop(
    *, port: int, requests: list[bytes], rate: float, max_connections: int = 256, initial_connections: int = 8,
    request_timeout_s: float = 10.0, connect_timeout_s: float = 5.0,
) -> OpenLoopResult:
    """Send `requests` (pre-encoded bytes, see `build_request`) at `rate` per second, open loop: each
    is written at its scheduled instant on an idle keep-alive connection, opening another one (up
    to `max_connections`) when all are busy, so a slow server does not slow the schedule down —
    until every connection is busy; then sends queue and `send_lag_s` shows by how much. No task
    per request: responses complete futures that put their connection back."""
    loop = asyncio.get_running_loop()
    result = OpenLoopResult(len(requests))
    idle: list[Connection] = []
    busy: dict[Connection, int] = {}
    freed = asyncio.Event()

    async def connect() -> Connection:
        _, conn = await asyncio.wait_for(loop.create_connection(lambda: Connection(loop), "127.0.0.1", port), connect_timeout_s)
        result.connections += 1
        return conn  # type: ignore[return-value]

    def finished(conn: Connection, index: int, future: asyncio.Future) -> None:
        busy.pop(conn, None)
        conn.sent_at, sent_at = 0.0, conn.sent_at
        if future.cancelled() or future.exception() is not None:
            kind = "cancelled" if future.cancelled() else getattr(future.exception(), "kind", "error")
            result.errors[kind] += 1
            conn.abort()
        else:
            status, _body, keep_alive = future.result()
            result.status[index] = status
            result.done_at[index] = time.time()
            result.latency_s[index] = time.perf_counter() - sent_at
            if status != 200:
                result.errors[f"http_{status}"] += 1
            if keep_alive and conn.open:
                idle.append(conn)
            else:
                conn.abort()
        freed.set()

    for conn in await asyncio.gather(*(connect() for _ in range(min(initial_connections, max_connections)))):
        idle.append(conn)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for index, data in enumerate(requests):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = None
        while conn is None:
            while idle and not idle[-1].open:
                idle.pop()
            if idle:
                conn = idle.pop()
            elif len(busy) < max_connections:
                try:
                    conn = await connect()
                except (OSError, TimeoutError):
                    result.errors["connect"] += 1
                    await asyncio.sleep(0.05)
            else:
                freed.clear()
                await freed.wait()
        result.send_lag_s.append(max(0.0, time.perf_counter() - due))
        busy[conn] = index
        conn.request(data).add_done_callback(lambda f, c=conn, i=index: finished(c, i, f))
    hard_stop = time.perf_counter() + request_timeout_s
    while busy and time.perf_counter() < hard_stop:
        freed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(freed.wait(), 0.1)
    for conn in list(busy):
        conn.expire()
    result.elapsed_s = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    for conn in idle:
        conn.abort()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--shape", choices=("single", "batch50"), required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--request-timeout", type=float, default=10.0)
    parser.add_argument("--wait-go", action="store_true", help="print 'ready' once connected, then wait for 'go' on stdin")
    args = parser.parse_args(argv)
    if not 1 <= args.concurrency <= 1024 or not 0 < args.duration <= 3600:
        parser.error("concurrency must be 1..1024 and duration 0..3600 s")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a uvicorn[standard] dependency
        runner = asyncio.run
    result = runner(
        run(
            port=args.port, concurrency=args.concurrency, duration_s=args.duration, shape=args.shape,
            token=os.environ.get("BENCH_TOKEN"), request_timeout_s=args.request_timeout, wait_go=args.wait_go,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 1 if "fatal" in result else 0


if __name__ == "__main__":
    sys.exit(main())
