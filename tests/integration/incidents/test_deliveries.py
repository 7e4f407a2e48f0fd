"""The notifier's deliveries (vigil.deliveries.v1) show in the incident timeline, one line per event
id however often the event arrives, read through the API. Real PostgreSQL and a real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from shared.events import DeliveryUpdated, encode
from tests.support import wait_for

pytestmark = pytest.mark.integration

def delivery(incident_id: int, n: int, run: str, **fields) -> DeliveryUpdated:
    # Later than the incident's own entries: a delivery follows the page that follows the opening.
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1, seconds=n)
    values = dict(event_id=f"delivery-{run}-{n}", occurred_at=at, source="notifier",
                  delivery_id=f"d-{run}-{n}", incident_id=incident_id, page_id=f"pg-{run}", person="alice",
                  method="email", kind="email", state="sent", attempts=1)
    return DeliveryUpdated(**{**values, **fields})


async def publish(bootstrap: str, prefix: str, events: list[DeliveryUpdated]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            key, value, headers = encode(event, ce_source="/test")
            await producer.send(prefix + event.topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def test_deliveries_are_timeline_lines_once_per_event(running_incidents, kafka_broker, topic_prefix):
    run = uuid.uuid4().hex[:6]
    with running_incidents() as svc:
        api = svc.client("admin")
        iid = api.post("/api/v1/incidents", json={"title": "checkout is down", "severity": 1}).json()["id"]
        deliveries = [
            delivery(iid, 1, run, answer="250 2.0.0 Ok"),
            delivery(iid, 2, run, person="bob", method="slack", kind="slack", state="failed", attempts=5,
                     error="HTTP 410 channel_is_archived"),
            delivery(iid, 3, run, person="carol", method="webhook", kind="webhook", state="cancelled", attempts=0,
                     error="acknowledged"),
            delivery(iid, 4, run, attempts=2, answer="250 Ok", bundled_with=11),
        ]
        unknown = delivery(10**12, 5, run)  # an incident this service does not have: nothing, no error
        await publish(kafka_broker.bootstrap_servers, topic_prefix, [*deliveries, unknown, *reversed(deliveries)])

        def lines() -> list[tuple[str, str, str]]:
            timeline = api.get(f"/api/v1/incidents/{iid}/timeline").json()
            return [(t["kind"], t["text"], t["actor"]) for t in timeline if t["kind"] == "delivery"]

        wait_for(lambda: len(lines()) >= len(deliveries), timeout_s=60, what="deliveries in the timeline")
        last = api.get(f"/api/v1/incidents/{iid}/timeline").json()[-1]
        assert lines() == [
            ("delivery", "email to alice accepted by SMTP: 250 2.0.0 Ok (attempt 1)", "notifier"),
            ("delivery", "slack to bob failed after 5 attempts: HTTP 410 channel_is_archived", "notifier"),
            ("delivery", "webhook to carol cancelled (acknowledged)", "notifier"),
            ("delivery", "email to alice accepted by SMTP: 250 Ok (attempt 2) (with 11 other incidents)", "notifier"),
        ]
        assert datetime.fromisoformat(last["at"]) == deliveries[-1].occurred_at  # when the notifier saw it

        # The duplicates were read by the time a later event is in: still one line per event.
        later = delivery(iid, 6, run, state="failed", attempts=1, error="550 5.1.1 no such user")
        await publish(kafka_broker.bootstrap_servers, topic_prefix, [later])
        wait_for(lambda: len(lines()) >= len(deliveries) + 1, timeout_s=30, what="the later delivery")
        assert [text for _kind, text, _actor in lines()][-1] == "email to alice failed after 1 attempt: 550 5.1.1 no such user"
        assert len(lines()) == len(deliveries) + 1
