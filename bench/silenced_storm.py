"""A storm with silences (issue 20): `--alerts` critical alerts across `--services` services within
`--seconds`, silences covering `--silenced` of the services. Counts the incidents opened and the pages
sent and compares them with what the rules say — exactly — and times each alert from ingest's 200 to
its occurrence being stored by the incident service (from the moment its webhook request was sent,
so ingest's own time is included; p50/p99).

    python -m bench.silenced_storm                       # 10,000 alerts, 50 services, 40 % silenced, 60 s
    python -m bench.silenced_storm --alerts 500 --services 10 --seconds 5   # a quick run

The rules, as configured here: every alert of a service is in one Alertmanager group (one groupKey
per service), so each service that is not silenced gets exactly one incident; a silenced service gets
none and its alerts are stored as suppressed; every incident is SEV1 and pages its primary at once
(the backup only after an hour, beyond the run), so pages = incidents. Real Kafka and PostgreSQL,
every service as its own process (`bench/faults_stack.py`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.faults_stack import Stack
from bench.harness import distinct_free_ports
from bench.ingest_load import machine_info
from shared.local.kafka_broker import LocalKafka
from shared.local.postgres_server import LocalPostgres

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WEBHOOK = "/api/v1/webhooks/alertmanager"


def progress(line: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {line}", flush=True)


def service_name(index: int) -> str:
    return f"svc-{index:02d}"


def notification(*, run: str, service: str, start: int, count: int, starts_at: str) -> dict:
    """An Alertmanager v4 notification of `count` firing alerts of `service`, all in its one group."""
    alerts = [{
        "status": "firing", "labels": {"alertname": "StormAlert", "service": service, "severity": "critical",
                                       "instance": f"i-{n}", "run": run},
        "annotations": {"summary": f"{service} storm alert {n}"}, "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus.example/graph",
        "fingerprint": f"{run}-{service}-{n}",
    } for n in range(start, start + count)]
    return {"version": "4", "status": "firing", "receiver": "vigil", "groupKey": f'{{}}:{{service="{service}",run="{run}"}}',
            "truncatedAlerts": 0, "groupLabels": {"service": service}, "commonLabels": {"service": service},
            "commonAnnotations": {}, "externalURL": "http://alertmanager.example", "alerts": alerts}


@dataclass
class Sent:
    accepted_at: dict[str, float] = field(default_factory=dict)  # fingerprint -> when its (accepted) request was sent
    failed: int = 0
    requests: int = 0


async def send_storm(stack: Stack, args: argparse.Namespace, run: str) -> Sent:
    """`args.alerts` alerts in requests of `args.per_request`, services taking turns, evenly over `args.seconds`."""
    sent = Sent()
    requests = []
    per_service = [0] * args.services
    total = 0
    while total < args.alerts:
        index = len(requests) % args.services
        count = min(args.per_request, args.alerts - total)
        requests.append((service_name(index), per_service[index], count))
        per_service[index] += count
        total += count
    starts_at = datetime.now(UTC).isoformat()
    interval = args.seconds / max(len(requests), 1)
    begin = time.monotonic()
    limit = asyncio.Semaphore(args.concurrency)
    async with httpx.AsyncClient(base_url=stack.url("ingest"), timeout=30,
                                 headers={"Authorization": f"Bearer {stack.token}"}) as http:
        async def post(i: int, service: str, start: int, count: int) -> None:
            await asyncio.sleep(max(0.0, begin + i * interval - time.monotonic()))
            body = notification(run=run, service=service, start=start, count=count, starts_at=starts_at)
            async with limit:
                for _attempt in range(5):
                    posted = time.time()
                    try:
                        response = await http.post(WEBHOOK, json=body)
                    except httpx.HTTPError:
                        await asyncio.sleep(0.5)
                        continue
                    if response.status_code == 200:
                        for alert in body["alerts"]:
                            sent.accepted_at[alert["fingerprint"]] = posted
                        return
                    await asyncio.sleep(0.5)  # 503: Alertmanager retries too
                sent.failed += count
        await asyncio.gather(*(post(i, *r) for i, r in enumerate(requests)))
    sent.requests = len(requests)
    return sent


async def silence(stack: Stack, services: list[str]) -> list[int]:
    ids = []
    ends_at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    async with httpx.AsyncClient(base_url=stack.url("incidents"), timeout=30,
                                 headers={"Authorization": f"Bearer {stack.token}"}) as http:
        for service in services:
            response = await http.post("/api/v1/silences", json={
                "matchers": [f"service={service}"], "ends_at": ends_at, "comment": "storm benchmark"})
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_until(predicate, *, timeout_s: float, interval_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval_s)


async def measure(stack: Stack, args: argparse.Namespace, run: str) -> dict:
    silenced = [service_name(i) for i in range(round(args.services * args.silenced))]
    progress(f"silencing {len(silenced)} of {args.services} services ...")
    await silence(stack, silenced)
    progress(f"storm: {args.alerts:,} alerts across {args.services} services in {args.seconds:g} s ...")
    started = time.monotonic()
    sent = await send_storm(stack, args, run)
    progress(f"sent in {time.monotonic() - started:.1f} s ({sent.requests} requests, {sent.failed} alerts not accepted)")
    pool = stack.pool

    async def stored() -> bool:
        return await pool.fetchval("SELECT count(*) FROM incidents.alert_occurrence WHERE fingerprint LIKE $1",
                                   f"{run}-%") >= len(sent.accepted_at)

    await wait_until(stored, timeout_s=args.settle_timeout_s)
    rows = await pool.fetch(
        "SELECT fingerprint, incident_id, suppressed_by, extract(epoch FROM first_seen_at)::float8 AS seen "
        "FROM incidents.alert_occurrence WHERE fingerprint LIKE $1", f"{run}-%")
    expected_incidents = args.services - len(silenced)
    opened_sql = "SELECT count(*) FROM incidents.incident WHERE labels ->> 'run' = $1"

    async def paged() -> bool:
        return await pool.fetchval(
            "SELECT count(*) FROM escalator.page p JOIN incidents.incident i ON i.id = p.incident_id "
            "WHERE i.labels ->> 'run' = $1", run) >= expected_incidents

    await wait_until(paged, timeout_s=args.settle_timeout_s)
    await asyncio.sleep(args.extra_wait_s)  # "nothing more comes": a wait that is the check
    incidents = await pool.fetchval(opened_sql, run)
    pages = await pool.fetchval(
        "SELECT count(*) FROM escalator.page p JOIN incidents.incident i ON i.id = p.incident_id "
        "WHERE i.labels ->> 'run' = $1", run)
    by_service: dict[str, set] = {}
    suppressed = 0
    for row in rows:
        service = row["fingerprint"].split("-")[1] + "-" + row["fingerprint"].split("-")[2]
        if row["suppressed_by"] is not None:
            suppressed += 1
        if row["incident_id"] is not None:
            by_service.setdefault(service, set()).add(row["incident_id"])
    latencies = [(row["seen"] - sent.accepted_at[row["fingerprint"]]) * 1000 for row in rows
                 if row["fingerprint"] in sent.accepted_at]
    silenced_alerts = sum(1 for fp in sent.accepted_at if fp.split("-", 1)[1].rsplit("-", 1)[0] in set(silenced))
    checks = {
        "every accepted alert stored": len(rows) == len(sent.accepted_at),
        "incidents = services not silenced": incidents == expected_incidents,
        "one incident per service not silenced": all(len(v) == 1 for v in by_service.values())
        and len(by_service) == expected_incidents,
        "no incident for a silenced service": not any(s in by_service for s in silenced),
        "suppressed = alerts of silenced services": suppressed == silenced_alerts,
        "pages = incidents (primary at once)": pages == expected_incidents,
    }
    return {
        "alerts_accepted": len(sent.accepted_at), "alerts_not_accepted": sent.failed, "requests": sent.requests,
        "services": args.services, "silenced_services": len(silenced), "alerts_suppressed": suppressed,
        "incidents_opened": incidents, "incidents_expected": expected_incidents, "pages_sent": pages,
        "pages_expected": expected_incidents,
        "webhook_to_stored_ms": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
                                "p99": percentile(latencies, 0.99), "max": max(latencies, default=None)},
        "checks": checks, "passed": all(checks.values()) and sent.failed == 0,
    }


async def amain(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vigil-storm-"))
    kafka_port, controller_port, pg_port = distinct_free_ports(3)
    kafka = LocalKafka(workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="768m")
    postgres = LocalPostgres(workdir / "postgres", port=pg_port)
    stack = None
    try:
        progress(f"starting Kafka and PostgreSQL (data in {workdir}) ...")
        await asyncio.gather(asyncio.to_thread(kafka.start, timeout_s=180), asyncio.to_thread(postgres.start))
        stack = Stack(workdir=workdir, bootstrap=kafka.bootstrap_servers, admin_url=postgres.url, kafka=kafka,
                      postgres=postgres, backup_after_s=3600)
        await stack.open()
        progress("starting ingest, incidents, escalator ...")
        for service in ("ingest", "incidents", "escalator"):
            await stack.add(service)
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        results = await measure(stack, args, run=secrets.token_hex(3))
        results.update(benchmark="silenced_storm", command=" ".join(sys.argv), machine=machine_info(),
                       loadavg_before=load_before, loadavg_after=Path("/proc/loadavg").read_text().split()[:3],
                       at=datetime.now(UTC).isoformat(timespec="seconds"))
    finally:
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.close()
        for server in (postgres, kafka):
            with contextlib.suppress(Exception):
                await asyncio.to_thread(server.stop)
    print_results(results)
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"silenced-storm-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {path}")
    return 0 if results["passed"] else 1


def print_results(r: dict) -> None:
    latency = r["webhook_to_stored_ms"]
    fmt = lambda v: "—" if v is None else f"{v:,.0f}"  # noqa: E731
    print(f"\nSilenced storm — {r['alerts_accepted']:,} alerts accepted ({r['alerts_not_accepted']} not), "
          f"{r['services']} services, {r['silenced_services']} silenced")
    print(f"  incidents opened {r['incidents_opened']} (rules: {r['incidents_expected']}); pages sent {r['pages_sent']} "
          f"(rules: {r['pages_expected']}); alerts suppressed {r['alerts_suppressed']:,}")
    print(f"  webhook sent → occurrence stored: p50 {fmt(latency['p50'])} ms, p95 {fmt(latency['p95'])} ms, "
          f"p99 {fmt(latency['p99'])} ms, max {fmt(latency['max'])} ms")
    print(f"  load average before {' '.join(r['loadavg_before'])}, after {' '.join(r['loadavg_after'])}")
    for name, ok in r["checks"].items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.silenced_storm", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--silenced", type=float, default=0.4, help="fraction of the services silenced")
    parser.add_argument("--seconds", type=float, default=60.0, help="the storm's length")
    parser.add_argument("--per-request", type=int, default=10, help="alerts per webhook request")
    parser.add_argument("--concurrency", type=int, default=16, help="webhook requests in flight at most")
    parser.add_argument("--settle-timeout-s", type=float, default=300.0)
    parser.add_argument("--extra-wait-s", type=float, default=5.0, help="after the counts are reached, for extras")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(amain(parse_args())))
