"""The outbox relay against real PostgreSQL and Kafka: every committed row is produced once and
marked (the next round marks what the previous one produced), a row whose transaction commits
after a later row's is still relayed, and a stopping relay marks what it produced."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from shared.events import AlertEvent
from shared.kafka import EventProducer, ensure_topics
from shared.outbox import OutboxRelay, enqueue
from shared.settings import BaseServiceSettings
from tests.support import TopicCursor, alert_event

pytestmark = pytest.mark.integration


def alert(n: int) -> AlertEvent:
    return alert_event(n, source="relay-test")


async def setup(database_url: str, bootstrap: str):
    schema = f"relay_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    await conn.execute(f"""CREATE SCHEMA {schema};
        CREATE TABLE {schema}.outbox (id bigserial PRIMARY KEY, event_id text NOT NULL UNIQUE, topic text NOT NULL,
            key bytea, value bytea NOT NULL, headers text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz)""")
    settings = BaseServiceSettings(kafka_bootstrap_servers=bootstrap, topic_partitions=1)
    producer = EventProducer(settings, ce_source="/test")
    producer.start()
    await producer.wait_connected(30)
    return schema, conn, producer, settings


async def topic_of(settings) -> str:
    """This test's own topic: each stored row's topic column is rewritten to it (enqueue_to)."""
    topic = f"test.relay.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic], partitions=1)
    return topic


async def enqueue_to(conn, schema: str, topic: str, n: int) -> None:
    await enqueue(conn, schema=schema, event=alert(n), ce_source="/test")
    await conn.execute(f"UPDATE {schema}.outbox SET topic = $1 WHERE topic <> $1", topic)


@pytest.mark.parametrize("mark_without_flush", [False, True])
async def test_each_row_is_produced_once_and_marked_even_when_an_earlier_id_commits_later(
    database_url, kafka_broker, mark_without_flush
):
    schema, conn, producer, settings = await setup(database_url, kafka_broker.bootstrap_servers)
    late = await asyncpg.connect(database_url)
    try:
        topic = await topic_of(settings)
        cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic)
        relay = OutboxRelay(None, schema=schema, producer=producer, mark_without_flush=mark_without_flush)
        slow = late.transaction()
        await slow.start()
        await enqueue_to(late, schema, topic, 1)  # takes id 1, commits only after the others
        for n in (2, 3):
            await enqueue_to(conn, schema, topic, n)
        assert await relay.relay_once(conn) == 2  # ids 2 and 3
        await slow.commit()
        async with conn.transaction():
            assert await relay.relay_once(conn) == 1, "id 1 is still pending; 2 and 3 were marked"
            sync = await conn.fetchval("SHOW synchronous_commit")
        assert sync == ("off" if mark_without_flush else "on")
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL") == 1
        async with conn.transaction():
            assert await relay.relay_once(conn) == 0  # marks id 1, finds nothing
            assert await conn.fetchval("SHOW synchronous_commit") == sync
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL") == 0
        records = await cursor.read(expected=3)
        fingerprints = sorted(AlertEvent.model_validate_json(r.value).fingerprint for r in records)
        assert fingerprints == ["fp1", "fp2", "fp3"], "each row produced exactly once"
    finally:
        await late.close()
        await conn.close()
        await producer.stop()


async def test_a_stopping_relay_marks_what_it_produced(database_url, kafka_broker):
    schema, conn, producer, settings = await setup(database_url, kafka_broker.bootstrap_servers)
    try:
        topic = await topic_of(settings)
        relay = OutboxRelay(None, schema=schema, producer=producer)
        await enqueue_to(conn, schema, topic, 7)
        assert await relay.relay_once(conn) == 1
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL") == 1
        await relay.mark_produced(conn)
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL") == 0
        await relay.mark_produced(conn)  # nothing left: no statement needed, no error
    finally:
        await conn.close()
        await producer.stop()


async def test_a_round_that_hangs_is_cut_off_at_its_deadline_and_the_relay_leads_again(database_url, kafka_broker):
    schema, conn, producer, settings = await setup(database_url, kafka_broker.bootstrap_servers)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=3)
    blocker = await asyncpg.connect(database_url)
    relay = OutboxRelay(pool, schema=schema, producer=producer, round_timeout_s=0.5, poll_interval_s=0.1)
    task = asyncio.create_task(relay.run())
    try:
        topic = await topic_of(settings)
        cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic)
        await wait_until(lambda: relay.leading)
        hold = blocker.transaction()
        await hold.start()
        await blocker.execute(f"LOCK TABLE {schema}.outbox IN ACCESS EXCLUSIVE MODE")  # the relay's read hangs
        await wait_until(lambda: not relay.leading, timeout_s=5)  # cut off, not stuck behind the lock
        await hold.rollback()
        await enqueue_to(conn, schema, topic, 9)
        records = await cursor.read(expected=1)
        assert [AlertEvent.model_validate_json(r.value).fingerprint for r in records] == ["fp9"]
    finally:
        relay.stop()
        await asyncio.wait_for(task, 15)
        await blocker.close()
        await pool.close()
        await conn.close()
        await producer.stop()


async def wait_until(condition, timeout_s: float = 10) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)
