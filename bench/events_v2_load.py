"""PagerDuty Events v2 beside the Alertmanager webhook, in one run: `python -m bench.events_v2_load`.

Starts its own Kafka broker and PostgreSQL (free ports, data in a temp dir) and one real ingest
(`bench.serve ingest`: uvicorn, 1 worker, uvloop, httptools) with a database, so it serves both
endpoints; makes an integration key through the API; then, for each concurrency, measures the
webhook with 1-alert notifications and `/v2/enqueue` with triggers (as Alertmanager's
`pagerduty_configs` sends them, over `--dedup-keys` distinct dedup keys: the first round inserts
each key's row, later rounds are triggers sent again), alternating which goes first, so both see the
same machine. A closed-loop load generator (a third process, bench/loadgen.py's connection) keeps
`c` requests in flight. After each step the topic's growth must equal the requests answered 2xx
(every trigger, even a repeat, is one message).

Prints a table and writes JSON to bench/results/. Exit 0 when every step ran and every accepted
event is on the broker; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench.harness import REPO, Child, cpu_seconds, distinct_free_ports, run_and_save, run_main, start_child, tree_cpu_seconds
from bench.ingest_load import machine_busy
from bench.loadgen import WEBHOOK_PATH, Connection, ResponseError, build_request, percentile
from bench.payloads import bodies
from shared.events import Topic
from shared.local.kafka_broker import LocalKafka, free_port
from shared.local.postgres_server import LocalPostgres

PYTHON = sys.executable
RESULTS_DIR = REPO / "bench" / "results"
ENQUEUE_PATH = "/v2/enqueue"
MODES = ("webhook", "events_v2")
DEFAULT_CONCURRENCY = (1, 16, 64)


def enqueue_bodies(routing_key: str, dedup_keys: int) -> list[bytes]:
    """Triggers shaped like Alertmanager 0.25's `pagerduty_configs` (its default templates filled in)."""
    out = []
    for i in range(dedup_keys):
        out.append(json.dumps({
            "routing_key": routing_key, "event_action": "trigger",
            "dedup_key": f"{i:064x}",  # Alertmanager: the SHA-256 of the group key
            "payload": {
                "summary": f"[FIRING:1] DiskAlmostFull (10.0.{i // 256}.{i % 256}:9100 node critical)",
                "source": "Alertmanager", "severity": "critical",
                "custom_details": {"firing": f"Labels:\n - alertname = DiskAlmostFull\n - instance = 10.0.{i // 256}.{i % 256}:9100\n",
                                   "num_firing": "1", "num_resolved": "0", "resolved": ""},
            },
            "client": "Alertmanager", "client_url": "http://alertmanager.example.com:9093/#/alerts?receiver=vigil",
        }).encode())
    return out


# ---- the load generator (its own process) ------------------------------------------------------

async def generate(*, port: int, mode: str, concurrency: int, duration_s: float, request_timeout_s: float,
                   token: str, routing_key: str, dedup_keys: int) -> dict:
    loop = asyncio.get_running_loop()
    if mode == "webhook":
        requests = [build_request(port, WEBHOOK_PATH, body, token) for body in bodies("single")]
        expected_status, expected = 200, b'"alerts":1'
    else:
        requests = [build_request(port, ENQUEUE_PATH, body, None) for body in enqueue_bodies(routing_key, dedup_keys)]
        expected_status, expected = 202, b'"status":"success"'
    conns = []
    for _ in range(concurrency):
        _, conn = await asyncio.wait_for(loop.create_connection(lambda: Connection(loop), "127.0.0.1", port), 5)
        conns.append(conn)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if await loop.run_in_executor(None, sys.stdin.readline) != "go\n":
        return {"fatal": "no go"}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    started = time.perf_counter()
    deadline = started + duration_s
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)

    async def worker(index: int) -> None:
        conn, sent = conns[index], index * 97
        while time.perf_counter() < deadline:
            data = requests[sent % len(requests)]
            sent += 1
            try:
                status, body, keep_alive = await asyncio.wait_for(conn.request(data), request_timeout_s)
            except (ResponseError, TimeoutError) as exc:
                kind = getattr(exc, "kind", "timeout")
                errors[kind] = errors.get(kind, 0) + 1
                conn.abort()
                _, conn = await loop.create_connection(lambda: Connection(loop), "127.0.0.1", port)
                continue
            if status == expected_status and expected in body:
                latencies.append(time.perf_counter() - conn.sent_at)
            else:
                errors[f"http_{status}"] = errors.get(f"http_{status}", 0) + 1
            conn.sent_at = 0.0
            if not keep_alive:
                conn.abort()
                _, conn = await loop.create_connection(lambda: Connection(loop), "127.0.0.1", port)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    for conn in conns:
        conn.abort()
    lat = sorted(latencies)
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {
        "ok": len(lat), "errors": errors, "error_count": sum(errors.values()), "elapsed_s": round(elapsed, 3),
        "req_per_s": round(len(lat) / elapsed, 1),
        "latency_ms": {"p50": ms(percentile(lat, 50)), "p99": ms(percentile(lat, 99)), "max": ms(lat[-1] if lat else None)},
        "loadgen_cpu_s": round(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, 3),
    }


# ---- the orchestrator --------------------------------------------------------------------------

@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    kafka: LocalKafka | None = None
    postgres: LocalPostgres | None = None
    server: Child | None = None
    port: int = 0
    routing_key: str = ""
    children: list[Child] = field(default_factory=list)
    consumer: AIOKafkaConsumer | None = None

    def start_infrastructure(self) -> None:
        kafka_port, controller_port, pg_port = distinct_free_ports(3)
        self.kafka = LocalKafka(self.workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="512m")
        self.kafka.start(timeout_s=120)
        self.postgres = LocalPostgres(self.workdir / "postgres", port=pg_port, database="vigil")
        self.postgres.start(timeout_s=60)

    async def spawn(self, name: str, *argv: str, env: dict[str, str], capture: bool = False, stdin_pipe: bool = False) -> Child:
        return await start_child(self.children, name, *argv, log=self.workdir / f"{name}.log",
                                 env={"PYTHONPATH": str(REPO), **env}, cwd=REPO, capture=capture, stdin_pipe=stdin_pipe)

    async def start_ingest(self) -> None:
        self.port = free_port()
        self.server = await self.spawn("server-ingest", PYTHON, "-m", "bench.serve", "ingest", "--port", str(self.port), env={
            "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers, "VIGIL_INGEST_TOKENS": self.token,
            "VIGIL_DATABASE_URL": self.postgres.url, "VIGIL_API_TOKENS": f"{self.admin_token}:admin",
            "VIGIL_LOG_LEVEL": "info", "VIGIL_LOG_FORMAT": "json", "VIGIL_HOST": "127.0.0.1",
        })
        base = f"http://127.0.0.1:{self.port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 90
            made = None
            while made is None or made.status_code != 201:
                if time.monotonic() > deadline or self.server.proc.returncode is not None:
                    raise RuntimeError(f"ingest did not start with its database; see {self.server.log}")
                await asyncio.sleep(0.3)
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        made = await client.post("/api/v1/integration-keys", json={"name": "bench", "service": "bench"},
                                                 headers={"Authorization": f"Bearer {self.admin_token}"})
            self.routing_key = made.json()["key"]
            check = await client.post(ENQUEUE_PATH, content=enqueue_bodies(self.routing_key, 1)[0])
            if check.status_code != 202:
                raise RuntimeError(f"preflight /v2/enqueue: {check.status_code} {check.text[:300]}")

    async def on_broker(self) -> int:
        topic = Topic.ALERTS
        partitions = self.consumer.partitions_for_topic(topic)
        if not partitions:
            await self.consumer._client.force_metadata_update()  # noqa: SLF001 - a new topic's metadata
            partitions = self.consumer.partitions_for_topic(topic) or set()
        return sum((await self.consumer.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])).values())

    async def step(self, mode: str, concurrency: int, *, duration_s: float | None = None) -> dict:
        duration_s = duration_s or self.args.duration
        before = await self.on_broker()
        gen = await self.spawn("loadgen", PYTHON, "-m", "bench.events_v2_load", "loadgen", "--port", str(self.port),
                               "--mode", mode, "--concurrency", str(concurrency), "--duration", str(duration_s),
                               "--dedup-keys", str(self.args.dedup_keys),
                               env={"BENCH_TOKEN": self.token, "BENCH_ROUTING_KEY": self.routing_key},
                               capture=True, stdin_pipe=True)
        try:
            if await asyncio.wait_for(gen.proc.stdout.readline(), 60) != b"ready\n":
                raise RuntimeError(f"load generator did not start; see {gen.log}")
            cpu0 = (cpu_seconds(self.server.pid), cpu_seconds(self.kafka.pid), tree_cpu_seconds(self.postgres.pid))
            busy0, _steal0, total0 = machine_busy()
            wall0 = time.monotonic()
            gen.proc.stdin.write(b"go\n")
            await gen.proc.stdin.drain()
            out = await asyncio.wait_for(gen.proc.stdout.read(), duration_s + 60)
            wall = time.monotonic() - wall0
            cpu1 = (cpu_seconds(self.server.pid), cpu_seconds(self.kafka.pid), tree_cpu_seconds(self.postgres.pid))
            busy1, _steal1, total1 = machine_busy()
        finally:
            await gen.stop()
            self.children.remove(gen)
        result = json.loads(out)
        await asyncio.sleep(0.5)
        grown = await self.on_broker() - before
        pct = lambda i: None if cpu0[i] is None or cpu1[i] is None else round(100 * (cpu1[i] - cpu0[i]) / wall, 1)  # noqa: E731
        server_cpu = None if cpu0[0] is None or cpu1[0] is None else cpu1[0] - cpu0[0]
        result.update(mode=mode, concurrency=concurrency, broker_messages=grown,
                      # every event answered 2xx is on the broker; a failed request may have put its event there too
                      verified=result["ok"] <= grown <= result["ok"] + result["error_count"],
                      cpu_pct={"server": pct(0), "broker": pct(1), "postgres": pct(2),
                               "loadgen": round(100 * result["loadgen_cpu_s"] / wall, 1),
                               "machine": round(100 * os.cpu_count() * (busy1 - busy0) / max(total1 - total0, 1), 1)},
                      server_cpu_us_per_request=round(1e6 * server_cpu / result["ok"], 1) if server_cpu and result["ok"] else None)
        return result

    async def run(self) -> dict:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        Path(self.args.results_dir).mkdir(parents=True, exist_ok=True)
        print(f"starting Kafka and PostgreSQL (data in {self.workdir}) ...", flush=True)
        await asyncio.to_thread(self.start_infrastructure)
        await self.start_ingest()
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka.bootstrap_servers, enable_auto_commit=False)
        await self.consumer.start()
        print(f"ingest :{self.port} (pid {self.server.pid}) with PostgreSQL {self.postgres.url}", flush=True)
        if self.args.warmup:  # both paths warm; the first round of dedup keys inserts their rows
            for mode in MODES:
                await self.step(mode, 16, duration_s=3.0)
        steps = []
        for i, concurrency in enumerate(self.args.concurrency):
            for mode in (MODES if i % 2 == 0 else tuple(reversed(MODES))):
                result = await self.step(mode, concurrency)
                steps.append(result)
                print("  " + step_line(result), flush=True)
        return {"benchmark": "events_v2_load", "started_at": stamp,
                "config": {"duration_s": self.args.duration, "concurrency": list(self.args.concurrency),
                           "dedup_keys": self.args.dedup_keys, "cpus": os.cpu_count(),
                           "server": "ingest, uvicorn 1 worker, uvloop, httptools; Kafka 1 node; PostgreSQL local"},
                "steps": steps, "all_verified": all(s["verified"] and s["error_count"] == 0 for s in steps)}

    async def cleanup(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                await child.stop()
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.consumer.stop(), 10)
        for server in (self.kafka, self.postgres):
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(server.stop)


def step_line(s: dict) -> str:
    lat = s["latency_ms"]
    return (f"{s['mode']:<9} c={s['concurrency']:<3} {s['req_per_s']:>8,.0f} req/s  p50 {lat['p50']} ms  p99 {lat['p99']} ms  "
            f"errors {s['error_count']}  on broker {s['broker_messages']:,}/{s['ok']:,}  cpu server {s['cpu_pct']['server']}% "
            f"({s['server_cpu_us_per_request']} µs/request) postgres {s['cpu_pct']['postgres']}% broker {s['cpu_pct']['broker']}% "
            f"machine {s['cpu_pct']['machine']}%")


def print_table(results: dict) -> None:
    print(f"\nEvents v2 beside the Alertmanager webhook — {results['config']['cpus']} CPUs, "
          f"{results['config']['duration_s']} s per step, {results['started_at']}")
    print("| c | endpoint | req/s | p50 ms | p99 ms | errors | on broker | server CPU | µs server CPU/request | PostgreSQL CPU | broker CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in sorted(results["steps"], key=lambda s: (s["concurrency"], s["mode"])):
        name = "webhook (1 alert)" if s["mode"] == "webhook" else "/v2/enqueue (trigger)"
        print(f"| {s['concurrency']} | {name} | {s['req_per_s']:,.0f} | {s['latency_ms']['p50']} | {s['latency_ms']['p99']} | "
              f"{s['error_count']} | {s['broker_messages']:,}/{s['ok']:,} | {s['cpu_pct']['server']}% | "
              f"{s['server_cpu_us_per_request']} | {s['cpu_pct']['postgres']}% | {s['cpu_pct']['broker']}% |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.events_v2_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("role", nargs="?", default="bench", choices=("bench", "loadgen"))
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per step")
    parser.add_argument("--concurrency", type=lambda v: tuple(int(x) for x in v.split(",")), default=DEFAULT_CONCURRENCY)
    parser.add_argument("--dedup-keys", type=int, default=1000, help="distinct dedup keys the triggers cycle through")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s steps, concurrency 1 and 16")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    # the load generator's own options
    parser.add_argument("--port", type=int)
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--request-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.concurrency = 2.0, (1, 16)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "loadgen":
        result = asyncio.run(generate(
            port=args.port, mode=args.mode, concurrency=args.concurrency[0], duration_s=args.duration,
            request_timeout_s=args.request_timeout, token=os.environ["BENCH_TOKEN"],
            routing_key=os.environ["BENCH_ROUTING_KEY"], dedup_keys=args.dedup_keys))
        print(json.dumps(result))
        return 0

    async def amain() -> int:
        return await run_and_save(
            lambda workdir: Bench(args, workdir), name="events-v2", results_dir=Path(args.results_dir),
            print_table=print_table, stopping="ingest, PostgreSQL and the broker", logs_of="ingest, the broker and PostgreSQL",
            checks_passed=lambda results: results["all_verified"],
            failed="an event answered 2xx missing from the broker, or a request failed", check_targets=False,
        )

    return run_main(amain)


if __name__ == "__main__":
    sys.exit(main())
