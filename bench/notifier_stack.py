"""The processes of the notifier benchmark: a real Kafka broker and PostgreSQL, the services as
`python -m services.<name>` (what a container runs), the peers (bench/notifier_peers.py), each in
its own session and dying with the benchmark (bench/harness.py); their CPU time; the pages and
people the benchmark produces itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench.harness import REPO, Child, cpu_seconds, distinct_free_ports, start_child
from bench.incidents_load import percentile
from shared.events import Event, encode
from shared.local.kafka_broker import LocalKafka
from shared.local.postgres_server import LocalPostgres

PARTITIONS = 6
CE_SOURCE = "/bench/notifier"
LINK_KEY = "bench-link-key-0123456789-abcdefghijklmnop"
WEBHOOK_KEY = "bench-webhook-key-0123456789-abcdefghijklm"
MAIL_DOMAIN = "bench.vigil.test"


@dataclass
class Peer:
    """A peer process (mail sink or webhook receiver) and its stdin/stdout commands."""

    child: Child
    port: int
    dumps: Path

    async def _ask(self, line: str, timeout_s: float = 120) -> str:
        self.child.proc.stdin.write(line.encode() + b"\n")
        await self.child.proc.stdin.drain()
        answer = await asyncio.wait_for(self.child.proc.stdout.readline(), timeout_s)
        if not answer:
            raise RuntimeError(f"the {self.child.name} peer exited; see {self.child.log}")
        return answer.decode().strip()

    async def count(self) -> int:
        """How many distinct ids arrived so far."""
        return int(await self._ask("count"))

    async def arrivals(self) -> dict:
        """{"arrivals": {id: [arrival times]}, "rejected": n}."""
        path = self.dumps / f"{self.child.name}-{secrets.token_hex(4)}.json"
        if await self._ask(f"dump {path}") != "ok":
            raise RuntimeError(f"the {self.child.name} peer could not dump its arrivals")
        data = json.loads(path.read_text())
        path.unlink()
        return data


@dataclass
class Stack:
    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    children: list[Child] = field(default_factory=list)
    log_level: str = field(default_factory=lambda: os.environ.get("BENCH_LOG_LEVEL", "warning"))
    tree: Path = REPO  # where the services' code comes from (another commit's, for a before/after)

    def __post_init__(self) -> None:
        kafka_port, controller_port, pg_port = distinct_free_ports(3)
        self.kafka = LocalKafka(self.workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="768m",
                                partitions=PARTITIONS)
        self.postgres = LocalPostgres(self.workdir / "postgres", port=pg_port, database="vigil")
        self._started: list[str] = []

    async def start(self) -> None:
        # Shielded: if interrupted meanwhile, the start finishes and cleanup() stops what it started.
        await asyncio.shield(asyncio.ensure_future(asyncio.to_thread(self._start_servers)))

    def _start_servers(self) -> None:
        self.kafka.start(timeout_s=120)
        self._started.append("kafka")
        self.postgres.start(timeout_s=60)
        self._started.append("postgres")

    async def cleanup(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                await child.stop()
        if "postgres" in self._started:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.postgres.stop)
        if "kafka" in self._started:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.kafka.stop)

    async def create_topics(self, topics: Iterable[str]) -> None:
        """Topics with the broker's append time as record timestamp (when a page was on Kafka)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap_servers, request_timeout_ms=30_000)
        await admin.start()
        try:
            config = {"message.timestamp.type": "LogAppendTime"}
            await admin.create_topics([NewTopic(t, PARTITIONS, 1, topic_configs=config) for t in topics])
        finally:
            await admin.close()

    # ---- processes ---------------------------------------------------------------------------

    def service_env(self, database_url: str | None) -> dict[str, str]:
        return {"PYTHONPATH": str(self.tree), "VIGIL_LOG_LEVEL": self.log_level, "VIGIL_LOG_FORMAT": "json",
                "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers, "VIGIL_TOPIC_PARTITIONS": str(PARTITIONS),
                "VIGIL_API_TOKENS": f"{self.token}:admin", "VIGIL_INGEST_TOKENS": self.token,
                **({"VIGIL_DATABASE_URL": database_url} if database_url else {})}

    async def service(self, name: str, env: dict[str, str], *, database_url: str | None) -> int:
        """Start `python -m services.<name>` on a free port and wait until /readyz says 200; its port."""
        port = distinct_free_ports(1)[0]
        child = await start_child(
            self.children, name, sys.executable, "-m", f"services.{name}", log=self.workdir / f"{name}.log", cwd=self.tree,
            env={**self.service_env(database_url), f"VIGIL_{name.upper()}_PORT": str(port), **env})
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + 90
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return port
                if child.proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not become ready; see {child.log}")
                await asyncio.sleep(0.2)

    async def peer(self, kind: str) -> Peer:
        """The mail sink ("mail") or the webhook receiver ("webhook"), listening."""
        port = distinct_free_ports(1)[0]
        option = "--smtp-port" if kind == "mail" else "--port"
        child = await start_child(
            self.children, f"{kind}-peer", sys.executable, "-m", "bench.notifier_peers", kind, option, str(port),
            log=self.workdir / f"{kind}-peer.log", cwd=REPO, capture=True, stdin_pipe=True,
            env={"PYTHONPATH": str(REPO), "BENCH_WEBHOOK_KEY": WEBHOOK_KEY})
        ready = await asyncio.wait_for(child.proc.stdout.readline(), 30)
        if ready != b"ready\n":
            raise RuntimeError(f"the {kind} peer did not start ({ready!r}); see {child.log}")
        return Peer(child, port, self.workdir)

    async def new_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.postgres.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.postgres.url.rsplit("/", 1)[0] + f"/{name}"

    # ---- measuring ---------------------------------------------------------------------------

    def cpu_now(self) -> dict[str, float]:
        """CPU seconds used so far by each process: the benchmark's children, the broker, PostgreSQL
        (the postmaster, its reaped backends and the live ones) and this process (the producer or
        the load generator)."""
        out = {child.name: cpu_seconds(child.proc.pid) or 0.0 for child in self.children}
        out["kafka"] = cpu_seconds(self.kafka.pid) or 0.0
        with contextlib.suppress(psutil.Error, TypeError):
            postmaster = psutil.Process(self.postgres.pid)
            t = postmaster.cpu_times()
            total = t.user + t.system + t.children_user + t.children_system
            for backend in postmaster.children():
                with contextlib.suppress(psutil.Error):
                    bt = backend.cpu_times()
                    total += bt.user + bt.system
            out["postgres"] = total
        out["benchmark"] = cpu_seconds(os.getpid()) or 0.0
        return out

    async def analyze(self, database_url: str) -> None:
        """What autovacuum does in a deployment's first minute (ANALYZE: plans for the tables as the
        warm-up filled them) and a CHECKPOINT (old WAL segments recycled, not new files created)."""
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("ANALYZE")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    async def producer(self) -> AIOKafkaProducer:
        """A producer as the services' outbox relays have one (acks=all, idempotent, no linger)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.kafka.bootstrap_servers, acks="all", enable_idempotence=True,
                                    linger_ms=0)
        await producer.start()
        return producer


async def publish(producer: AIOKafkaProducer, events: Sequence[Event]) -> None:
    """Send `events` (pipelined) and wait until the broker has all of them."""
    pending = []
    for event in events:
        key, value, headers = encode(event, ce_source=CE_SOURCE)
        pending.append(await producer.send(event.topic, value, key=key, headers=headers))
    await asyncio.gather(*pending)


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat (other work shares these cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values[:8]) - values[3] - values[4], sum(values[:8])


def stats_ms(values_s: list[float]) -> dict:
    """Percentiles in milliseconds of durations in seconds."""
    ordered = sorted(v * 1000 for v in values_s)
    pick = lambda q: None if not ordered else round(percentile(ordered, q), 1)
    return {"count": len(ordered), "p50": pick(50), "p95": pick(95), "p99": pick(99),
            "max": round(ordered[-1], 1) if ordered else None}


def per_unit(cpu: dict[str, float], count: int) -> dict[str, float]:
    """CPU milliseconds per delivery (or alert) of each process."""
    return {name: round(1000 * v / count, 3) for name, v in cpu.items()} if count else {}


async def end_offsets(bootstrap_servers: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        await consumer.stop()


async def records_after(bootstrap_servers: str, ends: dict[TopicPartition, int], *, want: int, timeout_s: float) -> list:
    """The records after `ends`, until `want` arrived or `timeout_s` passed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
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
