"""An alert that can never fit the broker (issue 17): a 1.5 MiB annotation, in a body under the
4 MiB limit, after a normal alert of the same notification. Ingest answers 413 naming the alert —
a permanent refusal Alertmanager does not retry, not a 503 it would retry for hours — and nothing
of the notification is on Kafka, not even the normal alert before it."""

from __future__ import annotations

import json

import pytest

from shared.events import Topic
from tests.services import INGEST_TOKEN
from tests.support import TopicCursor, fixture_json

pytestmark = pytest.mark.integration

URL = "/api/v1/webhooks/alertmanager"


async def test_an_alert_too_large_for_kafka_is_413_and_nothing_of_its_notification_is_written(
    kafka_broker, topic_prefix, running_ingest
):
    raw = fixture_json("01-single-firing.json")
    normal = raw["alerts"][0]
    huge = {**normal, "fingerprint": "00000000000000ff", "annotations": {"description": "x" * (1536 * 1024)}}
    raw["alerts"] = [normal, huge]
    body = json.dumps(raw).encode()
    assert len(body) < 4 * 1024 * 1024
    with running_ingest() as ingest:
        client = ingest.client(token=INGEST_TOKEN)
        cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
        response = client.post(URL, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413, response.text
        answer = response.json()
        assert (answer["error"], answer["fingerprint"]) == ("alert_too_large", "00000000000000ff")
        assert "nothing of this notification was accepted" in answer["message"]
        assert await cursor.read(expected=1, timeout_s=2) == []  # not even the normal alert

        raw["alerts"] = [normal]  # the same notification without it goes through
        ok = client.post(URL, content=json.dumps(raw).encode(), headers={"content-type": "application/json"})
        assert ok.status_code == 200, ok.text
        assert len(await cursor.read(expected=1)) == 1
