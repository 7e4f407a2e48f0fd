"""Test helpers that talk to the real broker and run real servers (no mocks)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from shared.events import AlertEvent

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "alertmanager"  # captured from a real Alertmanager 0.25

FIXTURE_PAYLOADS = sorted(p.name for p in FIXTURES.glob("[0-9][0-9]-*.json"))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


class ServerThread:
    """A real uvicorn server for `app` on 127.0.0.1:`port`, in its own thread and event loop."""

    def __init__(self, app, port: int) -> None:
        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
        )
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class TopicCursor:
    """Where a topic's partitions ended when the cursor was taken: read only what comes after."""

    bootstrap: str
    topic: str
    offsets: dict[int, int]

    @classmethod
    async def at_end(cls, bootstrap: str, topic: str) -> TopicCursor:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
            ends = await consumer.end_offsets(tps) if tps else {}
            return cls(bootstrap, topic, {tp.partition: off for tp, off in ends.items()})
        finally:
            await consumer.stop()

    async def read(self, *, expected: int, timeout_s: float = 15.0, settle_s: float = 0.5) -> list:
        """Read messages after the cursor until `expected` arrived (then wait `settle_s` more for
        any extra, which a test should see) or `timeout_s` passed."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        records: list = []
        try:
            partitions = await _partitions(self.bootstrap, self.topic) or set(self.offsets)
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.offsets.get(tp.partition, 0))
            deadline = time.monotonic() + timeout_s
            settle_until = None
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for recs in batch.values():
                    records.extend(recs)
                if len(records) >= expected:
                    settle_until = settle_until or time.monotonic() + settle_s
                    if time.monotonic() >= settle_until:
                        break
        finally:
            await consumer.stop()
        return records


async def _partitions(bootstrap: str, topic: str) -> set[int]:
    """The topic's partitions (a producer's `partitions_for` waits for the topic's metadata)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return set(await producer.partitions_for(topic))
    finally:
        await producer.stop()


async def topic_exists(bootstrap: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return topic in await admin.list_topics()
    finally:
        await admin.close()


def wait_for(predicate, *, timeout_s: float = 20.0, interval_s: float = 0.1, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; returns it, or fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def unique_payload(name: str, run: str) -> dict:
    """A fixture payload whose fingerprints and group are unique to `run`, so tests that share the
    broker's topics never see each other's alerts."""
    raw = fixture_json(name)
    raw["groupKey"] = f"{raw['groupKey']}:{run}"
    for alert in raw["alerts"]:
        alert["fingerprint"] = f"{run}{alert['fingerprint']}"[:32]
        alert["labels"]["run"] = run
    return raw


class ManualClock:
    """A clock the test moves (GoAlert's FastForward): services built with it see `now` jump, so a
    5-minute escalation is checked in well under a second. Thread-safe enough for reads from
    server threads: a datetime assignment is atomic."""

    def __init__(self, start=None) -> None:
        from datetime import UTC, datetime

        self.now = start or datetime.now(UTC)

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)


def alert_event(n: int, *, source: str = "test") -> AlertEvent:
    """A firing alert event number `n` (fingerprint `fp<n>`), for tests that need many distinct ones."""
    starts = datetime(2026, 11, 26, 12, n % 60, tzinfo=UTC)
    return AlertEvent(
        event_id=AlertEvent.id_for(source=source, fingerprint=f"fp{n}", status="firing", starts_at=starts, ends_at=None),
        occurred_at=starts, source=source, fingerprint=f"fp{n}", status="firing",
        labels={"alertname": f"A{n}"}, starts_at=starts,
    )
