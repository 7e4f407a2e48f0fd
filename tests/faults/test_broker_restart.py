"""The broker goes away and comes back under the incident service and the escalator (issue 17):
their consumers, producers and outbox relays reconnect by themselves; the next alert opens its
incident and pages the on-call person once, without restarting either service."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from shared.events import Topic
from shared.kafka import EventProducer
from shared.settings import BaseServiceSettings
from tests.conftest import new_broker
from tests.faults.test_postgres_restart import firing, opened, pages_for
from tests.support import TopicCursor, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def broker():
    broker = new_broker()
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.data_dir, ignore_errors=True)


async def test_after_the_broker_restarts_the_next_alert_opens_its_incident_and_pages_once(
    broker, topic_prefix, running_incidents, running_escalator
):
    bootstrap = broker.bootstrap_servers
    settings = BaseServiceSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=topic_prefix)
    with running_incidents(kafka_bootstrap_servers=bootstrap) as svc, \
            running_escalator(kafka_bootstrap_servers=bootstrap, escalator_max_idle_s=0.5) as esc:
        producer = EventProducer(settings, ce_source="/test")
        producer.start()
        await producer.wait_connected(30)
        try:
            incidents = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.INCIDENTS)
            await producer.publish([firing("broker-before")], timeout_s=10)
            await opened(incidents, "broker-before", 30)
        finally:
            await producer.stop()

        await asyncio.to_thread(broker.restart)  # stop (SIGTERM, then SIGKILL after 30 s), start on the same port
        back = time.monotonic()
        producer = EventProducer(settings, ce_source="/test")
        producer.start()
        await producer.wait_connected(60)
        try:
            incidents = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.INCIDENTS)
            pages = await TopicCursor.at_end(bootstrap, topic_prefix + Topic.PAGES)
            await producer.publish([firing("broker-after")], timeout_s=10)
            second = await opened(incidents, "broker-after", 60)
            paged = await pages_for(pages, second.incident_id, 60)
        finally:
            await producer.stop()
        assert paged and len({p.page_id for p in paged}) == len(paged), "a page missing or sent twice"
        print(f"\nbroker restart: the next alert's incident and page(s) within {time.monotonic() - back:.1f} s of its return")
        for client in (svc.client("viewer"), esc.client("viewer")):
            await asyncio.to_thread(wait_for, lambda c=client: c.get("/readyz").status_code == 200, what="ready", timeout_s=30)
