"""Heartbeat checker benchmark: how late the checker fires 10,000 monitors that stop pinging.

    python -m bench.heartbeats                         # 10,000 monitors due over 5 s
    python -m bench.heartbeats --monitors 10000 --window-s 5 --replicas 2

Kafka and PostgreSQL local; ingest runs in its own process (`bench.serve ingest`, with a database,
so it serves heartbeats and runs their checker and outbox relay; `--replicas 2`: two of them on the
same database). The benchmark writes `--monitors` monitors straight into ingest's table, each `up`
with a 10 s period, last pinged so that their deadlines (`due_at`) are spread evenly over
`--window-s` seconds starting `--lead-s` seconds later, then NOTIFYs the checkers as a ping would,
and waits until every monitor is down and every alert is on `vigil.alerts.v1`. None pings.

Lateness, three ways:
- `checker` — the transaction that fired the monitor (its `updated_at`, the clock read when the
  batch was claimed) − its deadline;
- `metric` — `vigil_ingest_heartbeat_check_lateness_seconds` (fired = committed) from /metrics, as
  the histogram's bucket bounds: the p50/p99 are "at most" figures;
- `on_kafka` — the alert's LogAppendTime on the broker − its deadline (the alert's `starts_at`):
  the checker and the outbox relay together.
Target: p99 ≤ 1 s. The run reports the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import escalator_load
from bench.harness import Child, cpu_seconds
from shared.events import AlertEvent, Topic

REPO = Path(__file__).resolve().parents[1]
PERIOD_S = 10
TARGET_P99_S = 1.0
METRIC = "vigil_ingest_heartbeat_check_lateness_seconds"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def histogram_quantiles(text: str) -> dict:
    """p50/p99 of the lateness histogram as the smallest bucket bound holding them (summed over replicas)."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{METRIC}_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = buckets.get(float(bound), 0.0) + float(line.rsplit(" ", 1)[1])
    total = buckets.get(float("inf"), 0.0)
    out = {"count": int(total)}
    for name, q in (("p50_at_most", 0.5), ("p99_at_most", 0.99)):
        out[name] = next((b for b, c in sorted(buckets.items()) if total and c >= q * total), None)
    return out


class Run(escalator_load.Run):
    """The escalator benchmark's stack (Kafka, PostgreSQL, services in child processes), with ingest."""

    async def spawn_ingest(self, database_url: str) -> tuple[Child, int]:
        child, port = await self.spawn("ingest", {"VIGIL_DATABASE_URL": database_url,
                                                  "VIGIL_INGEST_HEARTBEAT_BATCH": str(self.args.batch)})
        async with httpx.AsyncClient(timeout=2, headers={"Authorization": f"Bearer {self.token}"}) as http:
            deadline = time.monotonic() + 90
            while (await http.get(f"http://127.0.0.1:{port}/api/v1/heartbeats")).status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ingest did not serve heartbeats; see {child.log}")
                await asyncio.sleep(0.2)
        return child, port

    async def create_alerts_topic(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap_servers, request_timeout_ms=30_000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(Topic.ALERTS, escalator_load.PARTITIONS, 1,
                                                topic_configs={"message.timestamp.type": "LogAppendTime"})])
        finally:
            await admin.close()

    async def measure(self) -> dict:
        n, window, lead = self.args.monitors, self.args.window_s, self.args.lead_s
        database_url = await self.new_database("heartbeats")
        ingests = [await self.spawn_ingest(database_url) for _ in range(self.args.replicas)]
        ends = await self.page_ends(Topic.ALERTS)
        conn = await asyncpg.connect(database_url)
        try:
            start = datetime.now(UTC) + timedelta(seconds=lead)
            due = [start + timedelta(seconds=window * i / n) for i in range(n)]
            ids = [uuid.uuid4() for _ in range(n)]
            grace = timedelta(seconds=self.args.grace_s)
            expected = [d - grace for d in due]
            pinged = [e - timedelta(seconds=PERIOD_S) for e in expected]
            await conn.execute(
                """INSERT INTO ingest.heartbeat (id, name, service, severity, period_s, grace_s, token_sha256, token_hint,
                       status, last_ping_at, expected_at, due_at, created_at, created_by, updated_at)
                   SELECT i, 'bench-' || n, 'svc-' || (n % 50), 'high', $5, $6, sha256(i::text::bytea), 'xxxx',
                          'up', p, e, d, now(), 'bench', now()
                   FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[])
                        WITH ORDINALITY AS t(i, p, e, d, n)""",
                ids, pinged, expected, due, PERIOD_S, self.args.grace_s)
            await conn.execute("SELECT pg_notify('ingest_heartbeat', $1)", start.isoformat())
            cpu_before = [cpu_seconds(child.pid) for child, _ in ingests]
            load_before = load_average()
            print(f"heartbeats: {n:,} monitors stored, due {start:%H:%M:%S}–{due[-1]:%H:%M:%S} UTC "
                  f"({args_line(self.args)}); waiting", flush=True)
            deadline = time.monotonic() + lead + window + 120
            while await conn.fetchval("SELECT count(*) FROM ingest.heartbeat WHERE status <> 'down'") \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            load_after = load_average()
            rows = await conn.fetch("SELECT extract(epoch FROM updated_at - firing_since) AS late FROM ingest.heartbeat "
                                    "WHERE status = 'down'")
        finally:
            await conn.close()
        records = await self.pages_after(ends, want=n, timeout_s=60)
        on_kafka, event_ids = [], set()
        for record in records:
            event = AlertEvent.model_validate_json(record.value)
            event_ids.add(event.event_id)
            on_kafka.append(record.timestamp / 1000 - event.starts_at.timestamp())
        cpu_after = [cpu_seconds(child.pid) for child, _ in ingests]
        metric_text = ""
        async with httpx.AsyncClient(timeout=5) as http:
            for _child, port in ingests:
                metric_text += (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        checker = [float(r["late"]) for r in rows]
        return {
            "monitors": n, "window_s": window, "replicas": len(ingests), "batch": self.args.batch,
            "down": len(checker), "alerts_on_kafka": len(records), "distinct_event_ids": len(event_ids),
            "never_early": all(v >= 0 for v in checker), "checker_s": escalator_load.stats(checker),
            "on_kafka_s": escalator_load.stats(on_kafka),
            "metric_s": histogram_quantiles(metric_text),
            "ingest_cpu_s": [round(b - a, 2) for a, b in zip(cpu_before, cpu_after) if a is not None and b is not None],
            "load_average_before": load_before, "load_average_after": load_after,
        }


def args_line(args: argparse.Namespace) -> str:
    return f"window {args.window_s:g} s, grace {args.grace_s} s, {args.replicas} ingest, batch {args.batch}"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f} ms"


def report(r: dict) -> None:
    print(f"\n{r['monitors']:,} monitors due over {r['window_s']:g} s, {r['replicas']} ingest replica(s), batch {r['batch']}: "
          f"{r['down']:,} down, {r['alerts_on_kafka']:,} alerts on Kafka ({r['distinct_event_ids']:,} distinct ids), "
          f"never early: {r['never_early']}")
    for name in ("checker_s", "on_kafka_s"):
        s = r[name]
        print(f"  {name[:-2]:>9} lateness: p50 {ms(s['p50'])}  p99 {ms(s['p99'])}  max {ms(s['max'])}  (n={s['count']:,})")
    m = r["metric_s"]
    print(f"  {METRIC}: n={m['count']:,}, p50 ≤ {m['p50_at_most']} s, p99 ≤ {m['p99_at_most']} s")
    print(f"  ingest CPU during the run: {r['ingest_cpu_s']} s; load average before {r['load_average_before']}, "
          f"after {r['load_average_after']}")
    p99 = r["checker_s"]["p99"]
    print(f"  target p99 ≤ {TARGET_P99_S:g} s (checker): {'met' if p99 is not None and p99 <= TARGET_P99_S else 'MISSED'}")


async def amain(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-heartbeats-"))
    args.server_tree = None  # the escalator benchmark's option: the services run from this tree
    run = Run(args, workdir)
    results: dict = {"started_at": datetime.now(UTC).isoformat(), "args": vars(args)}
    await asyncio.to_thread(run.kafka.start, timeout_s=120)
    await asyncio.to_thread(run.postgres.start, timeout_s=60)
    try:
        await run.create_alerts_topic()
        results["heartbeats"] = await run.measure()
    finally:
        for child in reversed(run.children):
            await child.stop()
        await asyncio.to_thread(run.postgres.stop)
        await asyncio.to_thread(run.kafka.stop)
    report(results["heartbeats"])
    out = REPO / "bench" / "results" / f"heartbeats-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {out}\nlogs: {workdir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--window-s", type=float, default=5.0, help="the deadlines spread over this long")
    parser.add_argument("--lead-s", type=float, default=5.0, help="the first deadline is this long after they are stored")
    parser.add_argument("--grace-s", type=int, default=5, help="each monitor's grace time")
    parser.add_argument("--replicas", type=int, default=1, help="ingest processes on the same database")
    parser.add_argument("--batch", type=int, default=200, help="VIGIL_INGEST_HEARTBEAT_BATCH")
    return asyncio.run(amain(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
