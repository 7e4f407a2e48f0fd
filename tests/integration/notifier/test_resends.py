"""Resends against the real notifier, PostgreSQL and a Standard Webhooks receiver: rows taken again
after their sender died mid-attempt go as the message they were (same webhook-id, same bundled
incidents), never regrouped with other due deliveries; when a peer accepts again, what waits to
retry towards it goes at once, not at its backed-off time."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.notifier.senders.webhook import derive_secret
from shared.events import ContactMethod
from tests.integration.notifier.test_delivery import WEBHOOK_KEY, page, person, publish
from tests.peers import Answer, webhook_receiver
from tests.support import ManualClock, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clock():
    return ManualClock()


@pytest.fixture(scope="module")
def notifier(running_notifier, clock):
    with running_notifier(clock=clock, notifier_webhook_key=WEBHOOK_KEY, notifier_max_idle_s=0.2,
                          notifier_throttle="webhook=none") as service:
        yield service


def states(api, *pages) -> list[str | None]:
    """Each page's (one) delivery state; None while it has none."""
    found = []
    for p in pages:
        response = api.get(f"/api/v1/pages/{p.page_id}/deliveries")
        found.append(response.json()[0]["state"] if response.status_code == 200 else None)
    return found


async def test_orphaned_rows_are_resent_as_the_message_they_were(notifier, clock, kafka_broker, topic_prefix):
    api = notifier.client("viewer")
    secret = derive_secret(WEBHOOK_KEY.encode(), "hank", "hook")
    with webhook_receiver(secret, [Answer(500)] * 3) as receiver:
        await publish(kafka_broker, topic_prefix, person("hank", ContactMethod(id="hook", kind="webhook", address=receiver.url)))
        a, b, c = (page(n, "hank", at=clock(), title=f"crash {n}") for n in (71, 72, 73))
        for p in (a, b, c):
            await publish(kafka_broker, topic_prefix, p)
            wait_for(lambda p=p: states(api, p) == ["retrying"], timeout_s=15, what="retrying")
        ids = {p.page_id: api.get(f"/api/v1/pages/{p.page_id}/deliveries").json()[0]["id"] for p in (a, b, c)}
        # As a crash leaves them: A and B were in flight as one message (A's id), their lease over;
        # C waits to retry, due now too.
        conn = await asyncpg.connect(notifier.settings.database_url)
        try:
            await conn.execute(
                "UPDATE notifier.delivery SET state = 'sending', lease_until = $2, message_id = $3, next_attempt_at = $2 "
                "WHERE id = ANY($1::text[])", [ids[a.page_id], ids[b.page_id]], clock() - timedelta(seconds=1),
                ids[a.page_id])
            await conn.execute("UPDATE notifier.delivery SET next_attempt_at = $2 WHERE id = $1", ids[c.page_id],
                               clock() - timedelta(seconds=1))
        finally:
            await conn.close()
        notifier.app.state.notifier.dispatcher.wake()
        wait_for(lambda: states(api, a, b, c) == ["sent"] * 3, timeout_s=15, what="all sent")
        accepted = [r for r in receiver.deliveries if 200 <= r.status < 300]
        by_id = {r.headers["webhook-id"]: r.json() for r in accepted}
        assert set(by_id) == {ids[a.page_id], ids[c.page_id]}
        assert [x["number"] for x in by_id[ids[a.page_id]]["bundled"]] == ["INC-72"]  # as it was sent
        assert by_id[ids[c.page_id]]["incident"]["number"] == "INC-73" and by_id[ids[c.page_id]]["bundled"] == []


async def test_a_peer_that_accepts_again_gets_its_waiting_retries_at_once(notifier, clock, kafka_broker, topic_prefix):
    api = notifier.client("viewer")
    secret = derive_secret(WEBHOOK_KEY.encode(), "ivy", "hook")
    with webhook_receiver(secret, [Answer(503)]) as receiver:
        await publish(kafka_broker, topic_prefix, person("ivy", ContactMethod(id="hook", kind="webhook", address=receiver.url)))
        first = page(81, "ivy", at=clock(), title="peer down")
        await publish(kafka_broker, topic_prefix, first)
        wait_for(lambda: states(api, first) == ["retrying"], timeout_s=15, what="retrying")
        second = page(82, "ivy", at=clock(), title="peer back")  # the clock does not move: only recovery sends the first
        await publish(kafka_broker, topic_prefix, second)
        wait_for(lambda: states(api, first, second) == ["sent", "sent"], timeout_s=15, what="both sent")
