"""Helpers for the escalator's integration tests: incident events in, pages out, on the real broker.
Everything that reads or writes Kafka takes the test module's topic prefix (`prefix`: the
`topic_prefix` fixture), since the module's services produce and consume `<prefix><topic>`."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from shared.events import IncidentEvent, PageRequested, Topic, decode, encode
from tests.support import TopicCursor, wait_for

# Wednesday noon UTC. The weekly rotations start Monday 2026-01-05 09:00 UTC; 2026-12-02 is in shift
# 47 (331 days after the anchor), so the primary is participants[47 % 2] = bob, the backup dave.
START = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CONFIG = """
schedules:
  - name: ops
    primary: {participants: [alice, bob], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
    backup: {participants: [carol, dave], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
people:
  bob: {contact: "+49 30 1234"}
"""
# What these tests start the escalator with: a ticker that looks every 50 ms, links in pages on a known base.
TEST_SETTINGS = {"escalator_max_idle_s": 0.05, "escalator_public_url": "https://vigil.example"}


def run_escalator(running_escalator, config_dir: Path, *, clock, config: str = CONFIG, app: dict | None = None, **overrides):
    """`running_escalator` (the module's database and topics) with `config` as its configuration
    file (written to `config_dir`) and TEST_SETTINGS; `overrides` win."""
    config_file = Path(config_dir) / "escalator.yaml"
    if not config_file.exists() or config_file.read_text() != config:  # a replica's file is left as it is
        config_file.write_text(config)
    return running_escalator(clock=clock, app=app, escalator_config_file=str(config_file), **{**TEST_SETTINGS, **overrides})


async def warm_up(kafka_broker, api: httpx.Client, clock, *, prefix: str) -> None:
    """Wait until the escalator's consumer has joined its group and reads: the first test then
    measures paging, not the group join of a just-started broker."""
    iid = new_incident_id()
    resolved = incident_event(iid, kind="resolved", version=1, at=clock(), status="resolved")
    await publish(kafka_broker, resolved, prefix=prefix)
    wait_for(lambda: api.get(f"/api/v1/incidents/{iid}/escalation").status_code == 200, timeout_s=60, what="consumer joined")


def new_incident_id() -> int:
    # A fresh id per test (the module's escalator keeps every incident it saw, and a test must not
    # meet another test's incident), far above the ids the incident service gives its incidents.
    return random.randrange(10**12, 10**13)


def incident_event(iid: int, *, kind: str, version: int, severity: int = 1, at: datetime,
                   status: str = "investigating", acknowledged_by: str | None = None) -> IncidentEvent:
    return IncidentEvent(
        event_id=IncidentEvent.id_for(incident_id=iid, version=version, kind=kind), occurred_at=at, source="incidents",
        kind=kind, incident_id=iid, number=f"INC-{iid}", version=version, title="checkout is down",
        severity=severity, status=status, acknowledged_by=acknowledged_by, detected_at=at,
    )


async def publish(kafka_broker, *events: IncidentEvent, prefix: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            key, value, headers = encode(event, ce_source="/test")
            await producer.send_and_wait(prefix + Topic.INCIDENTS, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def pages_cursor(kafka_broker, *, prefix: str) -> TopicCursor:
    """A cursor at the end of the module's pages topic: `pages_of` reads what comes after it."""
    return await TopicCursor.at_end(kafka_broker.bootstrap_servers, prefix + Topic.PAGES)


async def page_records(cursor: TopicCursor, iid: int, *, prefix: str, expected: int, timeout_s: float = 10,
                       settle_s: float = 0.5) -> list:
    """The page records of incident `iid` after the cursor (on `<prefix>vigil.pages.v1`), once
    `expected` arrived (and `settle_s` more, to catch extras) or `timeout_s` passed."""
    if cursor.topic != prefix + Topic.PAGES:
        raise ValueError(f"the cursor reads {cursor.topic!r}, not the module's pages topic {prefix + Topic.PAGES!r}")
    deadline = time.monotonic() + timeout_s
    while True:
        records = [r for r in await cursor.read(expected=10**9, timeout_s=0.25, settle_s=0)
                   if decode(PageRequested, r.value).incident_id == iid]
        if len(records) >= expected or time.monotonic() > deadline:
            break
    if len(records) >= expected and settle_s:
        await asyncio.sleep(settle_s)  # "no extra page comes": a wait that is the check
        records = [r for r in await cursor.read(expected=10**9, timeout_s=0.3, settle_s=0)
                   if decode(PageRequested, r.value).incident_id == iid]
    return records


async def pages_of(cursor: TopicCursor, iid: int, *, prefix: str, **kwargs) -> list[PageRequested]:
    """`page_records` decoded: `await pages_of(cursor, iid, prefix=topic_prefix, expected=1)`."""
    return [decode(PageRequested, r.value) for r in await page_records(cursor, iid, prefix=prefix, **kwargs)]


def escalation(api: httpx.Client, iid: int) -> dict:
    return api.get(f"/api/v1/incidents/{iid}/escalation").json()


async def eventually(predicate, *, timeout_s: float = 20.0, interval_s: float = 0.05, what: str = "condition"):
    """`wait_for` for async tests whose condition needs this event loop to run (e.g. asyncpg
    listeners): polls with `asyncio.sleep`, returns the first truthy result or fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)
    return result
