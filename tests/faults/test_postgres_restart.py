"""PostgreSQL goes away and comes back while the incident service and the escalator run (issue 17):
the API answers 503 with Retry-After meanwhile (never 500), readiness names PostgreSQL, and once it
is back every loop goes on by itself — an alert sent after the restart opens its incident, the
incident's event reaches Kafka (the outbox relays survived) and the escalator pages the on-call
person once, without restarting either service."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.events import AlertEvent, IncidentEvent, PageRequested, Topic, decode
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


async def opened(cursor: TopicCursor, title_part: str, timeout_s: float) -> IncidentEvent:
    """The `opened` incident event whose title names `title_part`, once it is on Kafka."""
    records = await cursor.read(expected=1, timeout_s=timeout_s, settle_s=0)
    events = [decode(IncidentEvent, r.value) for r in records]
    found = [e for e in events if e.kind == "opened" and title_part in e.title]
    assert found, [(e.kind, e.title) for e in events]
    return found[0]


async def pages_for(cursor: TopicCursor, incident_id: int, timeout_s: float) -> list[PageRequested]:
    records = await cursor.read(expected=1, timeout_s=timeout_s, settle_s=1.0)
    return [p for p in (decode(PageRequested, r.value) for r in records) if p.incident_id == incident_id]


@pytest.mark.parametrize("how", ["fast stop", "SIGKILL of the postmaster"])
async def test_after_postgres_comes_back_alerts_open_incidents_and_their_events_leave(
    kafka_broker, topic_prefix, running_incidents, running_escalator, own_postgres, how
):
    bootstrap = kafka_broker.bootstrap_servers
    settings = BaseServiceSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=topic_prefix)
    producer = EventProducer(settings, ce_source="/test")
    producer.start()
    await producer.wait_connected(30)
    try:
        with running_incidents(database_url=own_postgres.url, incidents_consumer_group=f"fault-{how[:4]}") as svc, \
                running_escalator(database_url=own_postgres.url, escalator_consumer_group=f"fault-esc-{how[:4]}",
                                  escalator_max_idle_s=0.5) as esc:
            api = svc.client("viewer")
            incidents = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.INCIDENTS)
            pages = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.PAGES)
            await producer.publish([firing(f"before-{how[:4]}")], timeout_s=10)
            first = await opened(incidents, f"before-{how[:4]}", 30)
            assert len(await pages_for(pages, first.incident_id, 30)) >= 1  # the critical alert pages at once

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
            assert (await asyncio.to_thread(esc.client("viewer").get, "/api/v1/oncall")).status_code == 503

            await asyncio.to_thread(own_postgres.start)
            back = time.monotonic()
            incidents = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.INCIDENTS)
            pages = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.PAGES)
            await producer.publish([firing(f"after-{how[:4]}")], timeout_s=10)
            second = await opened(incidents, f"after-{how[:4]}", 30)
            opened_s = time.monotonic() - back
            paged = await pages_for(pages, second.incident_id, 30)
            paged_s = time.monotonic() - back
            assert paged and len({p.page_id for p in paged}) == len(paged), "a page missing or sent twice"
            print(f"\n{how}: after PostgreSQL's return, the first incident was on Kafka {opened_s:.1f} s later and "
                  f"its page(s) within {paged_s:.1f} s (a 1 s settle included): {[p.target for p in paged]}")
            for client in (api, esc.client("viewer")):
                await asyncio.to_thread(
                    wait_for, lambda c=client: c.get("/readyz").status_code == 200, what="ready again", timeout_s=20
                )
                assert client.get("/readyz").json()["checks"] == {"kafka": "ok", "postgres": "ok", "background": "ok"}
            assert api.get("/api/v1/incidents").status_code == 200
    finally:
        await producer.stop()


async def test_the_slo_service_folds_and_answers_again_after_postgres_comes_back(running_slo, own_postgres):
    """The SLO service on a PostgreSQL that is killed and started again: 503 meanwhile, then its
    consumer folds pushed metrics again and its evaluator, relay and consumer are all still alive."""
    import asyncpg

    from shared.events import MetricsEvent

    def metrics(service: str) -> list[dict]:
        at = datetime.now(UTC).replace(second=0, microsecond=0)
        return [{"event_id": MetricsEvent.id_for(source="test", service=service, interval_start=at), "source": "test",
                 "occurred_at": at.isoformat(), "service": service, "interval_start": at.isoformat(),
                 "requests": 100, "errors": 1, "utilisation": {}}]

    async def folded(service: str) -> int:
        conn = await asyncpg.connect(own_postgres.url)
        try:
            return await conn.fetchval("SELECT coalesce(sum(requests), 0) FROM slo.minute_bucket WHERE service = $1", service)
        finally:
            await conn.close()

    with running_slo(database_url=own_postgres.url, slo_evaluate_interval_s=0.5) as slo:
        api = slo.client("responder")
        assert api.post("/api/v1/metrics", json=metrics("before")).status_code == 202
        await asyncio.to_thread(wait_for, lambda: asyncio.run(folded("before")) == 100, what="folded before")

        os.kill(own_postgres.pid, signal.SIGKILL)
        await asyncio.to_thread(wait_for, lambda: own_postgres.pid is None, what="postmaster gone")
        down = await asyncio.to_thread(api.get, "/api/v1/slos")
        assert down.status_code == 503 and down.headers["retry-after"].isdigit(), down.text
        await asyncio.to_thread(own_postgres.start)

        assert api.post("/api/v1/metrics", json=metrics("after")).status_code == 202
        await asyncio.to_thread(wait_for, lambda: asyncio.run(folded("after")) == 100, what="folded after the return")
        await asyncio.to_thread(wait_for, lambda: api.get("/readyz").status_code == 200, what="ready again")
        assert api.get("/readyz").json()["checks"] == {"kafka": "ok", "postgres": "ok", "background": "ok"}
        assert api.get("/api/v1/slos").status_code == 200
