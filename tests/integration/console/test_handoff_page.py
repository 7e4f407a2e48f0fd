"""A handoff's console page against the real incident service and broker: a handover (HandoverDue
on vigil.handovers.v1) drafts the handoff; its outgoing engineer completes it on the page, its
incoming one acknowledges it there with the big button, and each sees only their own form."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from shared.events import HandoverDue, encode
from tests.integration.console.support import Browser, signed_in
from tests.services import IDENTITY_KEYS
from tests.support import wait_for

pytestmark = pytest.mark.integration

PEOPLE = {"bob": ("responder", "bob-password-1"), "alice": ("responder", "alice-password-1")}
AT = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=40)


async def announce(bootstrap: str, prefix: str, event: HandoverDue) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        key, value, headers = encode(event, ce_source="/test")
        await producer.send_and_wait(prefix + event.topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def pages(running_incidents, running_console, database_url) -> Iterator[tuple[Browser, Browser, object]]:
    with running_incidents(identity_keys=IDENTITY_KEYS) as incidents, \
            running_console(console_incidents_url=incidents.url) as console:
        with signed_in(console.url, database_url, PEOPLE) as browsers:
            yield browsers["bob"], browsers["alice"], incidents


async def test_the_outgoing_engineer_completes_the_draft_and_the_incoming_one_acknowledges_it(pages, kafka_broker, topic_prefix):
    bob, alice, incidents = pages
    handover_id = HandoverDue.id_for(schedule="ops", tier="primary", at=AT)
    await announce(kafka_broker.bootstrap_servers, topic_prefix, HandoverDue(
        event_id=handover_id, occurred_at=AT - timedelta(hours=1), source="escalator", handover_id=handover_id,
        schedule="ops", from_person="bob", to_person="alice", at=AT, overlap_ends_at=AT + timedelta(minutes=30)))
    viewer = incidents.client("viewer")
    handoff = wait_for(lambda: next(iter(viewer.get("/api/v1/handoffs").json()), None), timeout_s=30, what="the draft")
    path = f"/operations/handoffs/{handoff['id']}"
    assert f'href="{path}"' in bob.page("/operations/handoffs").text

    page = bob.page(path).text
    assert 'data-status="draft"' in page and 'data-testid="complete-handoff"' in page
    assert 'data-testid="acknowledge-handoff"' not in page, "bob hands over: he does not acknowledge"
    assert 'data-testid="complete-handoff"' not in alice.page(path).text, "alice cannot complete bob's handoff"
    done = bob.submit(path, f"{path}/complete", {"note": "quiet week, watch db-2", "things_to_watch": "disk on db-2\n\ncert expiry"})
    assert done.status_code == 303 and done.headers["location"] == f"{path}?done=completed"
    page = bob.page(done.headers["location"]).text
    assert 'data-status="completed"' in page and "quiet week, watch db-2" in page and "cert expiry" in page

    page = alice.page(path).text
    assert 'data-testid="acknowledge-handoff"' in page
    acked = alice.submit(path, f"{path}/acknowledge", {"back": "handoff"})
    assert acked.status_code == 303 and acked.headers["location"] == f"{path}?done=acknowledged"
    page = alice.page(acked.headers["location"]).text
    assert 'data-status="acknowledged"' in page and "Acknowledged by alice" in page
    assert 'data-testid="acknowledge-handoff"' not in page and 'data-testid="complete-handoff"' not in bob.page(path).text
