"""Notifier benchmark (issue 18): delivery latency and throughput with a real broker, PostgreSQL, mail
sink and webhook receiver, each in its own process.

    python -m bench.notifier_load pages-to-smtp        # 200 pages/s for 60 s → the mail sink
    python -m bench.notifier_load pages-to-webhook     # 200 pages/s for 60 s → a webhook receiver
    python -m bench.notifier_load webhook-throughput   # a backlog of 30,000 pages → the webhook receiver
    python -m bench.notifier_load alert-to-mail        # 200 alerts/s for 60 s: ingest → … → the mail sink

`pages-to-*`: PageRequested events produced straight onto vigil.pages.v1 at `--rate` for
`--duration` s (open loop: each at its instant, whatever the notifier does), after a `--warmup-s`
load of the same kind. Each page is its own incident for the next person of a pool of `--people`
who each have one contact method of the scenario's kind (round robin: a person's next page comes
`--people` pages later, 50 s at the defaults, so no two pages of one person are due together and
nothing is bundled unless the notifier falls that far behind; a delivery carried by another's
message then counts with that message, and the bundles are reported), and VIGIL_NOTIFIER_THROTTLE is `email=none;webhook=none`, so no per-recipient limit holds anything back.
Latency = the page's event time (occurred_at, set when it is produced) → the peer accepted the
message (the mail sink's 250 to DATA, stamped on arrival, by Message-ID; the receiver's verified
arrival, by webhook-id), both on this machine's wall clock. The expected ids are the notifier's
deterministic delivery ids; an id arriving twice is a duplicate. CPU seconds per delivery are the
notifier's (and every other process's) from the first page produced to the last one delivered.

`webhook-throughput`: `--pages` pages produced as fast as the producer goes (pre-encoded, pipelined)
while the notifier runs: deliveries/s from the first to the last arrival and in the steady middle
(the 10th to the 90th percentile of arrivals).

`alert-to-mail`: ingest, incidents, escalator and notifier (each `python -m services.<name>`), with
an escalator configuration of `--schedules` schedules, each with its own primary and backup (people
with an e-mail address at the sink) and a route by the label `team`; the critical policy pages the
primary at once and does nothing more. One critical Alertmanager v4 webhook (the fixture of
bench/payloads.py, its own alertname, so its own incident) per request at `--rate` for `--duration` s
from bench/loadgen.open_loop, the `team` label cycling over the schedules. Latency = ingest answered
200 → the mail sink accepted the e-mail carrying that incident (the notifier's delivery row says
which message carried it; a bundled one is counted with its bundle, and bundles are reported).

`--profile` samples the service processes with py-spy during the measured load. Exit status: 0; 1
when a delivery is missing or a signature was refused; 3 with --check-targets when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import notifier_profile
from bench.harness import REPO, run_and_save, run_main
from bench.notifier_stack import (
    LINK_KEY,
    MAIL_DOMAIN,
    WEBHOOK_KEY,
    Peer,
    Stack,
    machine_busy,
)

RESULTS_DIR = REPO / "bench" / "results"
SCENARIOS = ("pages-to-smtp", "pages-to-webhook", "webhook-throughput", "alert-to-mail")
THROTTLE_OFF = "email=none;webhook=none"
PUBLIC_URL = "http://vigil.bench.test"
TARGET_PAGE_P99_MS = 50.0
TARGET_THROUGHPUT_PER_S = 1000.0
TARGET_ALERT_TO_MAIL_P99_MS = 150.0


class NotifierBench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.stack = Stack(workdir, tree=Path(args.server_tree).resolve() if args.server_tree else REPO)
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = os.urandom(3).hex()
        self.results_dir = Path(args.results_dir)
        self.results_dir.mkdir(parents=True, exist_ok=True)

    async def cleanup(self) -> None:
        await self.stack.cleanup()

    async def run(self) -> dict:
        args = self.args
        print(f"{args.scenario}: starting Kafka and PostgreSQL in {self.stack.workdir} ...", flush=True)
        await self.stack.start()
        if args.scenario == "alert-to-mail":
            from bench.notifier_e2e import alert_to_mail

            measured = await alert_to_mail(self)
        else:
            from bench.notifier_pages import pages

            measured = await pages(self)
        return {"benchmark": "notifier_load", "scenario": args.scenario, "started_at": self.stamp,
                "machine": machine_info(), "config": self.config(), **measured,
                "targets": targets(args.scenario, measured)}

    def config(self) -> dict:
        a = self.args
        common = {"warmup_s": a.warmup_s, "service_env": a.service_env, "server_tree": a.server_tree, "log_level": self.stack.log_level,
                  "broker": "Apache Kafka (KRaft, 1 node, heap 768m), 6 partitions per topic",
                  "services": "python -m services.<name> (uvloop; what a container runs)"}
        if a.scenario == "webhook-throughput":
            return {**common, "pages": a.pages, "people": a.people, "throttle": THROTTLE_OFF}
        if a.scenario == "alert-to-mail":
            return {**common, "rate": a.rate, "duration_s": a.duration, "schedules": a.schedules, "throttle": THROTTLE_OFF}
        return {**common, "rate": a.rate, "duration_s": a.duration, "people": a.people, "throttle": THROTTLE_OFF}

    # ---- shared by the scenarios ------------------------------------------------------------

    def notifier_env(self, peer: Peer | None) -> dict[str, str]:
        """The notifier as a deployment runs it (signed links, webhook key), with no per-recipient
        limit and SMTP to the mail sink."""
        env = {"VIGIL_NOTIFIER_CONSUMER_GROUP": "bench-notifier", "VIGIL_NOTIFIER_THROTTLE": THROTTLE_OFF,
               "VIGIL_NOTIFIER_PUBLIC_URL": PUBLIC_URL, "VIGIL_NOTIFIER_LINK_KEYS": LINK_KEY,
               "VIGIL_NOTIFIER_WEBHOOK_KEY": WEBHOOK_KEY, "VIGIL_NOTIFIER_MAIL_DOMAIN": MAIL_DOMAIN}
        if peer is not None and peer.child.name == "mail-peer":
            env |= {"VIGIL_NOTIFIER_SMTP_HOST": "127.0.0.1", "VIGIL_NOTIFIER_SMTP_PORT": str(peer.port),
                    "VIGIL_NOTIFIER_SMTP_SECURITY": "none"}
        return env | self.service_env()

    def service_env(self) -> dict[str, str]:
        return dict(e.partition("=")[::2] for e in self.args.service_env)

    async def wait_for_people(self, database_url: str, count: int, timeout_s: float = 90) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            deadline = time.monotonic() + timeout_s
            while await conn.fetchval("SELECT count(*) FROM notifier.person WHERE NOT removed") < count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the notifier did not learn {count} people within {timeout_s:.0f} s")
                await asyncio.sleep(0.2)
        finally:
            await conn.close()

    async def wait_until(self, done, *, what: str, stall_s: float = 30, poll_s: float = 0.1) -> float:
        """Poll `done()` (an awaitable returning (finished, progress)) until it is finished or its
        progress stalled for `stall_s`; returns the time.time() it was finished (or gave up)."""
        last, since = None, time.monotonic()
        while True:
            finished, progress = await done()
            if finished:
                return time.time()
            if progress != last:
                last, since = progress, time.monotonic()
            elif time.monotonic() - since > stall_s:
                print(f"  {what}: no progress for {stall_s:.0f} s at {progress}; giving up", flush=True)
                return time.time()
            await asyncio.sleep(poll_s)

    async def measured(self, load, finished, *, profile: tuple[str, ...]) -> dict:
        """Run `load()` and wait for `finished()`, with CPU per process, machine and profiles."""
        profilers = await notifier_profile.start(self.stack.children, profile, self.results_dir,
                                                 f"{self.args.scenario}-{self.stamp}") if self.args.profile else []
        cpu0, busy0, t0 = self.stack.cpu_now(), machine_busy(), time.time()
        loaded = await load()
        done_at = await finished()
        cpu1, busy1 = self.stack.cpu_now(), machine_busy()
        profiles = await notifier_profile.stop(profilers) if profilers else None
        wall = done_at - t0
        cpu = {name: round(cpu1[name] - cpu0.get(name, 0.0), 2) for name in cpu1}
        machine = round(os.cpu_count() * (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1), 2)
        return {"load": loaded, "window_s": round(wall, 2), "cpu_s": cpu,
                "cpu_cores_busy": {"ours": round(sum(cpu.values()) / wall, 2), "machine": round(machine, 2)},
                "load_average_1m": os.getloadavg()[0], **({"profiles": profiles} if profiles else {})}


def targets(scenario: str, m: dict) -> dict:
    if scenario == "webhook-throughput":
        value = m["throughput"]["steady_per_s"]
        return {"deliveries_per_s": {"met": value is not None and value >= TARGET_THROUGHPUT_PER_S and not m["missing"],
                                     "value": value, "minimum": TARGET_THROUGHPUT_PER_S}}
    p99 = m["latency_ms"]["p99"]
    limit = TARGET_ALERT_TO_MAIL_P99_MS if scenario == "alert-to-mail" else TARGET_PAGE_P99_MS
    return {"p99_ms": {"met": p99 is not None and p99 <= limit and not m["missing"], "value": p99, "maximum": limit}}


def machine_info() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "load_avg_at_end": os.getloadavg()}


def fmt(value: float | None, unit: str = " ms") -> str:
    return "—" if value is None else f"{value:,.1f}{unit}"


def print_table(r: dict) -> None:
    c = r["config"]
    print(f"\nNotifier benchmark, {r['scenario']} — {r['machine']['cpus']} CPUs ({r['machine']['cpu_model']}), "
          f"{r['started_at']}, VIGIL_NOTIFIER_THROTTLE={c['throttle']}")
    lat = r["latency_ms"]
    if r["scenario"] == "webhook-throughput":
        t = r["throughput"]
        print(f"  {c['pages']:,} pages produced in {r['load']['produce_s']} s; delivered {r['delivered']:,}, missing "
              f"{r['missing']}, duplicates {r['duplicates']}, refused signatures {r['rejected']}")
        print(f"  deliveries/s: steady (10th–90th percentile of arrivals) {fmt(t['steady_per_s'], '/s')}, "
              f"first→last arrival {fmt(t['overall_per_s'], '/s')} (target ≥ {TARGET_THROUGHPUT_PER_S:,.0f}/s)")
        print(f"  page produced → delivered: p50 {fmt(lat['p50'])}  p99 {fmt(lat['p99'])}  max {fmt(lat['max'])} (a backlog)")
    else:
        what = "ingest answered 200 → e-mail accepted" if r["scenario"] == "alert-to-mail" else "page event time → peer accepted"
        limit = TARGET_ALERT_TO_MAIL_P99_MS if r["scenario"] == "alert-to-mail" else TARGET_PAGE_P99_MS
        print(f"  {c['rate']}/s asked for {c['duration_s']} s, {r['load']['achieved_rate']}/s achieved; "
              f"delivered {r['delivered']:,}, missing {r['missing']}, duplicates {r['duplicates']}"
              + (f", refused signatures {r['rejected']}" if "rejected" in r else ""))
        print(f"  {what}: p50 {fmt(lat['p50'])}  p95 {fmt(lat['p95'])}  p99 {fmt(lat['p99'])}  max {fmt(lat['max'])}"
              f"   (target p99 ≤ {limit:.0f} ms)")
        for label, part in r.get("parts_ms", {}).items():
            print(f"    {label}: p50 {fmt(part['p50'])}  p95 {fmt(part['p95'])}  p99 {fmt(part['p99'])}  max {fmt(part['max'])}")
    unit = "alert" if r["scenario"] == "alert-to-mail" else "delivery"
    print(f"  CPU ms per {unit} ({r['window_s']} s window, cores busy: ours {r['cpu_cores_busy']['ours']}, "
          f"machine {r['cpu_cores_busy']['machine']}, load average {r['load_average_1m']:.1f}):")
    print("    " + ", ".join(f"{k} {v}" for k, v in r["cpu_ms_per_" + unit].items()))
    if "peer_connections" in r:
        print(f"  connections the notifier opened to the receiver (warm-up included): {r['peer_connections']:,}")
    for key, value in r.get("notes", {}).items():
        print(f"  {key}: {value}")
    for name, prof in (r.get("profiles") or {}).items():
        print(f"  py-spy {name} ({prof['samples']:,} samples, {prof['file']}); by self time:")
        for frame, pct in prof.get("top_self_pct", [])[:10]:
            print(f"    {pct:5.1f}%  {frame[:140]}")
    for name, t in r["targets"].items():
        print(f"  target {name}: {'MET' if t['met'] else 'NOT MET'} ({', '.join(f'{k}={v}' for k, v in t.items() if k != 'met')})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.notifier_load", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("scenario", choices=SCENARIOS, nargs="?", default="pages-to-smtp")
    parser.add_argument("--rate", type=int, default=200, help="pages (alerts for alert-to-mail) per second")
    parser.add_argument("--duration", type=int, default=60, help="measured seconds of load")
    parser.add_argument("--warmup-s", type=float, default=10.0, help="seconds of the same load before the measured one")
    parser.add_argument("--pages", type=int, default=30_000, help="webhook-throughput: the backlog's size")
    parser.add_argument("--people", type=int, default=10_000, help="pages-to-*, webhook-throughput: the pool of people")
    parser.add_argument("--schedules", type=int, default=60,
                        help="alert-to-mail: schedules, each with its own primary (the escalator caches 64 on-call windows)")
    parser.add_argument("--service-env", action="append", default=[], metavar="VIGIL_NAME=VALUE",
                        help="an environment variable for every service process (repeatable)")
    parser.add_argument("--server-tree", help="run the services from this source tree (e.g. a `git archive` of another "
                        "commit extracted to /tmp, for a before/after on the same machine minutes apart)")
    parser.add_argument("--profile", action="store_true", help="py-spy on the service processes during the measured load")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--check-targets", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    if not 1 <= args.rate <= 20_000 or not 1 <= args.duration <= 3600 or not 0 <= args.warmup_s <= 600:
        parser.error("rate must be 1..20000/s, duration 1..3600 s, warm-up 0..600 s")
    if args.people < 1 or args.pages < 100 or not 1 <= args.schedules <= 1000:
        parser.error("people ≥ 1, pages ≥ 100, schedules 1..1000")
    return args


async def amain(args: argparse.Namespace) -> int:
    return await run_and_save(
        lambda workdir: NotifierBench(args, workdir), name=f"notifier-{args.scenario}", results_dir=Path(args.results_dir),
        print_table=print_table, stopping="the services, peers, broker and PostgreSQL",
        logs_of="the broker, PostgreSQL, services and peers",
        checks_passed=lambda r: r["missing"] == 0 and not r.get("rejected"),
        failed="a delivery never arrived, or a peer refused a signature",
        check_targets=args.check_targets,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop  # the producer / load generator runs in this process: the lighter loop leaves more CPU

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return run_main(lambda: amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
