"""PostgreSQL goes away and comes back while the incident service runs (issue 17): the API answers
503 with Retry-After meanwhile (never 500), readiness names PostgreSQL, and once it is back every
loop goes on by itself — an alert sent after the restart opens its incident and the incident's
event reaches Kafka (the outbox relay survived), without restarting the service."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.events import AlertEvent, IncidentEvent, Topic, decode
from shared.kafka import EventProducer
from shared.local.kafka_broker import free_port
from shared.local.postgres_server import LocalPostgres
from shared.settings import BaseServiceSettings
from tests.support import TopicCursor, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres():
    server = LocalPostgres(Path(tempfile.mkdtemp(prefix="vigil-fault-pg-")), port=free_port())
    server.start()
    yield server
    server.stop()


def firing(name: str) -> AlertEvent:
    starts = datetime.now(UTC)
    fingerprint = f"fault-{name}"
    return AlertEvent(
        event_id=AlertEvent.id_for(source="test", fingerprint=fingerprint, status="firing", starts_at=starts, ends_at=None),
        occurred_at=starts, source="test", fingerprint=fingerprint, status="firing",
        labels={"alertname": name, "severity": "critical"}, starts_at=starts, group_key=f"fault:{name}",
    )


async def opened_within(cursor: TopicCursor, title_part: str, timeout_s: float) -> float:
    """Seconds until an `opened` incident event whose title names `title_part` is on Kafka."""
    started = time.monotonic()
    records = await cursor.read(expected=1, timeout_s=timeout_s, settle_s=0)
    events = [decode(IncidentEvent, r.value) for r in records]
    assert any(e.kind == "opened" and title_part in e.title for e in events), [(e.kind, e.title) for e in events]
    return time.monotonic() - started


@pytest.mark.parametrize("how", ["fast stop", "SIGKILL of the postmaster"])
async def test_after_postgres_comes_back_alerts_open_incidents_and_their_events_leave(
    kafka_broker, topic_prefix, running_incidents, own_postgres, how
):
    bootstrap = kafka_broker.bootstrap_servers
    settings = BaseServiceSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=topic_prefix)
    producer = EventProducer(settings, ce_source="/test")
    producer.start()
    await producer.wait_connected(30)
    try:
        with running_incidents(database_url=own_postgres.url, incidents_consumer_group=f"fault-{how[:4]}") as svc:
            api = svc.client("viewer")
            incidents = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.INCIDENTS)
            await producer.publish([firing(f"before-{how[:4]}")], timeout_s=10)
            await opened_within(incidents, f"before-{how[:4]}", 30)

            if how == "fast stop":
                await asyncio.to_thread(own_postgres.stop)
            else:
                os.kill(own_postgres.pid, signal.SIGKILL)
                await asyncio.to_thread(wait_for, lambda: own_postgres.pid is None, what="postmaster gone")
            down = await asyncio.to_thread(api.get, "/api/v1/incidents")
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"].isdigit() and down.json()["error"] == "unavailable"
            ready = (await asyncio.to_thread(api.get, "/readyz")).json()
            assert ready["checks"]["postgres"] == "unavailable"

            await asyncio.to_thread(own_postgres.start)
            back = time.monotonic()
            incidents = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.INCIDENTS)
            await producer.publish([firing(f"after-{how[:4]}")], timeout_s=10)
            await opened_within(incidents, f"after-{how[:4]}", 30)
            print(f"\n{how}: the first incident after PostgreSQL's return was on Kafka {time.monotonic() - back:.1f} s later")
            await asyncio.to_thread(
                wait_for, lambda: api.get("/readyz").status_code == 200, what="ready again", timeout_s=20
            )
            assert api.get("/readyz").json()["checks"] == {"kafka": "ok", "postgres": "ok", "background": "ok"}
            assert api.get("/api/v1/incidents").status_code == 200
    finally:
        await producer.stop()
