"""Helpers for the escalator's integration tests: incident events in, pages out, on the real broker."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime

import httpx
import asyncpg
from aiokafka import AIOKafkaProducer

from services.escalator.config import EscalatorSettings
from shared.events import IncidentEvent, PageRequested, Topic, decode, encode
from tests.support import TopicCursor, wait_for


ADMIN = "escalator-admin-token-0123"
VIEWER = "escalator-viewer-token-0123"
RESPONDER = "escalator-responder-tok-01"
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


async def move_incident_ids(database_url: str) -> None:
    """Start the incident service's ids far above other test modules' (their incident services read
    the same pages topic and would take these pages for their own incidents)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"ALTER SEQUENCE incidents.incident_id_seq RESTART WITH {random.randrange(10**11, 10**12)}")
    finally:
        await conn.close()


def settings_for(kafka_broker, database_url, config_file, **extra) -> EscalatorSettings:
    defaults = dict(
        escalator_consumer_group=f"escalator-{uuid.uuid4().hex[:6]}", escalator_max_idle_s=0.05,
        escalator_public_url="https://vigil.example",
    )
    return EscalatorSettings.load(
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers, database_url=database_url,
        api_tokens=[f"{ADMIN}:admin", f"{VIEWER}:viewer", f"{RESPONDER}:responder"],
        escalator_config_file=config_file, **{**defaults, **extra},
    )


async def warm_up(kafka_broker, api: httpx.Client, clock) -> None:
    """Wait until the escalator's consumer has joined its group and reads: the first test then
    measures paging, not the group join of a just-started broker."""
    iid = new_incident_id()
    resolved = incident_event(iid, kind="resolved", version=1, at=clock(), status="resolved")
    await publish(kafka_broker, resolved)
    wait_for(lambda: api.get(f"/api/v1/incidents/{iid}/escalation").status_code == 200, timeout_s=60, what="consumer joined")


def new_incident_id() -> int:
    # Far above the incident service's ids, so other test modules never see these pages as theirs.
    return random.randrange(10**12, 10**13)


def incident_event(iid: int, *, kind: str, version: int, severity: int = 1, at: datetime,
                   status: str = "investigating", acknowledged_by: str | None = None) -> IncidentEvent:
    return IncidentEvent(
        event_id=IncidentEvent.id_for(incident_id=iid, version=version, kind=kind), occurred_at=at, source="incidents",
        kind=kind, incident_id=iid, number=f"INC-{iid}", version=version, title="checkout is down",
        severity=severity, status=status, acknowledged_by=acknowledged_by, detected_at=at,
    )


async def publish(kafka_broker, *events: IncidentEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            key, value, headers = encode(event, ce_source="/test")
            await producer.send_and_wait(Topic.INCIDENTS, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def page_records(cursor: TopicCursor, iid: int, *, expected: int, timeout_s: float = 10, settle_s: float = 0.5) -> list:
    """The page records of incident `iid` after the cursor, once `expected` arrived (and `settle_s`
    more, to catch extras) or `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = [r for r in await cursor.read(expected=10**9, timeout_s=0.25, settle_s=0)
                   if decode(PageRequested, r.value).incident_id == iid]
        if len(records) >= expected or time.monotonic() > deadline:
            break
    if len(records) >= expected and settle_s:
        await asyncio.sleep(settle_s)
        records = [r for r in await cursor.read(expected=10**9, timeout_s=0.3, settle_s=0)
                   if decode(PageRequested, r.value).incident_id == iid]
    return records


async def pages_of(cursor: TopicCursor, iid: int, **kwargs) -> list[PageRequested]:
    return [decode(PageRequested, r.value) for r in await page_records(cursor, iid, **kwargs)]


def escalation(api: httpx.Client, iid: int) -> dict:
    return api.get(f"/api/v1/incidents/{iid}/escalation").json()
