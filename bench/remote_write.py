"""Prometheus remote-write into the SLO service: `python -m bench.remote_write` (`--quick` for a smoke run).

Starts its own Kafka broker and PostgreSQL (free ports, data in a temp dir, removed on exit), the
SLO service as deployed (`python -m services.slo`, its own process) with one SLO whose `total` and
`bad` selectors select all `--series` series (10,000: six labels each, like node/app exporters'),
and Debian's `prometheus` with `--web.enable-remote-write-receiver` on the same machine.

The same snappy WriteRequests (`--per-request` samples each, one sample per series and round, as a
scrape's samples arrive; encoded before anything is timed) are sent to both, `--concurrency`
requests in flight (Prometheus' queue shards). Round 1 creates the series (not timed: new series
cost label parsing and selector matching once); rounds 2..`--rounds` are the steady state, timed.

Measured for each receiver: samples/s (steady rounds' samples ÷ their wall time), CPU per sample
(the receiver process's user+system CPU over those rounds ÷ samples; its inverse, samples per CPU
second, is the rate of one process with a core to itself) and memory per active series (the
process's RSS after round 1 minus before it, ÷ series). The machine's load average is recorded:
on a shared machine the wall-clock rates say more about the load than about the receivers. Checked for Vigil: the minute
buckets' requests and errors equal the increases sent (every sample folded once).
`--profile` samples the SLO process with py-spy during the timed rounds
(bench/results/profile-remote-write-*.txt; `python -m bench.profile_summary FILE`; py-spy's own CPU
shares the machine, so the figures of such a run are not comparable).
Writes JSON to bench/results/. Exit 0 when the checks passed, 3 with --check-targets when the
200,000 samples/s target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from bench.harness import REPO, Child, cpu_seconds, distinct_free_ports, start_child
from services.slo.series.remote_write import encode_write_request
from shared.local.kafka_broker import LocalKafka
from shared.local.postgres_server import LocalPostgres

TARGET_PER_S = 200_000
TOKEN = "bench-remote-write-token-000001"
SCRAPE_MS = 15_000
HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf", "X-Prometheus-Remote-Write-Version": "0.1.0"}
CONFIG = """
slos:
  - {name: availability, title: Availability, service: bench, indicator: success_ratio, target: 0.999,
     total: 'bench_requests_total{job="bench"}', bad: 'bench_requests_total{job="bench",code=~"5.."}'}
"""


def series_labels(n: int) -> list[dict[str, str]]:
    return [{"__name__": "bench_requests_total", "job": "bench", "instance": f"10.0.{i // 250}.{i % 250}:9100",
             "path": f"/api/v{i % 7}/items/{i % 13}", "method": ("GET", "POST", "PUT")[i % 3],
             "code": "500" if i % 10 == 0 else "200"} for i in range(n)]


def increment(i: int) -> int:
    return 1 if i % 10 == 0 else 1 + i % 5


def bodies(labels: list[dict[str, str]], *, rounds: int, per_request: int, t0_ms: int) -> list[list[bytes]]:
    """Per round, the WriteRequests of one sample per series (counter i at round r: 1000 + r × increment(i))."""
    out = []
    for r in range(rounds):
        t = t0_ms + r * SCRAPE_MS
        out.append([encode_write_request([(labels[i], [(t, float(1000 + r * increment(i)))])
                                          for i in range(s, min(s + per_request, len(labels)))])
                    for s in range(0, len(labels), per_request)])
    return out


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def send(url: str, rounds: list[list[bytes]], *, concurrency: int, headers: dict) -> None:
    """Every request of `rounds`, `concurrency` at a time; a block of series always goes through the
    same sender, in round order (Prometheus' shards are per series: each series stays in order)."""
    shards: list[list[bytes]] = [[] for _ in range(concurrency)]
    for requests in rounds:
        for block, body in enumerate(requests):
            shards[block % concurrency].append(body)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as http:
        async def shard(bodies: list[bytes]) -> None:
            for body in bodies:
                for _attempt in range(5):
                    r = await http.post(url, content=body, headers=headers)
                    if r.status_code < 500:
                        break
                    await asyncio.sleep(0.2)
                if r.status_code >= 300:
                    raise RuntimeError(f"{url} answered {r.status_code}: {r.text[:200]}")
        await asyncio.gather(*(shard(s) for s in shards))


async def wait_ready(url: str, child: Child, *, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if child.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} did not become ready; see {child.log}")
            await asyncio.sleep(0.2)


async def start_profiler(child: Child, children: list[Child], workdir: Path) -> tuple[Child, Path]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = REPO / "bench" / "results" / f"profile-remote-write-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.txt"
    out.parent.mkdir(exist_ok=True)
    profiler = await start_child(children, "py-spy", py_spy, "record", "--pid", str(child.pid), "--rate", "250", "--format", "raw",
                                 "--nonblocking", "--full-filenames", "-o", str(out), log=workdir / "py-spy.log", cwd=REPO, env={})
    await asyncio.sleep(1)  # attached
    return profiler, out


async def stop_profiler(profiler: Child, out: Path) -> None:
    """py-spy writes its file when interrupted."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(profiler.pid, signal.SIGINT)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(profiler.proc.wait(), 30)
    print(f"profile: {out.relative_to(REPO)} (python -m bench.profile_summary {out.relative_to(REPO)})", flush=True)


async def measure(name: str, url: str, child: Child, rounds: list[list[bytes]], *, series: int, concurrency: int,
                  headers: dict, profile: tuple[list[Child], Path] | None = None) -> dict:
    rss_before = rss_bytes(child.pid)
    await send(url, rounds[:1], concurrency=concurrency, headers=headers)
    await asyncio.sleep(1)
    rss_after = rss_bytes(child.pid)
    samples = series * (len(rounds) - 1)
    profiler = await start_profiler(child, *profile) if profile else None
    cpu0, started = cpu_seconds(child.pid), time.perf_counter()
    await send(url, rounds[1:], concurrency=concurrency, headers=headers)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(child.pid) - cpu0
    if profiler:
        await stop_profiler(*profiler)
    result = {"receiver": name, "samples": samples, "seconds": round(seconds, 3), "samples_per_s": round(samples / seconds),
              "cpu_us_per_sample": round(cpu / samples * 1e6, 3), "cpu_s": round(cpu, 2),
              "samples_per_cpu_s": round(samples / cpu) if cpu else None, "busy_fraction": round(cpu / seconds, 2),
              "memory_bytes_per_series": round((rss_after - rss_before) / series), "rss_after_mb": round(rss_after / 2**20, 1)}
    print(f"{name}: {samples:,} samples in {seconds:.2f} s = {result['samples_per_s']:,} samples/s (process busy {result['busy_fraction']:.0%} "
          f"of the time; {result['samples_per_cpu_s']:,} samples per CPU second); CPU {result['cpu_us_per_sample']} µs/sample; "
          f"memory {result['memory_bytes_per_series']:,} bytes per active series (RSS {result['rss_after_mb']} MB)", flush=True)
    return result


async def run(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-remote-write-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own user when we are root
    kafka_port, controller_port, pg_port, slo_port, prom_port = distinct_free_ports(5)
    kafka = LocalKafka(workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="512m")
    postgres = LocalPostgres(workdir / "postgres", port=pg_port)
    children: list[Child] = []
    labels = series_labels(args.series)
    now_ms = int(time.time() * 1000)
    rounds = bodies(labels, rounds=args.rounds, per_request=args.per_request, t0_ms=now_ms - args.rounds * SCRAPE_MS)
    print(f"encoded {sum(map(len, rounds)):,} requests of {args.per_request:,} samples "
          f"({sum(len(b) for r in rounds for b in r) / sum(map(len, rounds)) / 1024:.1f} KiB each)", flush=True)
    results: dict = {"started_at": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), "series": args.series, "rounds": args.rounds,
                     "per_request": args.per_request, "concurrency": args.concurrency, "cpus": os.cpu_count(),
                     "load_average_1m_at_start": os.getloadavg()[0]}
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (wall-clock rates are shared with that load)", flush=True)
    try:
        kafka.start()
        postgres.start()
        config = workdir / "slos.yaml"
        config.write_text(CONFIG)
        slo = await start_child(
            children, "slo", sys.executable, "-m", "services.slo", log=workdir / "slo.log", cwd=REPO,
            env={"PYTHONPATH": str(REPO), "VIGIL_LOG_LEVEL": "warning", "VIGIL_LOG_FORMAT": "json", "VIGIL_SLO_PORT": str(slo_port),
                 "VIGIL_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "VIGIL_DATABASE_URL": postgres.url,
                 "VIGIL_API_TOKENS": f"{TOKEN}:responder", "VIGIL_SLO_CONFIG_FILE": str(config),
                 "VIGIL_SLO_MAX_BODY_BYTES": str(8 * 2**20), "VIGIL_OTEL_TRACES_EXPORTER": "none"},
        )
        await wait_ready(f"http://127.0.0.1:{slo_port}/readyz", slo)
        vigil = await measure("vigil", f"http://127.0.0.1:{slo_port}/api/v1/write", slo, rounds, series=args.series,
                              concurrency=args.concurrency, headers={**HEADERS, "Authorization": f"Bearer {TOKEN}"},
                              profile=(children, workdir) if args.profile else None)
        conn = await asyncpg.connect(postgres.url)
        try:
            row = await conn.fetchrow("SELECT sum(requests) AS requests, sum(errors) AS errors FROM slo.minute_bucket WHERE service = 'bench'")
        finally:
            await conn.close()
        expected_requests = sum(increment(i) for i in range(args.series)) * (args.rounds - 1)
        expected_errors = sum(increment(i) for i in range(args.series) if i % 10 == 0) * (args.rounds - 1)
        vigil["sums_ok"] = (row["requests"], row["errors"]) == (expected_requests, expected_errors)
        print(f"vigil: buckets hold {int(row['requests']):,} requests and {int(row['errors']):,} errors "
              f"(sent {expected_requests:,} and {expected_errors:,}): {'ok' if vigil['sums_ok'] else 'WRONG'}", flush=True)
        await slo.stop()
        results["vigil"] = vigil

        prometheus_bin = shutil.which("prometheus")
        if prometheus_bin:
            (workdir / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
            prom = await start_child(
                children, "prometheus", prometheus_bin, f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'prometheus'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                "--web.enable-remote-write-receiver", log=workdir / "prometheus.log", cwd=workdir, env={},
            )
            await wait_ready(f"http://127.0.0.1:{prom_port}/-/ready", prom)
            results["prometheus"] = await measure("prometheus", f"http://127.0.0.1:{prom_port}/api/v1/write", prom, rounds,
                                                  series=args.series, concurrency=args.concurrency, headers=HEADERS)
        else:
            print("prometheus not installed (bash scripts/setup.sh): no comparison", flush=True)
    finally:
        for child in children:
            await child.stop()
        postgres.stop()
        kafka.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results["target"] = {"samples_per_s": TARGET_PER_S, "met": results["vigil"]["samples_per_s"] >= TARGET_PER_S}
    out = REPO / "bench" / "results" / f"remote_write-{results['started_at']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out.relative_to(REPO)}")
    if not results["vigil"]["sums_ok"]:
        return 1
    return 3 if args.check_targets and not results["target"]["met"] else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=31, help="one sample per series each; the first is not timed")
    parser.add_argument("--per-request", type=int, default=2000, help="samples per WriteRequest (Prometheus' max_samples_per_send)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (Prometheus' shards)")
    parser.add_argument("--quick", action="store_true", help="2,000 series, 6 rounds")
    parser.add_argument("--check-targets", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy the SLO process during the timed rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.series, args.rounds = 2000, 6
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
