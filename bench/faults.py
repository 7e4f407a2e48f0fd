"""Fault injection under load: `python -m bench.faults [scenario ...] [--trials N] [--minutes M] [--rate R]`.

Starts its own Kafka broker (KRaft) and PostgreSQL (free ports, a temp dir), Vigil's four services
as `python -m services.<name>` processes, and runs the scenarios (all of them by default, in this
order) on that one stack:

- kill-ingest, kill-incidents, kill-escalator, kill-slo: alerts flow through ingest at `--rate`
  alerts/s (`--per-request` per webhook, each webhook its own incident group, all critical: every
  incident pages the primary at once and the backup 5 s later) and metrics events to the SLO
  service; the service is SIGKILLed mid-stream and started again at once, `--trials` times;
- replicas: a second replica of the incident service, the escalator and the SLO service (same
  database, same consumer group); one replica of each SIGKILLed at once per trial;
- broker-kill: the broker SIGKILLed under load and started again on its data, `--trials` times;
- storm: 5,000 alerts/s (50 per webhook, 100 webhooks/s) for `--minutes`, consumer lag and RSS of
  each service sampled every second.

After each trial's load it waits until every effect is there: every alert of a webhook answered 2xx
in its group's one incident, every incident's `opened` event on Kafka, both due pages of every
incident on vigil.pages.v1 (a repeat with the same page id is a duplicate, counted; another id for
the same step is a double page, a failure), every acknowledged metrics event folded and the SLO
API's counts equal to it. Recovery per trial: fault -> the service's first new effect (a 2xx, an
incident event, a page, a fold) and -> its consumer group's first committed offset.

Prints progress, a summary per scenario, and writes bench/results/faults-<time>.json. Exit status:
0 when nothing was lost and no problem was seen; 1 otherwise (the logs are then kept under
bench/results/failed-<time>/); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.faults_scenarios import Faults, Options, options_dict
from bench.faults_stack import SERVICES, Stack
from bench.harness import REPO, distinct_free_ports, keep_logs, run_and_save, run_main
from bench.ingest_load import machine_info
from shared.local.kafka_broker import LocalKafka
from shared.local.postgres_server import LocalPostgres

RESULTS_DIR = REPO / "bench" / "results"
SCENARIOS = (*(f"kill-{s}" for s in SERVICES), "replicas", "broker-kill", "storm")


async def run_scenario(faults: Faults, name: str) -> dict:
    if name.startswith("kill-"):
        return await faults.kill(name.removeprefix("kill-"))
    if name == "replicas":
        return await faults.replicas()
    if name == "broker-kill":
        return await faults.broker_kill()
    if name == "storm":
        return await faults.storm()
    raise ValueError(f"unknown scenario {name!r}")


def progress(line: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {line}", flush=True)


@dataclass
class FaultBench:
    """One run: a broker, PostgreSQL and the stack of its own, the scenarios in turn."""

    args: argparse.Namespace
    workdir: Path
    kafka: LocalKafka | None = None
    postgres: LocalPostgres | None = None
    faults: Faults | None = None
    started: list = field(default_factory=list)

    async def run(self) -> dict:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kafka_port, controller_port, pg_port = distinct_free_ports(3)
        self.kafka = LocalKafka(self.workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="768m")
        self.postgres = LocalPostgres(self.workdir / "postgres", port=pg_port)
        progress(f"starting Kafka and PostgreSQL (data in {self.workdir}) ...")
        await asyncio.gather(asyncio.to_thread(self.kafka.start, timeout_s=180), asyncio.to_thread(self.postgres.start))
        stack = Stack(workdir=self.workdir, bootstrap=self.kafka.bootstrap_servers, admin_url=self.postgres.url,
                      kafka=self.kafka, postgres=self.postgres, log_level=self.args.log_level,
                      tree=Path(self.args.server_tree).resolve() if self.args.server_tree else REPO)
        self.faults = Faults(stack, self.args.options, progress)
        progress("starting ingest, incidents, escalator, slo; warm-up load ...")
        await self.faults.start()
        results: dict = {"benchmark": "faults", "started_at": stamp, "config": options_dict(self.args.options),
                         "server_tree": self.args.server_tree, "command": " ".join(sys.argv), "scenarios": {}}
        for name in self.args.scenarios:
            began = time.monotonic()
            progress(f"== {name} ==")
            outcome = await run_scenario(self.faults, name)
            outcome["seconds"] = round(time.monotonic() - began, 1)
            results["scenarios"][name] = outcome
            progress(f"== {name}: {'passed' if outcome['passed'] else 'FAILED'} in {outcome['seconds']:.0f} s ==")
        results["passed"] = all(s["passed"] for s in results["scenarios"].values())
        results["machine"] = machine_info()
        if not results["passed"] or self.args.keep_logs:
            results["logs"] = str(keep_logs(self.workdir, Path(self.args.results_dir)))
        return results

    async def cleanup(self) -> None:
        if self.faults is not None:
            with contextlib.suppress(Exception):
                await self.faults.close()
        for server in (self.postgres, self.kafka):
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(server.stop)


def fmt(value, unit: str = "") -> str:
    return "—" if value is None else f"{value:,}{unit}" if isinstance(value, int) else f"{value:,.2f}{unit}"


def spread(values: list) -> str:
    """min / median / max of the values that are there."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return "—"
    return f"{present[0]:.2f} / {present[len(present) // 2]:.2f} / {present[-1]:.2f}"


def print_table(results: dict) -> None:
    print(f"\nFault injection — {results['started_at']}")
    for name, s in results["scenarios"].items():
        t = s["totals"]
        print(f"\n{name}: {'passed' if s['passed'] else 'FAILED'} ({len(s['trials'])} trial(s), {s['seconds']:.0f} s)")
        print(f"  requests {t['requests']:,}; alerts sent {t['alerts_attempted']:,}, accepted {t['alerts_accepted']:,}, "
              f"lost {t['alerts_lost']:,}; incidents {t['incidents']:,} (opened events missing {t['incident_events_missing']}, "
              f"repeated with the same id {t['incident_events_duplicated_same_id']})")
        print(f"  pages due {t['pages_due']:,}, missing {t['pages_missing']}, repeated with the same id "
              f"{t['pages_duplicated_same_id']}, twice with another id {t['pages_twice_with_other_ids']}; "
              f"metrics events acknowledged {t['metrics_acked']:,}, not folded {t['metrics_lost']}")
        trials = s["trials"]
        for service in sorted({k for tr in trials for k in tr.get("recovery", {})}):
            firsts = [tr["recovery"].get(service, {}).get("first_effect_s") for tr in trials]
            resumed = [tr["recovery"].get(service, {}).get("consumer_resumed_s") for tr in trials]
            line = f"  {service}: fault -> first effect s (min / median / max) {spread(firsts)}"
            if any(v is not None for v in resumed):
                line += f"; -> consumer resumed {spread(resumed)}"
            print(line + f"; per trial {firsts}")
        readies = [tr.get("fault", {}).get("ready_after_s") for tr in trials]
        if any(v is not None for v in readies):
            print(f"  killed process ready again after s: {spread(readies)}")
        for tr in trials:
            if "broker" in tr:
                b = tr["broker"]
                print(f"  {tr['tag']}: broker back after {tr['fault']['broker_back_after_s']} s; while down ingest answered "
                      f"{b['answers_while_down']}; after its return: first 2xx {fmt(b['first_2xx_after_back_s'], ' s')}, "
                      f"first incident event {fmt(b['first_incident_after_back_s'], ' s')}, first page "
                      f"{fmt(b['first_page_after_back_s'], ' s')}")
        warnings: dict[str, int] = {}
        for tr in trials:
            for key, n in tr["service_log_warnings"].items():
                warnings[key] = warnings.get(key, 0) + n
        if warnings or t["postgres_deadlocks"]:
            print(f"  PostgreSQL deadlocks {t['postgres_deadlocks']}; service log lines at warning and above: "
                  + "; ".join(f"{k} x{n}" for k, n in sorted(warnings.items(), key=lambda kv: -kv[1])[:6]))
        lag_max = {g: max((tr["lag"][g]["max"] or 0 for tr in trials), default=None) for g in trials[0]["lag"]}
        print(f"  consumer lag max (messages): {lag_max}; RSS max MB: {trials[-1]['rss_mb_max']}")
        if name == "storm":
            tr = trials[0]
            ing = tr["ingest"]
            print(f"  asked for {ing['offered_alerts_per_s']:,.0f} alerts/s, sent {fmt(ing['sent_alerts_per_s'])} (the open-loop "
                  f"sender stalls when all its 512 connections wait for an answer), ingest accepted {fmt(ing['accepted_alerts_per_s'])} "
                  f"alerts/s (send lag max {ing['send_lag_max_s']} s); incident service folded "
                  f"{fmt(tr['incidents_folded_alerts_per_s'])} alerts/s during the load; lag at its end "
                  f"{tr['lag_at_end_of_load']}; drain after the load {tr['drain_s']} s")
            for svc, r in tr["rss"].items():
                if isinstance(r, dict) and "start_mb" in r:
                    print(f"  RSS {svc}: start {r['start_mb']} MB, after warm-up {r['after_warmup_mb']} MB, "
                          f"max {r['max_mb']} MB, end {r['end_mb']} MB")
            print(f"  RSS criterion: {tr['rss']['criterion']}")
            print(f"  CPU cores during the load: {tr['cpu_cores_during_load']}; pages/s recorded by the incident service "
                  f"{fmt(tr['pages_per_s'])}")
        for problem in s["problems"]:
            print(f"  PROBLEM: {problem}")
    print(f"\n{'PASSED' if results['passed'] else 'FAILED'}" + (f" (logs: {results['logs']})" if results.get("logs") else ""))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = Options()
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--trials", type=int, default=defaults.trials, help="trials per kill, replicas and broker scenario")
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="the storm's length")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="alerts/s in the kill, replicas and broker trials")
    parser.add_argument("--per-request", type=int, default=defaults.per_notification, help="alerts per webhook there")
    parser.add_argument("--trial-s", type=float, default=defaults.trial_s, help="seconds of load per kill trial")
    parser.add_argument("--storm-rate", type=float, default=defaults.storm_rate, help="alerts/s in the storm")
    parser.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"),
                        help="the services' log level (their logs are kept when a run fails)")
    parser.add_argument("--server-tree", default=None,
                        help="run the services from this directory instead of this checkout, e.g. a `git archive HEAD` "
                        "extracted to /tmp: a long run then does not pick up files edited meanwhile (every restart "
                        "imports the code again)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs of a run that passed too")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    args.scenarios = args.scenarios or list(SCENARIOS)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    if args.server_tree and not (Path(args.server_tree) / "services" / "ingest").is_dir():
        parser.error(f"--server-tree {args.server_tree} has no services/ingest")
    if args.trials < 1 or args.minutes <= 0 or args.rate <= 0 or args.per_request < 1:
        parser.error("--trials, --minutes, --rate and --per-request must be positive")
    args.options = Options(trials=args.trials, minutes=args.minutes, rate=args.rate, per_notification=args.per_request,
                           trial_s=args.trial_s, fault_at_s=round(min(Options.fault_at_s, args.trial_s / 3), 1),
                           storm_rate=args.storm_rate)
    return args


async def amain(args: argparse.Namespace) -> int:
    Path(args.results_dir).mkdir(parents=True, exist_ok=True)
    return await run_and_save(
        lambda workdir: FaultBench(args, workdir), name="faults", results_dir=Path(args.results_dir),
        print_table=print_table, stopping="the services, the broker and PostgreSQL",
        logs_of="the broker, PostgreSQL and the services",
        checks_passed=lambda results: results["passed"],
        failed="an accepted alert, incident event, page or metrics event was lost, or another problem above",
        check_targets=False,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The broker is killed on purpose: aiokafka's reconnect warnings of this process would drown the progress.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return run_main(lambda: amain(args))


if __name__ == "__main__":
    sys.exit(main())
