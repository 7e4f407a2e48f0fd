"""Broker trouble: ingest answers 503 (which Alertmanager retries) and never 2xx for what Kafka did
not acknowledge; when the broker comes back, ingest recovers without a restart, and what was
acknowledged before is still there (the broker keeps its data on disk)."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from shared.events import AlertEvent, Topic, decode
from tests.conftest import new_broker
from tests.services import INGEST_TOKEN, service_settings, start_service
from tests.support import TopicCursor, fixture_bytes

pytestmark = pytest.mark.integration

URL = "/api/v1/webhooks/alertmanager"
HEADERS = {"Authorization": f"Bearer {INGEST_TOKEN}"}


@pytest.fixture
def broker():
    broker = new_broker()
    yield broker
    broker.stop()
    shutil.rmtree(broker.data_dir, ignore_errors=True)


def post_until(client: httpx.Client, body: bytes, *, status: int, timeout_s: float) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.post(URL, content=body, headers=HEADERS)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


async def test_503_while_kafka_is_down_and_recovery_without_restart(broker, topic_prefix):
    # This test's own broker (it stops and starts it), not the session's: the settings come before
    # the start, and the start does not wait for /readyz (not ready until the broker is up).
    settings = service_settings(
        "ingest", bootstrap=broker.bootstrap_servers, database_url=None, topic_prefix=topic_prefix,
        ingest_produce_timeout_s=2.0, ingest_retry_after_s=7,
    )
    single = fixture_bytes("01-single-firing.json")
    group = fixture_bytes("02-group5-firing.json")
    with start_service("ingest", settings, ready=False) as svc:
        client = svc.client(None)
        # 1. Ingest starts before the broker exists: not ready, and the webhook says "retry later".
        response = client.post(URL, content=single, headers=HEADERS)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "7"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200

        # 2. The broker comes up: ingest connects by itself and accepts.
        broker.start()
        assert post_until(client, single, status=200, timeout_s=60).status_code == 200
        assert client.post(URL, content=group, headers=HEADERS).status_code == 200
        assert client.get("/readyz").status_code == 200

        # 3. The broker stops: 503 within the produce deadline, never a 2xx or a 500.
        broker.stop()
        started = time.monotonic()
        response = client.post(URL, content=group, headers=HEADERS)
        assert response.status_code == 503
        assert time.monotonic() - started < settings.ingest_produce_timeout_s + 3
        assert response.json()["error"] == "unavailable"
        assert client.get("/readyz").status_code == 503

        # 4. The broker restarts on the same data: ingest recovers without a restart.
        broker.start()
        assert post_until(client, single, status=200, timeout_s=60).status_code == 200
        assert client.get("/readyz").status_code == 200

    # Everything answered 200 is on the topic: 1 + 5 before the restart, at least 1 after.
    cursor = TopicCursor(broker.bootstrap_servers, topic_prefix + Topic.ALERTS, offsets={})
    records = await cursor.read(expected=7, timeout_s=20)
    fingerprints = [decode(AlertEvent, r.value).fingerprint for r in records]
    assert fingerprints.count("f9d13f00f05cff3d") >= 2  # the single alert, before and after the restart
    assert len(set(fingerprints)) >= 6
