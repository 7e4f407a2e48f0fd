"""Escalator benchmark: timer lateness and the alert-to-page delay, with the real broker and PostgreSQL.

    python -m bench.escalator_load                  # both parts, the issue's shapes
    python -m bench.escalator_load --timers 10000 --window-s 60 --rate 200 --duration 30

Part 1, timers: the escalator runs in its own process (`bench.serve escalator`, example
configuration). The benchmark stores `--timers` incidents with one pending page timer each, due
spread evenly over one minute that starts `--lead-s` seconds later (written straight into the
escalator's tables in one transaction, then NOTIFY, as its consumer does), and waits until every
timer fired and every page is on `vigil.pages.v1`. Lateness is fired_at − due_at as the ticker
recorded it (what `vigil_escalator_timer_lateness_seconds` observes), and page-on-Kafka − due_at
from the broker's LogAppendTime: the second includes the outbox relay.

Part 2, end to end: ingest, incidents and escalator in three processes; one critical alert per
webhook (each its own group, so each opens an incident and pages) at `--rate` webhooks/s for
`--duration` s. Delay = LogAppendTime of the page on `vigil.pages.v1` − the moment ingest answered
200 to the webhook (both on this machine's clock). Target: p99 ≤ 250 ms at 200 alerts/s. The
load generator is `bench.loadgen.open_loop` in this process: open loop at `--rate`, the requests
encoded before the clock starts, written on raw keep-alive HTTP/1.1 connections (a new one only
when all are busy), responses parsed by httptools. The part reports each process's CPU seconds
during the load (the generator's own included) and how far the sends fell behind the schedule.

Profiling the e2e part: `--profile` samples ingest, incidents and escalator with py-spy during the
measured load (`bench/results/profile-escalator-e2e-<service>-<time>.txt`, `--format raw`; the
result lists each one's top functions by self time). `--pg-stats` loads pg_stat_statements into
the bench's PostgreSQL and reports, for the measured load only, the statements by total execution
time (calls, rows, WAL bytes), the WAL writes and fsyncs, commits, and the CPU seconds of the
PostgreSQL backends of each service (a backend belongs to the service whose TCP connection it
serves).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench.incidents_load import percentile
from bench.harness import Child, cpu_seconds, distinct_free_ports, start_child
from bench.loadgen import WEBHOOK_PATH, build_request, open_loop
from services.escalator.policy import PolicyConfig
from shared.events import IncidentEvent, PageRequested, Topic, decode
from shared.local.kafka_broker import LocalKafka
from shared.local.postgres_server import LocalPostgres

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 6
TARGET_LATENESS_P99_S = 1.0
TARGET_E2E_P99_MS = 250.0


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"count": len(ordered), "p50": percentile(ordered, 50), "p99": percentile(ordered, 99),
            "max": ordered[-1] if ordered else None}


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.token = secrets.token_urlsafe(24)
        self.tree = Path(args.server_tree).resolve() if args.server_tree else REPO  # the services' code
        self.children: list[Child] = []
        kafka_port, controller_port, pg_port = distinct_free_ports(3)
        self.kafka = LocalKafka(workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="768m",
                                partitions=PARTITIONS)
        self.postgres = LocalPostgres(workdir / "postgres", port=pg_port, database="vigil")

    async def spawn(self, app: str, env: dict[str, str]) -> tuple[Child, int]:
        port = distinct_free_ports(1)[0]
        child = await start_child(
            self.children, app, sys.executable, "-m", "bench.serve", app, "--port", str(port),
            log=self.workdir / f"{app}.log", cwd=self.tree,
            env={"PYTHONPATH": str(self.tree), "VIGIL_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"), "VIGIL_LOG_FORMAT": "json",
                 "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers, "VIGIL_TOPIC_PARTITIONS": str(PARTITIONS),
                 "VIGIL_API_TOKENS": f"{self.token}:admin", "VIGIL_INGEST_TOKENS": self.token, **env},
        )
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return child, port
                except httpx.HTTPError:
                    pass
                if child.proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not become ready; see {child.log}")
                await asyncio.sleep(0.2)

    async def new_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.postgres.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.postgres.url.rsplit("/", 1)[0] + f"/{name}"

    async def create_topics(self) -> None:
        """The measured topics with the broker's append time as record timestamp."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap_servers, request_timeout_ms=30_000)
        await admin.start()
        try:
            config = {"message.timestamp.type": "LogAppendTime"}
            await admin.create_topics([NewTopic(t, PARTITIONS, 1, topic_configs=config) for t in (Topic.INCIDENTS, Topic.PAGES)])
        finally:
            await admin.close()

    async def pages_after(self, ends: dict[TopicPartition, int], *, want: int, timeout_s: float) -> list:
        """The records after `ends` (of whichever topic they are), until `want` arrived or `timeout_s`."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka.bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        records: list = []
        try:
            consumer.assign(list(ends))
            for tp, offset in ends.items():
                consumer.seek(tp, offset)
            deadline = time.monotonic() + timeout_s
            while len(records) < want and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    records.extend(batch)
        finally:
            await consumer.stop()
        return records

    async def page_ends(self, topic: str = Topic.PAGES) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka.bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            return await consumer.end_offsets(tps)
        finally:
            await consumer.stop()

    # ---- part 1 ------------------------------------------------------------------------------

    async def timers(self) -> dict:
        n, window, lead = self.args.timers, self.args.window_s, self.args.lead_s
        database_url = await self.new_database("timers")
        child, _port = await self.spawn("escalator", {"VIGIL_DATABASE_URL": database_url,
                                                      "VIGIL_ESCALATOR_CONSUMER_GROUP": "bench-timers"})
        ends = await self.page_ends()
        conn = await asyncpg.connect(database_url)
        try:
            start = datetime.now(UTC) + timedelta(seconds=lead)
            due = [start + timedelta(seconds=window * i / n) for i in range(n)]
            ids = list(range(1, n + 1))
            policy = json.dumps(PolicyConfig().model_dump(mode="json"))
            async with conn.transaction():
                await conn.execute(
                    """INSERT INTO escalator.incident (id, number, version, title, severity, status, schedule, policy,
                           opened_at, updated_at)
                       SELECT i, 'INC-' || i, 1, 'bench incident ' || i, 1, 'investigating', 'platform', $2::jsonb, now(), now()
                       FROM unnest($1::bigint[]) AS i""", ids, policy)
                await conn.execute(
                    """INSERT INTO escalator.timer (id, incident_id, escalation, step, repetition, role, action, due_at, fire_at, reason)
                       SELECT 'bench-' || i, i, 1, 0, 0, 'primary', 'page', d, d, 'initial'
                       FROM unnest($1::bigint[], $2::timestamptz[]) AS t(i, d)""", ids, due)
                await conn.execute("NOTIFY escalator_timer")
            print(f"timers: {n:,} stored, due {start:%H:%M:%S}–{due[-1]:%H:%M:%S} UTC; waiting", flush=True)
            deadline = time.monotonic() + lead + window + 120
            while await conn.fetchval("SELECT count(*) FROM escalator.timer WHERE state = 'pending'") and time.monotonic() < deadline:
                await asyncio.sleep(1)
            rows = await conn.fetch("SELECT id, due_at, extract(epoch FROM fired_at - due_at) AS late FROM escalator.timer")
        finally:
            await conn.close()
        records = await self.pages_after(ends, want=n, timeout_s=60)
        due_of = {r["id"]: r["due_at"] for r in rows}
        on_kafka = []
        for record in records:
            page = decode(PageRequested, record.value)
            on_kafka.append(record.timestamp / 1000 - page.due_at.timestamp())
        await child.stop()
        fired = [float(r["late"]) for r in rows if r["late"] is not None]
        return {"timers": n, "window_s": window, "fired": len(fired), "never_early": all(v >= 0 for v in fired),
                "lateness_s": stats(fired), "page_on_kafka_s": stats(on_kafka), "pages": len(records),
                "timers_with_due": len(due_of)}

    # ---- part 2 ------------------------------------------------------------------------------

    def cpu_now(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the stack: the service processes, the broker,
        PostgreSQL (the postmaster, its reaped backends and the live ones)."""
        out = {child.name: cpu_seconds(child.proc.pid) or 0.0 for child in self.children}
        try:
            out["kafka"] = cpu_seconds(self.kafka.pid) or 0.0
        except (OSError, ValueError):
            pass
        try:
            postmaster = psutil.Process(int((self.postgres.data_dir / "postmaster.pid").read_text().splitlines()[0]))
            t = postmaster.cpu_times()
            total = t.user + t.system + t.children_user + t.children_system
            for backend in postmaster.children():
                with contextlib.suppress(psutil.Error):
                    bt = backend.cpu_times()
                    total += bt.user + bt.system
            out["postgres"] = total
        except (OSError, ValueError, IndexError, psutil.Error):
            pass
        return out

    async def backend_owners(self, conn: asyncpg.Connection) -> dict[int, str]:
        """PostgreSQL backend pid -> the service whose connection it serves (by client port)."""
        ports: dict[int, str] = {}
        for child in self.children:
            with contextlib.suppress(psutil.Error):
                for c in psutil.Process(child.proc.pid).net_connections(kind="tcp"):
                    if c.raddr and c.raddr.port == self.postgres.port:
                        ports[c.laddr.port] = child.name
        rows = await conn.fetch("SELECT pid, client_port FROM pg_stat_activity WHERE client_port IS NOT NULL")
        return {r["pid"]: ports.get(r["client_port"], "bench") for r in rows}

    @staticmethod
    def backend_cpu(owners: dict[int, str]) -> dict[int, float]:
        out = {}
        for pid in owners:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                out[pid] = t.user + t.system
        return out

    async def pg_stats_begin(self, database_url: str) -> tuple:
        conn = await asyncpg.connect(database_url)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
        await conn.execute("SELECT pg_stat_reset_shared('wal')")
        owners = await self.backend_owners(conn)
        commits = await conn.fetchval("SELECT sum(xact_commit) FROM pg_stat_database")
        waits: dict[str, int] = {}
        sampler = asyncio.create_task(self.sample_waits(database_url, owners, waits))
        return conn, owners, self.backend_cpu(owners), commits, sampler, waits

    async def sample_waits(self, database_url: str, owners: dict[int, str], waits: dict[str, int]) -> None:
        """Every 20 ms, what each active backend of a service waits on (or CPU) and for which statement."""
        conn = await asyncpg.connect(database_url)
        try:
            while True:
                for r in await conn.fetch(
                        "SELECT pid, coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w, "
                        "left(regexp_replace(query, '\\s+', ' ', 'g'), 50) AS q FROM pg_stat_activity "
                        "WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"):
                    key = f"{owners.get(r['pid'], '?')} {r['w']} {r['q']}"
                    waits[key] = waits.get(key, 0) + 1
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    async def pg_stats_end(self, begun: tuple) -> dict:
        conn, owners, cpu0, commits0, sampler, waits = begun
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        try:
            cpu1 = self.backend_cpu(owners)
            by_service: dict[str, float] = {}
            for pid, owner in owners.items():
                if pid in cpu1:
                    by_service[owner] = round(by_service.get(owner, 0.0) + cpu1[pid] - cpu0.get(pid, 0.0), 2)
            commits = await conn.fetchval("SELECT sum(xact_commit) FROM pg_stat_database") - commits0
            wal = {k: float(v) for k, v in dict(await conn.fetchrow("SELECT * FROM pg_stat_wal")).items()
                   if not isinstance(v, datetime)}  # the columns of this server's version
            rows = await conn.fetch(
                "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, rows, wal_bytes, "
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query "
                "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 30")
            return {"active_backend_samples_every_20ms": dict(sorted(waits.items(), key=lambda kv: -kv[1])[:25]),
                    "backend_cpu_s_by_service": by_service, "commits": int(commits),
                    "wal": {k: round(v, 1) for k, v in wal.items()},
                    "statements": [{**dict(r), "total_ms": float(r["total_ms"]), "wal_bytes": int(r["wal_bytes"])} for r in rows]}
        finally:
            await conn.close()

    async def start_profilers(self, stamp: str) -> list[tuple[str, asyncio.subprocess.Process, Path]]:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        out = []
        for child in self.children:
            path = REPO / "bench" / "results" / f"profile-escalator-e2e-{child.name}-{stamp}.txt"
            proc = await asyncio.create_subprocess_exec(
                py_spy, "record", "--pid", str(child.proc.pid), "--rate", "100", "--format", "raw", "--nonblocking",
                "--full-filenames", "-o", str(path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            out.append((child.name, proc, path))
        await asyncio.sleep(1)  # attached
        return out

    @staticmethod
    async def stop_profilers(profilers: list) -> dict:
        """py-spy writes its file when interrupted; returns each service's top self-time functions."""
        summary = {}
        for name, proc, path in profilers:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 30)
            selfs: dict[str, int] = {}
            total = 0
            with contextlib.suppress(OSError):
                for line in path.read_text().splitlines():
                    stack, _, count = line.rpartition(" ")
                    if not count.isdigit():
                        continue
                    total += int(count)
                    leaf = stack.rsplit(";", 1)[-1].replace(str(REPO) + "/", "")
                    selfs[leaf] = selfs.get(leaf, 0) + int(count)
            top = sorted(selfs.items(), key=lambda kv: -kv[1])[:15]
            summary[name] = {"file": str(path), "samples": total,
                             "top_self": [(f, round(100 * c / total, 1)) for f, c in top] if total else []}
        return summary

    async def end_to_end(self) -> dict:
        database_url = self.e2e_database_url = await self.new_database("e2e")
        extra = dict(e.partition("=")[::2] for e in self.args.service_env)
        common = {"VIGIL_DATABASE_URL": database_url, **extra}
        ingest, ingest_port = await self.spawn("ingest", extra)
        await self.spawn("incidents", {**common, "VIGIL_INCIDENTS_CONSUMER_GROUP": "bench-incidents"})
        await self.spawn("escalator", {**common, "VIGIL_ESCALATOR_CONSUMER_GROUP": "bench-escalator"})
        run = secrets.token_hex(4)

        def requests(names: list[str]) -> list[bytes]:
            return [build_request(ingest_port, WEBHOOK_PATH, webhook(name), self.token) for name in names]

        # Warm-up: consumers joined and every path connected before the measured load; then
        # `--warmup-s` of the same load, unmeasured: a fresh broker's JVM compiles for its first
        # minute or so and takes about twice the CPU it needs later (see --part broker).
        ends = await self.page_ends()
        warm = await open_loop(port=ingest_port, requests=requests([f"warmup-{run}"]), rate=1)
        if warm.status != [200]:
            raise RuntimeError(f"the warm-up webhook failed: {warm.status} {dict(warm.errors)}")
        await self.pages_after(ends, want=1, timeout_s=90)
        if self.args.warmup_s > 0:
            ends = await self.page_ends()
            n = int(self.args.rate * self.args.warmup_s)
            warm = await open_loop(port=ingest_port, requests=requests([f"warmup-{run}-{i}" for i in range(n)]),
                                   rate=self.args.rate, max_connections=256)
            await self.pages_after(ends, want=sum(1 for v in warm.status if v == 200), timeout_s=120)
            await asyncio.sleep(2)
        if self.args.analyze:
            # The database as a deployment's is after its first minute: autovacuum (naptime 1 min)
            # has analysed the tables the warm-up filled. Without it every statement prepared while a
            # table was nearly empty keeps its cached generic plan (e.g. a sequential scan of
            # escalator.timer per batch) for the whole measured load, which starts ~40 s after the
            # database was created.
            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute("ANALYZE")
            finally:
                await conn.close()
        if self.args.checkpoint:
            # The WAL as a server that has run for a while has it: the warm-up's segment files
            # become recyclable, so the measured load renames old files instead of creating new
            # ones (on the bench's brand-new server each new 16 MB file stalled commits by ~85 ms;
            # see the incident service's section).
            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute("CHECKPOINT")
            finally:
                await conn.close()
        rates = self.args.rates or [self.args.rate]
        out = []
        if self.args.rates and self.args.idle_s > 0:
            # What each process burns with no load at all (timers, polls, fetch waits, the JVM):
            # the part of the CPU per alert at a low rate that is not per alert.
            await asyncio.sleep(2)
            cpu0, t0 = self.cpu_now(), time.monotonic()
            await asyncio.sleep(self.args.idle_s)
            cpu1, t1 = self.cpu_now(), time.monotonic()
            idle = {name: round((cpu1[name] - cpu0.get(name, 0.0)) / (t1 - t0), 3) for name in cpu1}
            print(f"e2e idle, CPU cores busy per process: {idle}", flush=True)
            out.append({"rate": 0, "idle_s": round(t1 - t0, 1), "cpu_cores_idle": idle})
        for rate in rates:
            result = await self.measure(ingest_port, requests, run, rate)
            print(f"e2e at {rate}/s: p50 {fmt(result['delay_ms']['p50'], 1, ' ms')} p99 {fmt(result['delay_ms']['p99'], 1, ' ms')}, "
                  f"CPU ms per alert {result['cpu_ms_per_alert']}", flush=True)
            out.append(result)
            await asyncio.sleep(2)
        return out

    async def measure(self, ingest_port: int, requests, run: str, rate: int) -> dict:
        """One measured load at `rate` webhooks/s for `--duration` s on the running stack."""
        database_url = self.e2e_database_url
        ends = await self.page_ends()
        incident_ends = await self.page_ends(Topic.INCIDENTS)
        names = [f"bench-{run}-{rate}-{i}" for i in range(rate * self.args.duration)]
        bodies = requests(names)  # encoded before the clock starts: the generator only writes bytes
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        profilers = await self.start_profilers(stamp) if self.args.profile else []
        pg = await self.pg_stats_begin(database_url) if self.args.pg_stats else None
        cpu0 = self.cpu_now()
        sent = await open_loop(port=ingest_port, requests=bodies, rate=rate, max_connections=256)
        cpu1 = self.cpu_now()
        pg_stats = await self.pg_stats_end(pg) if pg is not None else None
        profiles = await self.stop_profilers(profilers) if profilers else None
        accepted = {name: sent.done_at[i] for i, name in enumerate(names) if sent.status[i] == 200}
        errors = len(names) - len(accepted)
        records = await self.pages_after(ends, want=len(accepted), timeout_s=60)
        first_page: dict[str, float] = {}
        for record in records:
            page = decode(PageRequested, record.value)
            first_page.setdefault(page.title, record.timestamp / 1000)
        opened: dict[str, float] = {}
        for record in await self.pages_after(incident_ends, want=len(accepted), timeout_s=10):
            event = decode(IncidentEvent, record.value)
            if event.kind == "opened":
                opened.setdefault(event.title, record.timestamp / 1000)
        delays = [(first_page[name] - at) * 1000 for name, at in accepted.items() if name in first_page]
        to_opened = [(opened[name] - at) * 1000 for name, at in accepted.items() if name in opened]
        to_page = [(first_page[name] - opened[name]) * 1000 for name in first_page if name in opened]
        cpu = {name: round(cpu1[name] - cpu0.get(name, 0.0), 2) for name in cpu1}
        cpu["load generator"] = round(sent.cpu_s, 2)
        latencies = [v * 1000 for v in sent.latency_s if v is not None]
        per_alert = {name: round(1000 * v / len(accepted), 2) for name, v in cpu.items()} if accepted else {}
        if pg_stats:
            per_alert["postgres backends by service"] = {k: round(1000 * v / len(accepted), 2) for k, v in pg_stats["backend_cpu_s_by_service"].items()} if accepted else {}
        return {"rate": rate, "duration_s": self.args.duration, "sent_s": round(sent.elapsed_s, 2),
                "achieved_rate": round(len(accepted) / sent.elapsed_s, 1) if sent.elapsed_s else None,
                "load_average_1m": float(Path("/proc/loadavg").read_text().split()[0]),
                "accepted": len(accepted), "errors": errors, "error_kinds": dict(sent.errors),
                "connections": sent.connections, "send_lag_ms": stats([v * 1000 for v in sent.send_lag_s]),
                "webhook_latency_ms": stats(latencies), "cpu_s_during_load": cpu, "cpu_ms_per_alert": per_alert,
                "cpu_cores_busy": round(sum(cpu.values()) / sent.elapsed_s, 2) if sent.elapsed_s else None,
                "paged": len(delays), "missing": len(accepted) - len(delays), "delay_ms": stats(delays),
                "accepted_to_opened_ms": stats(to_opened), "opened_to_page_ms": stats(to_page),
                **({"postgres": pg_stats} if pg_stats else {}), **({"profiles": profiles} if profiles else {})}

    async def configure_postgres(self) -> None:
        """`--pg-stats` (pg_stat_statements, I/O timing) and each `--pg-setting`, then a restart."""
        conn = await asyncpg.connect(self.postgres.url)
        settings = [s.partition("=")[::2] for s in self.args.pg_setting]
        preload = [v for k, v in settings if k == "shared_preload_libraries"]
        settings = [(k, v) for k, v in settings if k != "shared_preload_libraries"]
        if self.args.pg_stats:
            preload.insert(0, "pg_stat_statements")
            settings.append(("track_io_timing", "on"))
        try:
            if preload:
                await conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{','.join(preload)}'")
            for name, value in settings:
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        finally:
            await conn.close()
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.to_thread(self.postgres.start, timeout_s=60)


    # ---- part 3: what makes the broker busy -------------------------------------------------

    async def broker(self) -> dict:
        """The stack's Kafka traffic without the services: three topics, each produced at `--rate`
        messages/s one send at a time (ingest and the two relays: linger 0, acks=all, idempotent)
        and read by its own consumer group committing after every poll (as shared.kafka's
        ConsumerLoop does), plus an idle consumer — then the same with one setting changed. The
        broker's CPU seconds per variant, after a warm-up round (a fresh JVM compiles for a while)."""
        variants = [
            ("warm-up 1 (baseline on a fresh broker: the JVM is still compiling)", {}, {}, True),
            ("warm-up 2", {}, {}, True),
            ("warm-up 3", {}, {}, True),
            ("baseline: fetch_min_bytes=1, fetch_max_wait_ms=500, commit per poll, linger_ms=0", {}, {}, True),
            ("no offset commits", {}, {}, False),
            ("consumers fetch_min_bytes=64 kB, fetch_max_wait_ms=20", {"fetch_min_bytes": 65536, "fetch_max_wait_ms": 20}, {}, True),
            ("producers linger_ms=5", {}, {"linger_ms": 5}, True),
            ("all three changes", {"fetch_min_bytes": 65536, "fetch_max_wait_ms": 20}, {"linger_ms": 5}, False),
            ("baseline again (the noise between rounds)", {}, {}, True),
        ]
        out = []
        for number, (label, consumer_options, producer_options, commit) in enumerate(variants):
            topics = [f"bench-broker-{number}-{t}" for t in ("alerts", "incidents", "pages", "idle")]
            admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap_servers, request_timeout_ms=30_000)
            await admin.start()
            try:
                await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
            finally:
                await admin.close()
            result = await self._broker_round(topics, consumer_options, producer_options, commit)
            print(f"broker: {label}: {result}", flush=True)
            out.append({"variant": label, **result})
        return {"rate_per_topic": self.args.rate, "duration_s": self.args.duration, "variants": out}

    async def _broker_round(self, topics: list[str], consumer_options: dict, producer_options: dict, commit: bool) -> dict:
        servers = self.kafka.bootstrap_servers
        consumers = [AIOKafkaConsumer(t, bootstrap_servers=servers, group_id=f"{t}-group", enable_auto_commit=False,
                                      auto_offset_reset="earliest", **consumer_options) for t in topics]
        producers = [AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True,
                                      **{"linger_ms": 0, **producer_options}) for _ in topics[:3]]
        for client in [*consumers, *producers]:
            await client.start()
        received, commits, stopping = [0], [0], asyncio.Event()

        async def consume(consumer: AIOKafkaConsumer) -> None:
            while not stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=200)
                received[0] += sum(len(v) for v in batch.values())
                if batch and commit:
                    await consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
                    commits[0] += 1

        async def produce(producer: AIOKafkaProducer, topic: str, n: int) -> None:
            started, pending = time.monotonic(), []
            for i in range(n):
                await asyncio.sleep(max(0.0, started + i / self.args.rate - time.monotonic()))
                pending.append(await producer.send(topic, os.urandom(700), key=str(i).encode()))
            await asyncio.gather(*pending)

        readers = [asyncio.create_task(consume(c)) for c in consumers]
        await asyncio.sleep(3)  # groups joined
        pid = self.kafka.pid
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        n = self.args.rate * self.args.duration
        await asyncio.gather(*(produce(p, t, n) for p, t in zip(producers, topics, strict=False)))
        deadline = time.monotonic() + 10
        while received[0] < 3 * n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        cpu1, t1 = cpu_seconds(pid), time.monotonic()
        stopping.set()
        await asyncio.gather(*readers, return_exceptions=True)
        for client in [*consumers, *producers]:
            await client.stop()
        return {"broker_cpu_s": round(cpu1 - cpu0, 2), "wall_s": round(t1 - t0, 1), "messages": received[0], "commits": commits[0]}


def webhook(name: str) -> bytes:
    """One Alertmanager v4 notification: one critical alert in a group of its own."""
    labels = {"alertname": name, "severity": "critical", "service": "bench"}
    starts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    alert = {"status": "firing", "labels": labels, "annotations": {"summary": name}, "startsAt": starts,
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph",
             "fingerprint": secrets.token_hex(8)}
    return json.dumps({
        "version": "4", "groupKey": f'{{}}:{{alertname="{name}"}}', "truncatedAlerts": 0, "status": "firing",
        "receiver": "vigil", "groupLabels": {"alertname": name}, "commonLabels": labels,
        "commonAnnotations": {"summary": name}, "externalURL": "http://alertmanager:9093", "alerts": [alert],
    }).encode()


def fmt(value: float | None, scale: float = 1.0, unit: str = "") -> str:
    return "—" if value is None else f"{value * scale:,.1f}{unit}"


def report(results: dict) -> None:
    if "timers" in results:
        t = results["timers"]
        late, kafka = t["lateness_s"], t["page_on_kafka_s"]
        print(f"\nTimers: {t['timers']:,} due within {t['window_s']} s; fired {t['fired']:,}, pages on Kafka {t['pages']:,}, "
              f"never early: {t['never_early']}")
        print(f"  fired − due:          p50 {fmt(late['p50'], 1000, ' ms')}  p99 {fmt(late['p99'], 1000, ' ms')}  "
              f"max {fmt(late['max'], 1000, ' ms')}   (target p99 ≤ {TARGET_LATENESS_P99_S * 1000:.0f} ms)")
        print(f"  page on Kafka − due:  p50 {fmt(kafka['p50'], 1000, ' ms')}  p99 {fmt(kafka['p99'], 1000, ' ms')}  "
              f"max {fmt(kafka['max'], 1000, ' ms')}")
    if "end_to_end" in results:
        report_e2e(results["end_to_end"])
    if "knee" in results:
        for e in results["knee"]:
            if e["rate"]:
                report_e2e(e)
        print("\nKnee (webhook accepted → page; CPU ms per accepted alert during the load, per process):")
        for e in results["knee"]:
            if not e["rate"]:
                print(f"  idle ({e['idle_s']} s, no load): CPU cores busy " + ", ".join(f"{k} {v}" for k, v in e["cpu_cores_idle"].items()))
                continue
            d = e["delay_ms"]
            print(f"  {e['rate']:>4}/s asked, {e['achieved_rate']}/s: p50 {fmt(d['p50'], 1, ' ms')}  p99 {fmt(d['p99'], 1, ' ms')}  "
                  f"cores busy {e['cpu_cores_busy']}  " + ", ".join(f"{k} {v}" for k, v in e["cpu_ms_per_alert"].items()))


def report_e2e(e: dict) -> None:
    d = e["delay_ms"]
    print(f"\nWebhook accepted → page on Kafka, {e['rate']} critical alerts/s asked for {e['duration_s']} s, "
          f"{e['achieved_rate']}/s achieved (all answered in {e['sent_s']} s; load average {e['load_average_1m']}): "
          f"accepted {e['accepted']:,}, errors {e['errors']}, paged {e['paged']:,}, missing {e['missing']}")
    print(f"  p50 {fmt(d['p50'], 1, ' ms')}  p99 {fmt(d['p99'], 1, ' ms')}  max {fmt(d['max'], 1, ' ms')}   "
          f"(target p99 ≤ {TARGET_E2E_P99_MS:.0f} ms)")
    lag, lat = e["send_lag_ms"], e["webhook_latency_ms"]
    print(f"  load generator: {e['connections']} connections, send lag behind schedule p99 {fmt(lag['p99'], 1, ' ms')} "
          f"max {fmt(lag['max'], 1, ' ms')}; webhook latency p50 {fmt(lat['p50'], 1, ' ms')} p99 {fmt(lat['p99'], 1, ' ms')}")
    print("  CPU seconds during the load: " + ", ".join(f"{k} {v:.1f}" for k, v in e["cpu_s_during_load"].items()))
    for label, key in (("accepted → opened on vigil.incidents.v1", "accepted_to_opened_ms"),
                       ("opened → page on vigil.pages.v1", "opened_to_page_ms")):
        part = e[key]
        print(f"    {label}: p50 {fmt(part['p50'], 1, ' ms')}  p99 {fmt(part['p99'], 1, ' ms')}  max {fmt(part['max'], 1, ' ms')}")
    if "postgres" in e:
        pg = e["postgres"]
        print(f"  PostgreSQL during the load: backend CPU s by service {pg['backend_cpu_s_by_service']}; "
              f"commits {pg['commits']:,}; WAL {pg['wal']}")
        print("  active backends (samples every 20 ms: service, wait event or CPU, statement):")
        for key, count in list(pg["active_backend_samples_every_20ms"].items())[:15]:
            print(f"    {count:>6}  {key}")
        for st in pg["statements"][:20]:
            print(f"    {st['total_ms']:>9,.1f} ms {st['calls']:>7,} calls {st['rows']:>8,} rows  {st['query'][:110]}")
    for name, prof in (e.get("profiles") or {}).items():
        print(f"  py-spy {name} ({prof['samples']:,} samples, {prof['file']}):")
        for frame, pct in prof["top_self"][:10]:
            print(f"    {pct:5.1f}%  {frame[:130]}")


async def amain(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-escalator-"))
    run = Run(args, workdir)
    results: dict = {"started_at": datetime.now(UTC).isoformat(), "args": vars(args)}
    await asyncio.to_thread(run.kafka.start, timeout_s=120)
    await asyncio.to_thread(run.postgres.start, timeout_s=60)
    try:
        if args.pg_stats or args.pg_setting:
            await run.configure_postgres()
        await run.create_topics()
        if args.part in ("all", "timers"):
            results["timers"] = await run.timers()
        if args.part in ("all", "e2e"):
            runs = await run.end_to_end()
            if args.rates:
                results["knee"] = runs
            else:
                results["end_to_end"] = runs[0]
        if args.part == "broker":
            results["broker"] = await run.broker()
    finally:
        for child in reversed(run.children):
            await child.stop()
        await asyncio.to_thread(run.postgres.stop)
        await asyncio.to_thread(run.kafka.stop)
    report(results)
    out = REPO / "bench" / "results" / f"escalator-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {out}\nlogs: {workdir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "timers", "e2e", "broker"), default="all")
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--window-s", type=float, default=60.0, help="the due times spread over this long")
    parser.add_argument("--lead-s", type=float, default=15.0, help="the first timer is due this long after they are stored")
    parser.add_argument("--rate", type=int, default=200, help="critical alerts (webhooks) per second")
    parser.add_argument("--rates", type=lambda v: [int(x) for x in v.split(",")], default=None, metavar="R1,R2,...",
                        help="e2e: after the warm-up (at --rate), one measured load of --duration s at each rate in turn "
                        "on the same stack (the knee: delay and CPU per alert per process against the rate)")
    parser.add_argument("--idle-s", type=float, default=10.0,
                        help="with --rates: first this long with no load, each process's CPU then (the part that is not per alert)")
    parser.add_argument("--duration", type=int, default=30, help="seconds of load")
    parser.add_argument("--warmup-s", type=float, default=30.0,
                        help="seconds of the same load before the measured one (0: measure a cold stack)")
    parser.add_argument("--server-tree", help="run the services from this source tree (e.g. a `git archive` of "
                        "HEAD extracted to /tmp, for a before/after on the same machine minutes apart)")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false",
                        help="e2e: measure without ANALYZE after the warm-up (tables as a brand-new database has them)")
    parser.add_argument("--no-checkpoint", dest="checkpoint", action="store_false",
                        help="e2e: no CHECKPOINT after the warm-up (the measured load then creates new WAL segment files)")
    parser.add_argument("--service-env", action="append", default=[], metavar="VIGIL_NAME=VALUE",
                        help="e2e: an environment variable for every service process (repeatable), e.g. a deployment's setting")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a PostgreSQL setting for the bench's server (repeatable; ALTER SYSTEM, then a restart)")
    parser.add_argument("--profile", action="store_true", help="e2e: py-spy on each service process during the load")
    parser.add_argument("--pg-stats", action="store_true",
                        help="e2e: pg_stat_statements, WAL and per-service backend CPU during the load")
    args = parser.parse_args(argv)
    try:
        import uvloop  # the load generator runs in this process: the lighter loop leaves more CPU to the stack
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(amain(args))
    return uvloop.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
