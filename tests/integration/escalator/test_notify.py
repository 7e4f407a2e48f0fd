"""Which commits of the escalator's consumer NOTIFY: none when its own relay leads and its timers are
due later than every ticker looks anyway (the relay and the ticker are woken in-process, and the
pages still leave at once and the later steps still fire); a NOTIFY to the relay when another
process relays, and to the tickers when a timer is due sooner than they would look."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.escalator import repository as repo
from shared.outbox import channel
from tests.conftest import create_database
from tests.escalator_support import CONFIG, START, escalation, eventually, incident_event, new_incident_id, pages_cursor, pages_of, publish, run_escalator, warm_up
from tests.services import service_settings, start_service
from tests.support import ManualClock, wait_for

pytestmark = pytest.mark.integration

SOON_POLICY = CONFIG + """
policy:
  critical:
    steps:
      - {action: page, role: primary}
      - {after: 1s, action: page, role: backup}
    repeat: 0
"""


class Notifications:
    """Every NOTIFY on the escalator's outbox and timer channels while listening."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self.seen: list[str] = []

    async def __aenter__(self) -> Notifications:
        self._conn = await asyncpg.connect(self._url)
        for name in (channel(repo.SCHEMA), repo.TIMER_CHANNEL):
            await self._conn.add_listener(name, lambda _c, _p, name, _payload: self.seen.append(name))
        return self

    async def __aexit__(self, *_exc) -> None:
        await self._conn.close()


@pytest.fixture
def own(kafka_broker, postgres_server, topic_prefix):
    """This test's own database and topics, and a `running_escalator` on them: the NOTIFYs it counts
    are its escalator's alone, and its escalator reads no other test's incidents."""
    database_url, prefix = create_database(postgres_server), f"{topic_prefix}{uuid.uuid4().hex[:6]}."

    def running_escalator(*, clock, app=None, **overrides):
        settings = service_settings("escalator", bootstrap=kafka_broker.bootstrap_servers, database_url=database_url,
                                    topic_prefix=prefix, **overrides)
        return start_service("escalator", settings, clock=clock, **(app or {}))

    return database_url, prefix, running_escalator


async def test_with_its_own_relay_leading_the_consumer_pages_without_notify_and_later_steps_still_fire(kafka_broker, own, tmp_path):
    database_url, prefix, running_escalator = own
    clock = ManualClock(START)
    with run_escalator(running_escalator, tmp_path, clock=clock) as svc:
        api = svc.client("admin")
        await warm_up(kafka_broker, api, clock, prefix=prefix)
        wait_for(lambda: svc.app.state.escalator.relay.leading, what="the relay leads")
        cursor = await pages_cursor(kafka_broker, prefix=prefix)
        ids = [new_incident_id() for _ in range(3)]
        async with Notifications(database_url) as notes:
            await publish(kafka_broker, *(incident_event(i, kind="opened", version=1, at=clock()) for i in ids), prefix=prefix)
            for iid in ids:
                assert [p.role for p in await pages_of(cursor, iid, prefix=prefix, expected=1, settle_s=0)] == ["primary"]
            await asyncio.sleep(0.3)  # the check is that no NOTIFY comes: give a late one the time to arrive
            assert notes.seen == [], "the consumer's commits notified although its own relay and ticker were woken in-process"
        pending = [t for t in escalation(api, ids[0])["timers"] if t["state"] == "pending"]
        assert len(pending) == 7, "the backup page and the repeat passes are stored as before"
        clock.advance(minutes=5)
        for iid in ids:
            pages = await pages_of(cursor, iid, prefix=prefix, expected=2, settle_s=0)
            assert [p.role for p in pages] == ["primary", "backup"], "the backup page fired from a timer stored without NOTIFY"


async def test_without_its_own_relay_or_with_a_timer_due_soon_the_consumer_notifies(kafka_broker, own, tmp_path):
    database_url, prefix, running_escalator = own
    clock = ManualClock(START)
    # No relay in this process (another replica's relays): its pages' commit must wake that one. The
    # backup step is due 1 s after the first page, sooner than twice max_idle_s: the tickers are told.
    with run_escalator(running_escalator, tmp_path, clock=clock, config=SOON_POLICY, app={"run_relay": False},
                       escalator_max_idle_s=1.0) as svc:
        api = svc.client("admin")
        await warm_up(kafka_broker, api, clock, prefix=prefix)
        iid = new_incident_id()
        async with Notifications(database_url) as notes:
            await publish(kafka_broker, incident_event(iid, kind="opened", version=1, at=clock()), prefix=prefix)
            wait_for(lambda: len(escalation(api, iid).get("pages", [])) == 1, timeout_s=20, what="the primary page stored")
            expected = sorted([channel(repo.SCHEMA), repo.TIMER_CHANNEL])
            await eventually(lambda: sorted(set(notes.seen)) == expected, timeout_s=10, what="NOTIFY on both channels")
            assert sorted(set(notes.seen)) == expected
        conn = await asyncpg.connect(database_url)
        try:
            pending = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM escalator.outbox WHERE published_at IS NULL")}
            assert escalation(api, iid)["pages"][0]["page_id"] in pending, "left for the relay that the NOTIFY wakes"
        finally:
            await conn.close()
