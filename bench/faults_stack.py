"""The fault benchmark's stack: Vigil's services as `python -m services.<name>` processes on a real
broker and PostgreSQL, each of which can be SIGKILLed and started again (replicas too), the broker
itself killed and restarted, and a sampler of consumer lag, outbox backlog and RSS.

The broker and PostgreSQL are given (the benchmark starts its own, the test suite passes its
session's); everything else is the stack's own: a database, a topic prefix, consumer groups."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench.harness import (
    REPO,
    Child,
    cpu_seconds,
    distinct_free_ports,
    start_child,
    tree_cpu_seconds,
)
from shared.events import Topic
from shared.local.kafka_broker import STOP_MARKER, LocalKafka
from shared.local.postgres_server import LocalPostgres

SERVICES = ("ingest", "incidents", "escalator", "slo")
CONSUMER_SERVICES = ("incidents", "escalator", "slo")

# Critical incidents page the primary at once and the backup `backup_after_s` later (nobody
# acknowledges), so every incident has two due pages and the second one is a timer that falls due
# while a service may be dead. One person per tier at any time (no hand-off overlap).
ESCALATOR_CONFIG = """\
policy:
  critical:
    steps:
      - {{action: page, role: primary}}
      - {{after: {backup_after_s}s, action: page, role: backup}}
    repeat: 0
schedules:
  - name: platform
    primary: {{participants: [alice, bob], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00", overlap_minutes: 0}}
    backup: {{participants: [carol, dave], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00", overlap_minutes: 0}}
people:
  alice: {{contact: "alice@example.com"}}
  bob: {{contact: "bob@example.com"}}
  carol: {{contact: "carol@example.com"}}
  dave: {{contact: "dave@example.com"}}
default_schedule: platform
"""


@dataclass
class Replica:
    """One process of a service; `child` is its current incarnation (a new one after each restart)."""

    service: str
    index: int
    port: int
    env: dict[str, str]
    child: Child | None = None
    starts: int = 0

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None and self.child.proc.returncode is None else None


Offsets = dict[int, tuple[int, int]]  # partition -> (committed, end) of one consumer group on its topic


@dataclass
class Sample:
    """One look at the stack: seconds since the epoch, RSS bytes per replica, per consumer group its
    offsets on its topic, and the outbox / timer backlog."""

    at: float
    rss: dict[str, int | None]
    cpu: dict[str, float | None]  # CPU seconds so far per replica, the broker, PostgreSQL, this process
    offsets: dict[str, Offsets]
    backlog: dict[str, int | None]  # unpublished outbox rows, overdue timers; PostgreSQL's deadlock count so far

    @property
    def lag(self) -> dict[str, int]:
        """Per consumer group: messages on its topic not yet committed."""
        return {name: sum(end - done for done, end in parts.values()) for name, parts in self.offsets.items()}

    def committed(self, name: str) -> int | None:
        parts = self.offsets.get(name)
        return sum(done for done, _end in parts.values()) if parts else None


@dataclass
class Stack:
    workdir: Path
    bootstrap: str
    admin_url: str  # a PostgreSQL URL on which the stack may create its database
    kafka: LocalKafka | None = None  # given when the stack may kill and restart the broker (and for its CPU time)
    postgres: LocalPostgres | None = None  # given for its CPU time
    partitions: int = 6
    log_level: str = "warning"
    backup_after_s: float = 5.0
    slo_evaluate_interval_s: float = 2.0
    tree: Path = REPO  # where the services' code comes from (another tree: a snapshot, another commit)
    run: str = field(default_factory=lambda: secrets.token_hex(3))
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    replicas: list[Replica] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.prefix = f"faults{self.run}."
        self.database_url = ""
        self.pool: asyncpg.Pool | None = None
        self._sampler: asyncio.Task | None = None
        self._lag_clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    # ---- set-up ------------------------------------------------------------------------------

    def group(self, service: str) -> str:
        return f"faults-{self.run}-{service}"

    def topic(self, name: str) -> str:
        return self.prefix + name

    @property
    def lag_groups(self) -> dict[str, tuple[str, str]]:
        """What is sampled: name -> (consumer group, topic) of each consumer service's main loop."""
        return {
            "incidents": (self.group("incidents"), Topic.ALERTS),
            "incidents-pages": (self.group("incidents") + "-pages", Topic.PAGES),
            "escalator": (self.group("escalator"), Topic.INCIDENTS),
            "slo": (self.group("slo"), Topic.METRICS),
        }

    async def open(self) -> None:
        """The stack's database and topics (incidents and pages with the broker's append time, which
        times the effects), the escalator's configuration, a pool, the sampler."""
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "faults_{self.run}"')
        finally:
            await conn.close()
        self.database_url = self.admin_url.rsplit("/", 1)[0] + f"/faults_{self.run}"
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30_000)
        await admin.start()
        try:
            timed = {"message.timestamp.type": "LogAppendTime"}
            await admin.create_topics([
                NewTopic(self.topic(t), self.partitions, 1, topic_configs=timed if t in (Topic.INCIDENTS, Topic.PAGES) else {})
                for t in (Topic.ALERTS, Topic.INCIDENTS, Topic.PAGES, Topic.TICKETS, Topic.METRICS)
            ])
        finally:
            await admin.close()
        config = self.workdir / "escalator.yaml"
        config.write_text(ESCALATOR_CONFIG.format(backup_after_s=f"{self.backup_after_s:g}"))
        self.escalator_config = config
        self.pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=5)
        self._sampler = asyncio.create_task(self._sample_forever(), name="faults-sampler")

    def _env(self, service: str, port: int) -> dict[str, str]:
        env = {
            "PYTHONPATH": str(self.tree), "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "VIGIL_TOPIC_PREFIX": self.prefix,
            "VIGIL_TOPIC_PARTITIONS": str(self.partitions), "VIGIL_LOG_LEVEL": self.log_level, "VIGIL_LOG_FORMAT": "json",
            "VIGIL_HOST": "127.0.0.1", f"VIGIL_{service.upper()}_PORT": str(port),
        }
        if service == "ingest":
            return {**env, "VIGIL_INGEST_TOKENS": self.token}
        env.update({"VIGIL_DATABASE_URL": self.database_url, "VIGIL_API_TOKENS": f"{self.token}:admin",
                    f"VIGIL_{service.upper()}_CONSUMER_GROUP": self.group(service)})
        if service == "escalator":
            env["VIGIL_ESCALATOR_CONFIG_FILE"] = str(self.escalator_config)
        if service == "slo":
            env["VIGIL_SLO_EVALUATE_INTERVAL_S"] = f"{self.slo_evaluate_interval_s:g}"
        return env

    async def add(self, service: str) -> Replica:
        """Start one more replica of `service` (same database, same consumer group) and wait until ready."""
        index = sum(1 for r in self.replicas if r.service == service)
        port = next(p for p in distinct_free_ports(len(self.replicas) + 1) if p not in {r.port for r in self.replicas})
        replica = Replica(service, index, port, self._env(service, port))
        self.replicas.append(replica)
        await self.spawn(replica)
        await self.wait_ready(replica)
        return replica

    def of(self, service: str) -> list[Replica]:
        return [r for r in self.replicas if r.service == service]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.of(service)[0].port}"

    # ---- processes ---------------------------------------------------------------------------

    async def spawn(self, replica: Replica) -> None:
        replica.child = await start_child(
            self.children, replica.name, sys.executable, "-m", f"services.{replica.service}",
            log=self.workdir / f"{replica.name}.log", env=replica.env, cwd=self.tree,
        )
        replica.starts += 1

    async def wait_ready(self, replica: Replica, timeout_s: float = 90.0) -> float:
        """Wait for /readyz 200; returns the time (epoch seconds) it first answered so."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                child = replica.child
                if child is None or child.proc.returncode is not None:
                    raise RuntimeError(f"{replica.name} exited ({child and child.proc.returncode}); see {child and child.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{replica.port}/readyz")).status_code == 200:
                        return time.time()
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{replica.name} not ready after {timeout_s} s; see {replica.child.log}")

    async def kill(self, replica: Replica) -> None:
        """SIGKILL the replica's process (its whole process group) and wait until it is gone."""
        child = replica.child
        if child is None or child.proc.returncode is not None:
            raise RuntimeError(f"{replica.name} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        await asyncio.wait_for(child.proc.wait(), 10)

    async def kill_broker(self) -> None:
        """SIGKILL the broker and wait until it is gone."""
        if self.kafka is None or self.kafka.pid is None:
            raise RuntimeError("the stack was not given a broker it may kill")
        os.kill(self.kafka.pid, signal.SIGKILL)
        proc = self.kafka._proc  # reaped here; LocalKafka.start makes a new one
        await asyncio.to_thread(proc.wait, 10)
        await asyncio.to_thread(mark_stopped, self.kafka)

    async def start_broker(self) -> None:
        await asyncio.to_thread(self.kafka.start, timeout_s=180)

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sampler
        await asyncio.gather(*(c.stop() for c in reversed(self.children)), return_exceptions=True)
        if self._lag_clients is not None:
            for client in self._lag_clients:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop(), 10)
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 10)

    # ---- sampling ----------------------------------------------------------------------------

    async def _sample_forever(self, interval_s: float = 1.0) -> None:
        while True:
            started = time.monotonic()
            sample = Sample(time.time(), self._rss(), self._cpu(), {}, {})
            with contextlib.suppress(Exception):
                sample.offsets = await asyncio.wait_for(self.group_offsets(), 3)
            with contextlib.suppress(Exception):
                sample.backlog = await asyncio.wait_for(self._backlog(), 3)
            self.samples.append(sample)
            await asyncio.sleep(max(0.05, interval_s - (time.monotonic() - started)))

    def _rss(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for replica in self.replicas:
            pid = replica.pid
            try:
                out[replica.name] = psutil.Process(pid).memory_info().rss if pid else None
            except psutil.Error:
                out[replica.name] = None
        return out

    def _cpu(self) -> dict[str, float | None]:
        out = {r.name: cpu_seconds(r.pid) for r in self.replicas}
        out["kafka"] = cpu_seconds(self.kafka.pid) if self.kafka is not None else None
        out["postgres"] = tree_cpu_seconds(self.postgres.pid) if self.postgres is not None else None
        out["bench"] = time.process_time()
        return out

    async def group_offsets(self) -> dict[str, Offsets]:
        """Per consumer group of `lag_groups`: each partition's committed and end offset now."""
        if self._lag_clients is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5_000)
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, request_timeout_ms=5_000)
            await admin.start()
            await consumer.start()
            self._lag_clients = (admin, consumer)
        admin, consumer = self._lag_clients
        tps = {t: [TopicPartition(self.topic(t), p) for p in range(self.partitions)]
               for t in {topic for _g, topic in self.lag_groups.values()}}
        # Committed offsets first, then the ends: read the other way round, a commit landing in between
        # could put a committed offset past the end read before it.
        committed = {name: {tp: max(0, om.offset) for tp, om in (await admin.list_consumer_group_offsets(group)).items()}
                     for name, (group, _topic) in self.lag_groups.items()}
        ends: dict[TopicPartition, int] = {}
        for parts in tps.values():
            ends.update(await consumer.end_offsets(parts))
        # A group whose offsets do not come back (its coordinator is loading them after a broker
        # restart) is left out of this look rather than counted as never having consumed.
        return {name: {tp.partition: (committed[name].get(tp, 0), ends[tp]) for tp in tps[topic]}
                for name, (_group, topic) in self.lag_groups.items() if committed[name]}

    async def _backlog(self) -> dict[str, int | None]:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM incidents.outbox WHERE published_at IS NULL) AS incidents_outbox, "
                "(SELECT count(*) FROM escalator.outbox WHERE published_at IS NULL) AS escalator_outbox, "
                "(SELECT count(*) FROM escalator.timer WHERE state = 'pending' AND fire_at < now() - interval '1 second') "
                "AS escalator_timers_overdue, "
                "(SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()) AS deadlocks_so_far")
        return dict(row)

    def log_marks(self) -> dict[str, int]:
        """Where each replica's log ends now (a replica's restarts append to the same file)."""
        marks = {}
        for replica in self.replicas:
            path = self.workdir / f"{replica.name}.log"
            marks[replica.name] = path.stat().st_size if path.exists() else 0
        return marks

    def log_warnings(self, marks: dict[str, int], top: int = 12) -> dict[str, int]:
        """The services' log lines at warning and above since `marks`, counted by replica, level and event."""
        counts: dict[str, int] = {}
        for replica in self.replicas:
            path = self.workdir / f"{replica.name}.log"
            if not path.exists():
                continue
            with open(path, "rb") as f:
                f.seek(marks.get(replica.name, 0))
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
                        key = f"{replica.name} {entry['level']}: {str(entry.get('event'))[:90]}"
                        counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:top])

    def window(self, since: float, until: float | None = None) -> list[Sample]:
        return [s for s in self.samples if s.at >= since and (until is None or s.at <= until)]


def mark_stopped(kafka: LocalKafka) -> None:
    """What LocalKafka.stop writes to the broker's log: the next start then waits for its own
    "started" line, as after a clean stop."""
    with open(kafka.log_file, "ab") as log:
        log.write(b"\n" + STOP_MARKER + b" (SIGKILL by bench.faults)\n")


def cpu_cores(samples: list[Sample]) -> dict[str, float]:
    """Per process: CPU cores used on average between the first and the last of `samples`."""
    if len(samples) < 2 or samples[-1].at <= samples[0].at:
        return {}
    first, last, wall = samples[0].cpu, samples[-1].cpu, samples[-1].at - samples[0].at
    return {name: round((last[name] - first[name]) / wall, 2) for name in last
            if last.get(name) is not None and first.get(name) is not None and last[name] >= first[name]}


def first_after(times: list[float], after: float) -> float | None:
    """The earliest of `times` later than `after`."""
    later = [t for t in times if t > after]
    return min(later) if later else None


def lag_summary(samples: list[Sample], names: list[str]) -> dict[str, dict]:
    """Per consumer group: the largest and the last lag seen in `samples` (None: never sampled)."""
    out = {}
    for name in names:
        values = [s.lag[name] for s in samples if name in s.offsets]
        out[name] = {"max": max(values) if values else None, "final": values[-1] if values else None}
    return out


def resumed_at(samples: list[Sample], name: str, baseline: Offsets, after: float) -> float | None:
    """When the group had consumed again on every partition that had messages waiting: the first
    sample after `after` in which each partition's committed offset moved past `baseline` (the
    offsets right after the fault) or has had nothing new to read."""
    for s in samples:
        parts = s.offsets.get(name)
        if s.at <= after or not parts:
            continue
        before = {p: baseline.get(p, (0, 0))[0] for p in parts}
        if all(done > before[p] or end <= before[p] for p, (done, end) in parts.items()) \
                and any(done > before[p] for p, (done, _end) in parts.items()):
            return s.at
    return None
