"""The shared consumer loop against the real broker: offsets are committed only after the handler's
effect is stored, undecodable messages go to the DLQ with the error, and a failing handler is retried
without losing or skipping the message."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from prometheus_client import REGISTRY

from shared.events import AlertEvent, Topic, encode, header
from shared.kafka import ConsumerLoop, EventProducer, PermanentHandlerError, ensure_topics
from shared.settings import BaseServiceSettings
from tests.support import TopicCursor, alert_event

pytestmark = pytest.mark.integration


def alert(n: int) -> AlertEvent:
    return alert_event(n)


class Harness:
    def __init__(self, bootstrap: str) -> None:
        self.settings = BaseServiceSettings(kafka_bootstrap_servers=bootstrap, topic_partitions=2)
        self.topic = f"test.consumer.{uuid.uuid4().hex[:8]}"
        self.group = f"group-{uuid.uuid4().hex[:8]}"
        self.producer = EventProducer(self.settings, ce_source="/test")

    async def __aenter__(self) -> Harness:
        await ensure_topics(self.settings, [self.topic, Topic.dlq(self.topic)])
        self.producer.start()
        await self.producer.wait_connected(30)
        self.raw = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers[0])
        await self.raw.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.raw.stop()
        await self.producer.stop()

    async def send_event(self, event: AlertEvent) -> None:
        key, value, headers = encode(event, ce_source="/test")
        await self.raw.send_and_wait(self.topic, value, key=key, headers=headers)

    async def send_bytes(self, value: bytes, key: bytes = b"junk") -> None:
        await self.raw.send_and_wait(self.topic, value, key=key)

    def loop(self, handle, handle_batch=None, **options) -> ConsumerLoop:
        return ConsumerLoop(
            self.settings, topic=self.topic, group_id=self.group, model=AlertEvent, handle=handle,
            handle_batch=handle_batch, producer=self.producer, retry_backoff_s=0.05, max_retry_backoff_s=0.2,
            **options,
        )

    def dead_lettered(self) -> int:
        """How many messages this harness's loop has sent to the DLQ (from its metrics)."""
        labels = {"topic": self.topic, "group": self.group, "outcome": "dlq"}
        return int(REGISTRY.get_sample_value("vigil_consumer_messages_total", labels) or 0)

    async def committed_total(self) -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers[0], group_id=self.group)
        await consumer.start()
        try:
            total = 0
            for p in (0, 1):
                total += await consumer.committed(TopicPartition(self.topic, p)) or 0
            return total
        finally:
            await consumer.stop()


async def run_until(loop: ConsumerLoop, condition, timeout_s: float = 20) -> None:
    task = asyncio.create_task(loop.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.05)
    finally:
        loop.stop()
        await asyncio.wait_for(task, 15)


async def test_good_messages_are_handled_bad_ones_dead_lettered_and_all_committed(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        dlq = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.dlq(h.topic))
        await h.send_event(alert(1))
        await h.send_bytes(b"{definitely not an alert")
        await h.send_event(alert(2))
        await h.send_bytes(b'{"schema_version": 1}', key=b"fp-bad")
        seen: list[str] = []

        async def handle(event: AlertEvent, record) -> None:
            seen.append(event.fingerprint)

        # Stop only when the junk is dead-lettered too: it may sit in a partition read after the good ones.
        await run_until(h.loop(handle), lambda: len(seen) == 2 and h.dead_lettered() == 2)
        assert sorted(seen) == ["fp1", "fp2"]

        dead = await dlq.read(expected=2)
        assert len(dead) == 2
        assert {r.value for r in dead} == {b"{definitely not an alert", b'{"schema_version": 1}'}
        for record in dead:
            assert "undecodable as AlertEvent" in header(record.headers, "dlq_error")
            assert header(record.headers, "dlq_source_topic") == h.topic
            assert header(record.headers, "dlq_consumer_group") == h.group
        assert await h.committed_total() == 4

        # A new run of the same group re-reads nothing: every offset was committed.
        again: list[str] = []

        async def handle_again(event: AlertEvent, record) -> None:
            again.append(event.fingerprint)

        loop = h.loop(handle_again)
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(3)
        loop.stop()
        await asyncio.wait_for(task, 15)
        assert again == []


async def test_a_failing_handler_is_retried_and_the_offset_waits_for_success(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        await h.send_event(alert(1))
        attempts = {"n": 0}
        stored: list[str] = []

        async def flaky(event: AlertEvent, record) -> None:
            attempts["n"] += 1
            if attempts["n"] <= 3:
                raise ConnectionError("database unavailable")
            stored.append(event.event_id)

        await run_until(h.loop(flaky), lambda: bool(stored))
        assert attempts["n"] == 4
        assert stored == [alert(1).event_id]
        assert await h.committed_total() == 1


async def test_a_handler_that_hangs_is_cut_off_at_its_deadline_and_retried(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        await h.send_event(alert(1))
        await h.send_event(alert(2))
        attempts: dict[str, int] = {}
        stored: list[str] = []

        async def hangs_once(event: AlertEvent, record) -> None:
            attempts[event.fingerprint] = attempts.get(event.fingerprint, 0) + 1
            if event.fingerprint == "fp1" and attempts["fp1"] == 1:
                await asyncio.Event().wait()  # a dependency that never answers
            stored.append(event.fingerprint)

        await run_until(h.loop(hangs_once, handler_timeout_s=0.5), lambda: len(stored) == 2)
        assert attempts["fp1"] == 2
        assert sorted(stored) == ["fp1", "fp2"]
        assert await h.committed_total() == 2


async def test_a_message_whose_handler_never_succeeds_is_not_committed_when_the_loop_stops(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        await h.send_event(alert(1))
        attempts = {"n": 0}

        async def broken(event: AlertEvent, record) -> None:
            attempts["n"] += 1
            raise ConnectionError("database unavailable")

        await run_until(h.loop(broken), lambda: attempts["n"] >= 3)
        assert await h.committed_total() == 0  # the next run gets the message again

        stored: list[str] = []

        async def works(event: AlertEvent, record) -> None:
            stored.append(event.fingerprint)

        await run_until(h.loop(works), lambda: bool(stored))
        assert stored == ["fp1"]


async def test_a_permanent_handler_error_goes_to_the_dlq_and_does_not_block_the_partition(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        dlq = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.dlq(h.topic))
        for n in (1, 2, 3):
            await h.send_event(alert(n))
        handled: list[str] = []

        async def picky(event: AlertEvent, record) -> None:
            if event.fingerprint == "fp2":
                raise PermanentHandlerError("fp2 is not allowed")
            handled.append(event.fingerprint)

        await run_until(h.loop(picky), lambda: len(handled) == 2 and h.dead_lettered() == 1)
        [dead] = await dlq.read(expected=1)
        assert header(dead.headers, "dlq_error") == "rejected by handler: fp2 is not allowed"
        assert header(dead.headers, "ce_id") == alert(2).event_id  # original headers are kept
        assert await h.committed_total() == 3


async def test_a_value_the_store_refuses_for_good_goes_to_the_dlq_instead_of_holding_up_the_partition(kafka_broker):
    import asyncpg

    async with Harness(kafka_broker.bootstrap_servers) as h:
        dlq = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.dlq(h.topic))
        for n in (1, 2):
            await h.send_event(alert(n))
        stored: list[str] = []

        async def handle(event: AlertEvent, record) -> None:
            if event.fingerprint == "fp1":
                raise asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00")
            stored.append(event.fingerprint)

        await run_until(h.loop(handle), lambda: stored == ["fp2"] and h.dead_lettered() == 1)
        [dead] = await dlq.read(expected=1)
        assert "refused by the store" in header(dead.headers, "dlq_error")
        assert await h.committed_total() == 2


async def test_batches_go_to_the_batch_handler_and_fall_back_one_by_one_when_it_fails(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        for n in range(1, 41):
            await h.send_event(alert(n))
        batches: list[int] = []
        singles: list[str] = []
        failed_once = {"done": False}

        async def handle_batch(items) -> None:
            if not failed_once["done"]:
                failed_once["done"] = True
                raise ConnectionError("deadlock detected")  # this batch is redone one by one
            batches.append(len(items))

        async def handle(event: AlertEvent, record) -> None:
            singles.append(event.fingerprint)

        await run_until(h.loop(handle, handle_batch), lambda: sum(batches) + len(singles) >= 40)
        assert sum(batches) > 0, "the batch handler took the later batches"
        assert len(singles) > 0, "the failed batch was handled one by one"
        assert sum(batches) + len(singles) == 40
        assert await h.committed_total() == 40


async def test_a_batch_with_an_undecodable_message_is_handled_one_by_one(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        dlq = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.dlq(h.topic))
        await h.send_event(alert(1))
        await h.send_bytes(b"garbage", key=b"fp1")  # same key: same partition, same batch
        await h.send_event(alert(1).model_copy(update={"event_id": "second"}))
        batch_calls: list[int] = []
        singles: list[str] = []

        async def handle_batch(items) -> None:
            batch_calls.append(len(items))

        async def handle(event: AlertEvent, record) -> None:
            singles.append(event.event_id)

        await run_until(h.loop(handle, handle_batch), lambda: len(singles) == 2 and h.dead_lettered() == 1)
        assert batch_calls == []
        assert len(await dlq.read(expected=1)) == 1


async def test_with_batch_partitions_a_poll_of_several_partitions_is_one_batch_and_falls_back_per_partition(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        # Both partitions hold records before the loop starts, so its first poll returns both.
        for n in range(1, 41):
            await h.send_event(alert(n))
        batches: list[list[tuple[int, int]]] = []
        singles: list[str] = []
        failing = {"on": False}

        async def handle_batch(items) -> None:
            if failing["on"]:
                raise ConnectionError("deadlock detected")  # the poll is redone partition by partition
            batches.append([(record.partition, record.offset) for _event, record in items])

        async def handle(event: AlertEvent, record) -> None:
            singles.append(event.fingerprint)

        await run_until(h.loop(handle, handle_batch, batch_partitions=True), lambda: sum(map(len, batches)) >= 40)
        assert sum(map(len, batches)) == 40 and singles == []
        assert any(len({p for p, _ in b}) == 2 for b in batches), "one call held both partitions' records"
        for b in batches:  # each partition's records in offset order, partition after partition
            partitions = [p for p, _ in b]
            assert partitions == sorted(partitions, key=partitions.index)
            for p in set(partitions):
                offsets = [o for q, o in b if q == p]
                assert offsets == sorted(offsets)
        assert await h.committed_total() == 40

        failing["on"] = True
        for n in range(41, 81):
            await h.send_event(alert(n))
        await run_until(h.loop(handle, handle_batch, batch_partitions=True), lambda: len(singles) >= 40)
        assert sorted(singles) == sorted(f"fp{n}" for n in range(41, 81))
        assert await h.committed_total() == 80


async def test_with_a_commit_interval_every_stored_offset_is_committed_by_the_time_the_loop_stops(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        seen: list[str] = []

        async def handle(event: AlertEvent, record) -> None:
            if event.fingerprint == "fp25" and "fp25" not in seen:
                seen.append("fp25")
                raise ConnectionError("store down")  # retried; its offset waits for the success
            seen.append(event.fingerprint)

        loop = h.loop(handle, commit_interval_s=30.0)  # only the first commit within the test's time
        task = asyncio.create_task(loop.run())
        for n in range(1, 16):
            await h.send_event(alert(n))
        async with asyncio.timeout(20):
            while len(seen) < 15:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the first commit (right away) has these offsets at most
        for n in range(16, 31):
            await h.send_event(alert(n))
        async with asyncio.timeout(20):
            while len(seen) < 31:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a poll after the last record: nothing more to commit now
        assert await h.committed_total() < 30, "offsets wait for the interval"
        loop.stop()
        await asyncio.wait_for(task, 15)
        assert sorted(set(seen)) == sorted(f"fp{n}" for n in range(1, 31))
        assert await h.committed_total() == 30, "the stored offsets are committed at stop"


async def test_consumer_options_reach_the_consumer_and_every_record_is_still_handled(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        seen: list[str] = []

        async def handle(event: AlertEvent, record) -> None:
            seen.append(event.fingerprint)

        # More bytes than the test ever sends: each fetch is answered after the wait, with what is there.
        loop = h.loop(handle, consumer_options={"fetch_min_bytes": 1_000_000, "fetch_max_wait_ms": 50})
        task = asyncio.create_task(loop.run())
        for n in range(1, 11):
            await h.send_event(alert(n))
        async with asyncio.timeout(20):
            while len(seen) < 10 or await h.committed_total() < 10:
                await asyncio.sleep(0.05)
        fetcher = loop._consumer._fetcher
        assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == (1_000_000, 50)
        loop.stop()
        await asyncio.wait_for(task, 15)
        assert sorted(seen) == sorted(f"fp{n}" for n in range(1, 11))


async def test_pipelined_polls_are_handled_once_in_offset_order_per_partition_and_all_committed(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        for n in range(1, 61):
            await h.send_event(alert(n))
        handled: dict[int, list[int]] = {0: [], 1: []}
        running = {"n": 0, "max": 0}

        async def handle_batch(items) -> None:
            running["n"] += 1
            running["max"] = max(running["max"], running["n"])
            await asyncio.sleep(0.02)  # the store's round trips, while the next poll is decoded
            for _event, record in items:
                handled[record.partition].append(record.offset)
            running["n"] -= 1

        async def handle(event: AlertEvent, record) -> None:
            handled[record.partition].append(record.offset)

        loop = h.loop(handle, handle_batch, max_batch=7, pipeline=True, concurrent_partitions=True)
        await run_until(loop, lambda: sum(map(len, handled.values())) >= 60)
        for offsets in handled.values():
            assert offsets == list(range(len(offsets)))  # each once, in order, none skipped
        assert running["max"] <= 2  # one poll's partitions at a time (two partitions)
        assert await h.committed_total() == 60


async def test_pipelined_a_failing_handler_keeps_its_offset_and_everything_after_it_unhandled(kafka_broker):
    async with Harness(kafka_broker.bootstrap_servers) as h:
        for n in range(1, 31):
            await h.send_event(alert(n))
        handled: list[tuple[int, int]] = []
        failing: dict[str, int] = {}  # fp10's partition and offset, and its attempts

        async def handle_batch(items) -> None:
            if any(event.fingerprint == "fp10" for event, _record in items):
                raise ConnectionError("database unavailable")  # the batch falls back one by one
            handled.extend((record.partition, record.offset) for _event, record in items)

        async def handle(event: AlertEvent, record) -> None:
            if event.fingerprint == "fp10":
                failing.update(partition=record.partition, offset=record.offset, attempts=failing.get("attempts", 0) + 1)
                raise ConnectionError("database unavailable")
            handled.append((record.partition, record.offset))

        loop = h.loop(handle, handle_batch, max_batch=4, pipeline=True, concurrent_partitions=True)
        await run_until(loop, lambda: failing.get("attempts", 0) >= 4)
        partition, offset = failing["partition"], failing["offset"]
        mine = [o for p, o in handled if p == partition]
        assert mine == list(range(offset))  # before it, in order; nothing after it
        committed = {p: 0 for p in (0, 1)}
        consumer = AIOKafkaConsumer(bootstrap_servers=h.settings.kafka_bootstrap_servers[0], group_id=h.group)
        await consumer.start()
        try:
            for p in (0, 1):
                committed[p] = await consumer.committed(TopicPartition(h.topic, p)) or 0
        finally:
            await consumer.stop()
        assert committed[partition] == offset  # fp10 and what follows it are read again

        again: list[tuple[int, int]] = []

        async def works(event: AlertEvent, record) -> None:
            again.append((record.partition, record.offset))

        async def works_batch(items) -> None:
            again.extend((record.partition, record.offset) for _event, record in items)

        await run_until(h.loop(works, works_batch, pipeline=True), lambda: len(handled) + len(again) >= 30)
        assert sorted(handled + again) == sorted(set(handled + again))  # nothing twice
        assert [o for p, o in again if p == partition][0] == offset
        assert await h.committed_total() == 30


async def test_with_a_topic_prefix_every_topic_on_the_broker_carries_it(kafka_broker):
    """Producer, consumer loop and dead letters all use `<prefix><topic>`; the events and the loop
    still speak of the topic without it, and nothing reaches the unprefixed topic."""
    prefix = f"run-{uuid.uuid4().hex[:6]}."
    settings = BaseServiceSettings(kafka_bootstrap_servers=kafka_broker.bootstrap_servers, topic_partitions=1, topic_prefix=prefix)
    producer = EventProducer(settings, ce_source="/test", ensure=[Topic.ALERTS, Topic.dlq(Topic.ALERTS)])
    producer.start()
    try:
        await producer.wait_connected(30)
        await ensure_topics(BaseServiceSettings(kafka_bootstrap_servers=kafka_broker.bootstrap_servers), [Topic.ALERTS])
        plain = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.ALERTS)
        dlq = await TopicCursor.at_end(kafka_broker.bootstrap_servers, prefix + Topic.dlq(Topic.ALERTS))
        await producer.publish([alert(1), alert(2)], timeout_s=10)
        await producer.send_raw(Topic.ALERTS, key=b"junk", value=b"{not an alert", headers=[], timeout_s=10)
        seen: list[str] = []

        async def handle(event: AlertEvent, record) -> None:
            assert record.topic == prefix + Topic.ALERTS
            seen.append(event.fingerprint)

        loop = ConsumerLoop(settings, topic=Topic.ALERTS, group_id=f"group-{uuid.uuid4().hex[:8]}", model=AlertEvent,
                            handle=handle, producer=producer, retry_backoff_s=0.05)
        labels = {"topic": Topic.ALERTS, "group": loop.group_id, "outcome": "dlq"}
        await run_until(loop, lambda: len(seen) == 2 and REGISTRY.get_sample_value("vigil_consumer_messages_total", labels) == 1)
        assert sorted(seen) == ["fp1", "fp2"]
        dead = await dlq.read(expected=1)
        assert [r.value for r in dead] == [b"{not an alert"]
        assert header(dead[0].headers, "dlq_source_topic") == prefix + Topic.ALERTS
        assert await plain.read(expected=0, timeout_s=1) == []
    finally:
        await producer.stop()


def test_a_topic_prefix_must_be_a_legal_kafka_name():
    from pydantic import ValidationError

    assert BaseServiceSettings(topic_prefix="staging.vigil-1_").topic_prefix == "staging.vigil-1_"
    with pytest.raises(ValidationError):
        BaseServiceSettings(topic_prefix="no spaces/or slashes")
