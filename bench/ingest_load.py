"""Ingest load benchmark: `python -m bench.ingest_load` (what `make bench` runs).

Starts its own Kafka broker (KRaft, free ports, data in a temp dir), the real ingest app and the
ceiling app (bench/ceiling_app.py), each under uvicorn (1 worker, uvloop, httptools) in its own
process, then drives both with the load generator (bench/loadgen.py, a third process) for every
payload shape and concurrency level, interleaving ingest and ceiling step by step so both see the
same machine conditions. After every step it compares the growth of the topic's end offsets with
the number of alerts answered 200: every acknowledged alert must be on the broker.

Prints a table and writes the full results as JSON to bench/results/ (git-ignored). Everything
listens on 127.0.0.1 only; every wait is bounded; the broker, the servers and the load generator
are stopped and the temp dir removed on exit, on error and on Ctrl-C/SIGTERM.

Exit status: 0 when every step ran and every acknowledged alert was found on the broker; 1 when
that verification failed or a step could not run; 3 with --check-targets when a target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench.ceiling_app import CEILING_TOPIC
from bench.harness import (
    REPO,
    Child,
    cpu_seconds,
    distinct_free_ports,
    run_and_save,
    run_main,
    start_child,
)
from bench.loadgen import WEBHOOK_PATH
from bench.payloads import ALERTS_PER_PAYLOAD, SHAPES, bodies
from shared.events import Topic
from shared.local.kafka_broker import LocalKafka, free_port

RESULTS_DIR = REPO / "bench" / "results"
PYTHON = sys.executable

APPS = ("ingest", "ceiling")
TOPICS = {"ingest": Topic.ALERTS, "ceiling": CEILING_TOPIC, "ingest-b": Topic.ALERTS}


def kind(app: str) -> str:
    """Which server an app runs: "ingest-b" is ingest from --compare-tree."""
    return "ingest" if app.startswith("ingest") else app
DEFAULT_CONCURRENCY = (1, 4, 16, 64)

# The targets, on the 2-core machine, at concurrency 16.
TARGET_CONCURRENCY = 16
TARGET_SINGLE_REQ_S = 2_500
TARGET_BATCH_ALERTS_S = 25_000
TARGET_P99_MS = 50.0
TARGET_PCT_OF_CEILING = 80.0
# A popular Python alert receiver (Alerta) on the same shapes, for reference.
ALERTA_REFERENCE = {"single_req_s": 125, "batch50_alerts_s": 450}


def machine_busy() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of the whole machine, from /proc/stat. Steal is time the
    hypervisor gave these virtual CPUs to someone else: high steal means a slower machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    idle = values[3] + values[4]
    steal = values[7] if len(values) > 7 else 0
    return total - idle - steal, steal, total


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    kafka: LocalKafka | None = None
    servers: dict[str, Child] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    consumer: AIOKafkaConsumer | None = None
    broker_pid: int | None = None
    broker_start: asyncio.Future | None = None

    # ---- processes -------------------------------------------------------------------------

    async def spawn(self, name: str, *argv: str, env: dict[str, str] | None = None, log: Path | None = None,
                    capture: bool = False, stdin_pipe: bool = False, cwd: Path = REPO) -> Child:
        return await start_child(self.children, name, *argv, log=log or self.workdir / f"{name}.log",
                                 env={"PYTHONPATH": str(REPO), **(env or {})}, cwd=cwd, capture=capture,
                                 stdin_pipe=stdin_pipe)

    def start_broker(self) -> None:
        port, controller_port = distinct_free_ports(2)
        self.kafka = LocalKafka(
            self.workdir / "kafka", port=port, controller_port=controller_port, heap=self.args.broker_heap
        )
        self.kafka.start(timeout_s=120)
        self.broker_pid = self.kafka.pid

    async def start_server(self, app: str) -> None:
        port = free_port()
        tree = self.args.compare_tree if app == "ingest-b" else self.args.server_tree
        env = {
            "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "VIGIL_INGEST_TOKENS": self.token,
            "VIGIL_LOG_LEVEL": "info",
            "VIGIL_LOG_FORMAT": "json",
            "VIGIL_HOST": "127.0.0.1",
        }
        cwd = REPO
        if tree:
            # services/ and shared/ from that tree, bench/ from this one (A/B comparisons). Run in
            # the tree: `python -m` puts the working directory first on sys.path.
            cwd = Path(tree).resolve()
            env["PYTHONPATH"] = f"{cwd}{os.pathsep}{REPO}"
        child = await self.spawn(
            f"server-{app}", PYTHON, "-m", "bench.serve", kind(app), "--port", str(port), env=env, cwd=cwd
        )
        self.servers[app] = child
        self.ports[app] = port

    async def wait_ready(self, app: str, timeout_s: float = 90.0) -> None:
        child, url = self.servers[app], f"http://127.0.0.1:{self.ports[app]}/readyz"
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if child.proc.returncode is not None:
                    raise RuntimeError(f"{app} server exited with {child.proc.returncode}; see {child.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{app} server not ready after {timeout_s}s; see {child.log}")

    async def preflight(self, app: str) -> None:
        """One request of each shape through a regular HTTP client (httpx), and for ingest one
        without credentials, so the benchmark cannot be measuring a server that answers wrongly."""
        url = f"http://127.0.0.1:{self.ports[app]}{WEBHOOK_PATH}"
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=10.0) as client:
            for shape in self.args.shapes:
                response = await client.post(url, content=bodies(shape)[0], headers=headers)
                if response.status_code != 200 or response.json().get("alerts") != ALERTS_PER_PAYLOAD[shape]:
                    raise RuntimeError(f"{app} preflight {shape}: {response.status_code} {response.text[:300]}")
            if kind(app) == "ingest":
                response = await client.post(url, content=bodies("single")[0])
                if response.status_code != 401:
                    raise RuntimeError(f"ingest accepted a request without credentials ({response.status_code})")

    # ---- broker offsets --------------------------------------------------------------------

    async def open_consumer(self) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka.bootstrap_servers, enable_auto_commit=False)
        await self.consumer.start()

    async def end_offset_total(self, topic: str) -> int:
        """Messages on `topic`: the sum of its partitions' end offsets (it starts empty)."""
        partitions = self.consumer.partitions_for_topic(topic)
        if not partitions:
            await self.consumer._client.force_metadata_update()  # noqa: SLF001 - metadata of a new topic
            partitions = self.consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist on the benchmark broker")
        ends = await self.consumer.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])
        return sum(ends.values())

    # ---- one step --------------------------------------------------------------------------

    async def step(self, app: str, shape: str, concurrency: int, duration_s: float) -> dict:
        topic = TOPICS[app]
        server = self.servers[app]
        before = await self.end_offset_total(topic)
        loadgen = await self.spawn(
            "loadgen", PYTHON, "-m", "bench.loadgen",
            "--port", str(self.ports[app]), "--shape", shape, "--concurrency", str(concurrency),
            "--duration", str(duration_s), "--request-timeout", str(self.args.request_timeout), "--wait-go",
            env={"BENCH_TOKEN": self.token}, capture=True, stdin_pipe=True,
        )
        profiler = None
        try:
            # The load generator connects, says "ready", and starts on "go": CPU counters are read
            # in between, so they cover the measured window (plus its drain), not process start-up.
            ready = await asyncio.wait_for(loadgen.proc.stdout.readline(), 60)
            if ready != b"ready\n":
                raise RuntimeError(f"load generator did not start ({ready!r}); see {loadgen.log}")
            cpu0 = {"server": cpu_seconds(server.pid), "broker": cpu_seconds(self.broker_pid)}
            busy0, steal0, total0 = machine_busy()
            wall0 = time.monotonic()
            loadgen.proc.stdin.write(b"go\n")
            await loadgen.proc.stdin.drain()
            if self.args.profile and concurrency == TARGET_CONCURRENCY and duration_s >= 2:
                profiler = await self.start_profiler(app, server.pid, shape, duration_s)
            stdout = await asyncio.wait_for(loadgen.proc.stdout.read(), duration_s + self.args.request_timeout + 60)
            await asyncio.wait_for(loadgen.proc.wait(), 10)
            wall = time.monotonic() - wall0
            busy1, steal1, total1 = machine_busy()
            cpu1 = {"server": cpu_seconds(server.pid), "broker": cpu_seconds(self.broker_pid)}
        except TimeoutError:
            raise RuntimeError(f"load generator did not finish ({app} {shape} c={concurrency})") from None
        finally:
            await loadgen.stop()
            self.children.remove(loadgen)
        if profiler is not None:
            await asyncio.wait_for(profiler.proc.wait(), duration_s + 60)
            self.children.remove(profiler)
        if loadgen.proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({loadgen.proc.returncode}): {stdout[-500:]!r}; see {loadgen.log}")
        result = json.loads(stdout)
        # Every alert answered 200 must be on the broker: the topic must have grown by exactly that
        # many messages. A request that failed (503 after the produce deadline, or a client
        # timeout) may have put some of its alerts there too (at-least-once: Alertmanager retries
        # and consumers drop the duplicate ids), so wait until the count is stable, then classify.
        on_broker, stable_since = await self.end_offset_total(topic) - before, time.monotonic()
        for _ in range(40):
            if on_broker == result["alerts_ok"] and time.monotonic() - stable_since >= 0.2:
                break
            if time.monotonic() - stable_since >= 2.0:
                break
            await asyncio.sleep(0.1)
            count = await self.end_offset_total(topic) - before
            if count != on_broker:
                on_broker, stable_since = count, time.monotonic()
        failed_alerts = result["error_count"] * ALERTS_PER_PAYLOAD[shape]
        result.update(
            app=app,
            topic=topic,
            broker_messages=on_broker,
            verified=on_broker == result["alerts_ok"],
            lost=max(0, result["alerts_ok"] - on_broker),
            extra=max(0, on_broker - result["alerts_ok"]),
            # No loss, and nothing on the broker that no request (even a failed one) sent.
            consistent=result["alerts_ok"] <= on_broker <= result["alerts_ok"] + failed_alerts,
            cpu_pct={
                name: None if cpu0[name] is None or cpu1[name] is None else round(100 * (cpu1[name] - cpu0[name]) / wall, 1)
                for name in cpu0
            }
            | {
                "loadgen": round(100 * result["loadgen_cpu_s"] / wall, 1),
                "machine": round(100 * os.cpu_count() * (busy1 - busy0) / max(total1 - total0, 1), 1),
                "steal": round(100 * os.cpu_count() * (steal1 - steal0) / max(total1 - total0, 1), 1),
            },
        )
        server_cpu_s = None if cpu0["server"] is None or cpu1["server"] is None else cpu1["server"] - cpu0["server"]
        result["server_cpu_us_per_alert"] = (
            round(1e6 * server_cpu_s / result["alerts_ok"], 1) if server_cpu_s is not None and result["alerts_ok"] else None
        )
        # CPU used by anything else on the machine meanwhile (other work shares these 2 cores).
        ours = sum(v for k, v in result["cpu_pct"].items() if k not in ("machine", "steal") and v is not None)
        result["cpu_pct"]["other"] = round(max(0.0, result["cpu_pct"]["machine"] - ours), 1)
        return result

    async def start_profiler(self, app: str, pid: int, shape: str, duration_s: float) -> Child | None:
        py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        if not Path(py_spy).exists():
            print("  (--profile: py-spy not found; `pip install py-spy` into the venv)", file=sys.stderr)
            return None
        out = self.results_dir / f"profile-{app}-{shape}-{self.stamp}.txt"
        # Give the load generator a moment to connect, then sample the whole measured window.
        await asyncio.sleep(0.5)
        return await self.spawn(
            "py-spy", py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(duration_s) - 1)),
            "--rate", "250", "--format", "raw", "--nonblocking", "--full-filenames", "-o", str(out),
        )

    # ---- whole run -------------------------------------------------------------------------

    async def run(self) -> dict:
        args = self.args
        self.results_dir = Path(args.results_dir)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        print(f"starting Kafka broker (data in {self.workdir}) ...", flush=True)
        # In a thread, shielded: if interrupted, cleanup() waits for the start to finish and then
        # stops the broker, so it is never left running.
        self.broker_start = asyncio.ensure_future(asyncio.to_thread(self.start_broker))
        await asyncio.shield(self.broker_start)
        for app in args.apps:
            await self.start_server(app)
        for app in args.apps:
            await self.wait_ready(app)
            await self.preflight(app)
        await self.open_consumer()
        print(
            f"broker {self.kafka.bootstrap_servers}; "
            + ", ".join(f"{app} :{self.ports[app]} (pid {self.servers[app].pid})" for app in args.apps),
            flush=True,
        )
        steps: list[dict] = []
        warmups: list[dict] = []
        for shape in args.shapes:
            if args.warmup > 0:
                for app in args.apps:
                    warm = await self.step(app, shape, TARGET_CONCURRENCY, args.warmup)
                    warmups.append(warm)
            for i, concurrency in enumerate(args.concurrency):
                order = args.apps if i % 2 == 0 else tuple(reversed(args.apps))
                for app in order:
                    result = await self.step(app, shape, concurrency, args.duration)
                    steps.append(result)
                    print("  " + step_line(result), flush=True)
        return self.report(steps, warmups)

    def report(self, steps: list[dict], warmups: list[dict]) -> dict:
        by_key = {(s["app"], s["shape"], s["concurrency"]): s for s in steps}
        for s in steps:
            if kind(s["app"]) == "ingest" and ("ceiling", s["shape"], s["concurrency"]) in by_key:
                ceiling = by_key[("ceiling", s["shape"], s["concurrency"])]
                s["pct_of_ceiling"] = (
                    round(100 * s["alerts_per_s"] / ceiling["alerts_per_s"], 1) if ceiling["alerts_per_s"] else None
                )
                # The same comparison by server CPU per alert, which other load on the machine
                # disturbs much less than throughput.
                mine, best = s["server_cpu_us_per_alert"], ceiling["server_cpu_us_per_alert"]
                s["cpu_efficiency_pct_of_ceiling"] = round(100 * best / mine, 1) if mine and best else None
        return {
            "benchmark": "ingest_load",
            "started_at": self.stamp,
            "machine": machine_info(),
            "config": {
                "duration_s": self.args.duration,
                "warmup_s": self.args.warmup,
                "concurrency": list(self.args.concurrency),
                "shapes": list(self.args.shapes),
                "apps": list(self.args.apps),
                "request_timeout_s": self.args.request_timeout,
                "server": "uvicorn, 1 worker, uvloop, httptools, 127.0.0.1",
                "broker": f"Apache Kafka (KRaft, 1 node, heap {self.args.broker_heap}), 6 partitions per topic",
                "producer": "acks=all, enable_idempotence=True, linger_ms=0",
                "server_tree": self.args.server_tree,
                "compare_tree": self.args.compare_tree,
            },
            "steps": steps,
            "warmups": warmups,
            "all_verified": all(s["verified"] for s in steps + warmups),
            "no_loss": all(s["consistent"] for s in steps + warmups),
            "targets": evaluate_targets(by_key),
            "alerta_reference": ALERTA_REFERENCE,
        }

    async def cleanup(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                await child.stop()
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.consumer.stop(), 10)
        if self.broker_start is not None and not self.broker_start.done():
            await asyncio.wait([self.broker_start], timeout=150)
        if self.kafka is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.kafka.stop)


def machine_info() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "pydantic-core", "aiokafka",
                 "opentelemetry-sdk", "structlog", "prometheus-client"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[dist] = version(dist)
    from shared.local.kafka_broker import LIBS_DIR

    jars = sorted(p.name for p in LIBS_DIR.glob("kafka_2.13-*.jar"))
    if jars:
        versions["kafka"] = jars[0].removeprefix("kafka_2.13-").removesuffix(".jar")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_end": os.getloadavg(),
        "versions": versions,
    }


def evaluate_targets(by_key: dict) -> dict:
    c = TARGET_CONCURRENCY
    single, batch = by_key.get(("ingest", "single", c)), by_key.get(("ingest", "batch50", c))
    out: dict[str, dict] = {}

    def check(name: str, step: dict | None, value_key: str, minimum: float) -> None:
        if step is None:
            out[name] = {"met": None, "why": f"no ingest step at c={c}"}
            return
        p99 = step["latency_ms"]["p99"]
        met = (
            step[value_key] >= minimum and p99 is not None and p99 <= TARGET_P99_MS
            and step["error_count"] == 0 and step["verified"]
        )
        out[name] = {
            "met": met, value_key: step[value_key], "minimum": minimum, "p99_ms": p99,
            "p99_max_ms": TARGET_P99_MS, "errors": step["error_count"], "verified": step["verified"],
        }

    check("single_req_s", single, "req_per_s", TARGET_SINGLE_REQ_S)
    check("batch50_alerts_s", batch, "alerts_per_s", TARGET_BATCH_ALERTS_S)
    for shape, step in (("single", single), ("batch50", batch)):
        pct = step.get("pct_of_ceiling") if step else None
        out[f"{shape}_pct_of_ceiling"] = {
            "met": None if pct is None else pct >= TARGET_PCT_OF_CEILING, "pct": pct, "minimum": TARGET_PCT_OF_CEILING
        }
    return out


def step_line(s: dict) -> str:
    lat = s["latency_ms"]
    return (
        f"{s['app']:<8} {s['shape']:<8} c={s['concurrency']:<3} {s['req_per_s']:>9,.0f} req/s "
        f"{s['alerts_per_s']:>10,.0f} alerts/s  p50 {fmt_ms(lat['p50'])}  p99 {fmt_ms(lat['p99'])} ms  "
        f"errors {s['error_count']}  broker {broker_verdict(s)} "
        f"({s['broker_messages']:,}/{s['alerts_ok']:,})  cpu server {s['cpu_pct']['server']}% "
        f"broker {s['cpu_pct']['broker']}% loadgen {s['cpu_pct']['loadgen']}% other {s['cpu_pct']['other']}% steal {s['cpu_pct']['steal']}%"
    )


def broker_verdict(s: dict) -> str:
    if s["verified"]:
        return "yes"
    if s["consistent"]:
        return f"yes +{s['extra']} from failed requests"
    return f"NO: {s['lost']} lost" if s["lost"] else f"NO: {s['extra']} unexplained"


def fmt_ms(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.2f}"


def print_table(results: dict) -> None:
    steps = results["steps"]
    by_key = {(s["app"], s["shape"], s["concurrency"]): s for s in steps}
    apps = results["config"]["apps"]
    print()
    print(f"Ingest load benchmark — {results['machine']['cpus']} CPUs ({results['machine']['cpu_model']}), "
          f"{results['config']['duration_s']} s per step, {results['started_at']}")
    header = (
        "| shape | c | app | req/s | alerts/s | p50 ms | p99 ms | errors | on broker = answered 200 | "
        "server CPU | server CPU µs/alert | broker CPU | other + steal CPU | % of ceiling: alerts/s (CPU/alert) |"
    )
    print(header)
    print("|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|")
    for shape in results["config"]["shapes"]:
        for c in results["config"]["concurrency"]:
            for app in apps:
                s = by_key.get((app, shape, c))
                if s is None:
                    continue
                lat = s["latency_ms"]
                pct, eff = s.get("pct_of_ceiling"), s.get("cpu_efficiency_pct_of_ceiling")
                print(
                    f"| {shape} | {c} | {app} | {s['req_per_s']:,.0f} | {s['alerts_per_s']:,.0f} | "
                    f"{fmt_ms(lat['p50']).strip()} | {fmt_ms(lat['p99']).strip()} | {s['error_count']} | "
                    f"{broker_verdict(s)} ({s['broker_messages']:,}) | "
                    f"{s['cpu_pct']['server']}% | {s['server_cpu_us_per_alert']} | {s['cpu_pct']['broker']}% | "
                    f"{s['cpu_pct']['other']}% + {s['cpu_pct']['steal']}% | "
                    f"{'' if pct is None else f'{pct}%'}{'' if eff is None else f' ({eff}%)'} |"
                )
    print()
    names = {
        "single_req_s": f"1-alert payloads: ≥ {TARGET_SINGLE_REQ_S:,} req/s, p99 ≤ {TARGET_P99_MS:g} ms at c={TARGET_CONCURRENCY}",
        "batch50_alerts_s": f"50-alert payloads: ≥ {TARGET_BATCH_ALERTS_S:,} alerts/s, p99 ≤ {TARGET_P99_MS:g} ms at c={TARGET_CONCURRENCY}",
        "single_pct_of_ceiling": f"1-alert payloads: ≥ {TARGET_PCT_OF_CEILING:g}% of the ceiling at c={TARGET_CONCURRENCY}",
        "batch50_pct_of_ceiling": f"50-alert payloads: ≥ {TARGET_PCT_OF_CEILING:g}% of the ceiling at c={TARGET_CONCURRENCY}",
    }
    for key, label in names.items():
        t = results["targets"].get(key, {})
        met = t.get("met")
        verdict = "n/a" if met is None else ("MET" if met else "NOT MET")
        detail = ", ".join(f"{k}={v}" for k, v in t.items() if k not in ("met",))
        print(f"  target {label}: {verdict} ({detail})")
    print(f"  every alert answered 200 is on the broker (all steps and warm-ups): "
          f"{'yes' if results['no_loss'] else 'NO'}"
          + ("" if results["all_verified"] else " (with extra messages from requests that failed: at-least-once)"))
    ref = results["alerta_reference"]
    print(f"  reference: Alerta ~{ref['single_req_s']} req/s (1 alert), ~{ref['batch50_alerts_s']} alerts/s (50 alerts)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest_load", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per app and shape (c=16)")
    parser.add_argument("--concurrency", type=lambda v: tuple(int(x) for x in v.split(",")),
                        default=DEFAULT_CONCURRENCY, help="comma-separated connection counts")
    parser.add_argument("--shapes", type=lambda v: tuple(v.split(",")), default=SHAPES,
                        help="comma-separated payload shapes: single, batch50")
    parser.add_argument("--apps", type=lambda v: tuple(v.split(",")), default=APPS,
                        help="comma-separated servers to measure: ingest, ceiling")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s steps, 0.5 s warm-up, concurrency 1 and 16")
    parser.add_argument("--profile", action="store_true",
                        help="sample each server with py-spy during its c=16 steps (bench/results/profile-*.txt; "
                        "summarise with `python -m bench.profile_summary FILE`)")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="seconds before a request counts as an error")
    parser.add_argument("--broker-heap", default="512m", help="Kafka broker JVM heap")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--check-targets", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--compare-tree", default=None,
                        help="also run ingest from this directory as app 'ingest-b', interleaved step by step "
                        "with the others (A/B comparison in one run)")
    parser.add_argument("--server-tree", default=None,
                        help="run the servers' services/ and shared/ from this directory, e.g. an extracted "
                        "`git archive` of another commit, to compare before/after a change")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.concurrency = 2.0, 0.5, (1, TARGET_CONCURRENCY)
    args.concurrency = tuple(dict.fromkeys(args.concurrency))  # each level once
    for shape in args.shapes:
        if shape not in SHAPES:
            parser.error(f"unknown shape {shape!r}")
    for app in args.apps:
        if app not in APPS:
            parser.error(f"unknown app {app!r}")
    if args.compare_tree:
        if not (Path(args.compare_tree) / "services" / "ingest").is_dir():
            parser.error(f"--compare-tree {args.compare_tree} has no services/ingest")
        args.apps = (*args.apps, "ingest-b")
    if not 0 < args.duration <= 600 or not 0 <= args.warmup <= 600:
        parser.error("duration must be in (0, 600] s and warm-up in [0, 600] s")
    if not args.concurrency or any(not 1 <= c <= 1024 for c in args.concurrency):
        parser.error("concurrency levels must be 1..1024")
    return args


async def amain(args: argparse.Namespace) -> int:
    return await run_and_save(
        lambda workdir: Bench(args, workdir), name="ingest", results_dir=Path(args.results_dir),
        print_table=print_table, stopping="the servers and the broker",
        logs_of="the broker, servers and load generator",
        checks_passed=lambda results: results["no_loss"],
        failed="alerts answered 200 missing from the broker, or messages nobody sent",
        check_targets=args.check_targets,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: amain(args))


if __name__ == "__main__":
    sys.exit(main())
