"""The console benchmark (issue 19): `python -m bench.console`.

With 100,000 incidents and 1,000,000 timeline rows in the incident service's database (COPY,
bench/console_seed.py), signed in as a person: how long the console takes to answer the incident
list (the open list, the list of all with a text filter) and an incident page (a typical timeline,
one of hundreds of entries), one request after another and a few at once, beside the incident
service's (and escalator's) own API time for the same calls; then, with 200 browsers' live streams
open, how long after an incident change is on Kafka each browser gets the `incident` message and
the rows it shows (sent in the stream, or fetched when the stream says `refresh`; bench/console_load.py).

Real parts: a Kafka broker and PostgreSQL on free ports in a temp dir (or the ones given, for the
smoke test), the services as processes (bench/console_serve.py: what `python -m services.<name>` runs).
The stack and measurements: bench/console_stack.py.
Results: bench/results/console-<time>.json; `--check-targets` exits 3 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.console_stack import PARTITIONS, RESULTS_DIR, ConsoleBench, Options
from bench.harness import distinct_free_ports, run_and_save, run_main
from shared.local.kafka_broker import LocalKafka
from shared.local.postgres_server import LocalPostgres

__all__ = ["ConsoleBench", "Options", "describe", "main"]

# ---- standalone: its own broker and PostgreSQL ------------------------------------------------


@dataclass
class Standalone:
    """A broker and PostgreSQL of the benchmark's own in `workdir` (harness.run_and_save)."""

    workdir: Path
    options: Options

    def __post_init__(self) -> None:
        kafka_port, controller_port, pg_port = distinct_free_ports(3)
        self.kafka = LocalKafka(self.workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="768m",
                                partitions=PARTITIONS)
        self.postgres = LocalPostgres(self.workdir / "postgres", port=pg_port, database="vigil")
        self.started: list[str] = []
        self.bench: ConsoleBench | None = None

    def _start_servers(self) -> None:
        self.kafka.start(timeout_s=120)
        self.started.append("kafka")
        self.postgres.start(timeout_s=60)
        self.started.append("postgres")

    async def run(self) -> dict:
        # Shielded: if interrupted meanwhile, the start finishes and cleanup() stops what it started.
        await asyncio.shield(asyncio.ensure_future(asyncio.to_thread(self._start_servers)))
        self.bench = ConsoleBench(workdir=self.workdir, bootstrap=self.kafka.bootstrap_servers, admin_url=self.postgres.url,
                                  options=self.options, progress=lambda line: print(line, flush=True))
        return await self.bench.run()

    async def cleanup(self) -> None:
        if self.bench is not None:
            await self.bench.close()
        for name, stop in (("postgres", self.postgres.stop), ("kafka", self.kafka.stop)):
            if name in self.started:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(stop)


def describe(results: dict) -> str:
    """The run as a table: each page's console and API percentiles, then the live streams."""
    o, seeded, live = results["options"], results["seeded"], results["live"]
    lines = [(f"seeded {seeded['incidents']:,} incidents ({seeded['open']} open), {seeded['timeline_rows']:,} timeline rows, "
             f"{seeded['alerts']:,} alerts in {seeded['seconds']['total']} s {seeded['seconds']}"),
             f"{'page':<34} {'who':<12} {'c':>2} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  ms   CPU ms/request"]
    for kind, row in results["pages"].items():
        for key in sorted(k for k in row if k[-3:-1] == "_c" or k.rsplit("_c", 1)[-1].isdigit()):
            who, c = key.rsplit("_c", 1)
            v = row[key]
            cpu = " ".join(f"{n} {ms}" for n, ms in v.get("cpu_ms_per_request", {}).items())
            lines.append(f"{kind[:34]:<34} {who:<12} {c:>2} {v['p50']:>7} {v['p95']:>7} {v['p99']:>7} {v['max']:>7}  "
                         f"{cpu}{'  load ' + v['loadavg'] if 'loadavg' in v else ''}")
    r, s = live["sse_received"], live["rows_shown"]
    lines += [(f"live: {live['clients']} streams, {live['events_seen_on_kafka']}/{live['events_produced']} changes on Kafka, "
              f"{live['pairs'] - live['missing']}/{live['pairs']} (change, browser) pairs delivered, "
              f"{live['clients_with_every_event']}/{live['clients']} browsers got every change, "
              f"{live['received_via_reconnect']} on a reconnect, {live['connections']} connections, {live['errors']} errors "
              f"(load {live['loadavg']})"),
              f"  Kafka → `incident` message: p50 {r['p50']} p95 {r['p95']} p99 {r['p99']} max {r['max']} ms",
              (f"  Kafka → rows shown (sent in the stream; fetched after a `refresh`): p50 {s['p50']} p95 {s['p95']} "
               f"p99 {s['p99']} max {s['max']} ms ({s['count']} shown)"),
              "  CPU during the changes, s: " + " ".join(f"{n} {v / 1000:.2f}" for n, v in
                                                        live.get("cpu_s_during_changes", {}).items())]
    lines += [f"target {name}: {t['measured_ms']} ms — {'met' if t['met'] else 'NOT met'}"
              for name, t in results["targets"].items()]
    return "\n".join(lines) + f"\nload average at the end: {results['machine']['loadavg_end']} (options: {o})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Options()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--incidents", type=int, default=defaults.incidents)
    p.add_argument("--timeline-rows", type=int, default=defaults.timeline_rows)
    p.add_argument("--sse-clients", type=int, default=defaults.sse_clients, help="browsers' live streams held open")
    p.add_argument("--requests", type=int, default=defaults.requests, help="requests per page and concurrency")
    p.add_argument("--concurrency", type=int, default=defaults.concurrency, help="the concurrent run's requests at a time")
    p.add_argument("--events", type=int, default=defaults.events, help="incident changes during the live streams")
    p.add_argument("--event-interval-s", type=float, default=defaults.event_interval_s, help="mean time between changes")
    p.add_argument("--live-stream-s", type=float, default=defaults.live_stream_s,
                   help="the console's VIGIL_CONSOLE_LIVE_STREAM_S (streams end and reconnect)")
    p.add_argument("--sse-ramp-s", type=float, default=None, help="open the streams over this long (default: --live-stream-s)")
    p.add_argument("--no-escalator", dest="escalator", action="store_false",
                   help="without the escalator (the incident page then says it is not connected)")
    p.add_argument("--profile", action="store_true",
                   help="py-spy the console and the incident service during the page runs (bench/results/profile-console-*)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--results-dir", default=str(RESULTS_DIR))
    p.add_argument("--check-targets", action="store_true", help="exit 3 when a target is missed")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = {f for f in Options.__dataclass_fields__} - {"log_level"}
    options = Options(**{k: v for k, v in vars(args).items() if k in names})
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)

    def make(workdir: Path) -> Standalone:
        return Standalone(workdir, options)

    return run_main(lambda: run_and_save(
        make, name="console", results_dir=results_dir, print_table=lambda r: print("\n" + describe(r)),
        stopping="the services, the broker and PostgreSQL", logs_of="the services",
        checks_passed=lambda r: r["live"]["missing"] == 0 and r["live"]["errors"] == 0,
        failed="a browser did not hear of a change (or a stream failed)", check_targets=args.check_targets))


if __name__ == "__main__":
    sys.exit(main())
