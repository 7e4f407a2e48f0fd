"""Kafka plumbing: topic creation, an event producer that knows when it is usable, and the consumer
loop that commits an offset only after the handler's effect is stored.

Deliberately narrow: every service produces and consumes through these few pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Generic, NamedTuple

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import TopicPartition
from opentelemetry import propagate
from prometheus_client import Counter

from shared.events import E, Event, Topic, decode, encode
from shared.metrics import PerService
from shared.settings import BaseServiceSettings

log = structlog.get_logger("vigil.kafka")

TOPIC_ALREADY_EXISTS = 36

# In the registry of the service the loop or producer runs for (shared/metrics.py).
CONSUMED = PerService(lambda registry: Counter(
    "vigil_consumer_messages_total", "Messages handled by a consumer loop", ["topic", "group", "outcome"], registry=registry))
PRODUCE_FAILURES = PerService(lambda registry: Counter(
    "vigil_producer_failures_total", "Events not acknowledged by Kafka in time", ["topic"], registry=registry))


class Message(NamedTuple):
    """One encoded Kafka message."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


class ProducerUnavailable(RuntimeError):
    """Kafka did not acknowledge the events in time (or the producer is not connected)."""


class MessageTooLarge(ValueError):
    """An event that can never be produced: encoded, it is larger than the broker takes
    (`VIGIL_KAFKA_MAX_MESSAGE_BYTES`). Permanent, unlike `ProducerUnavailable`: nothing was sent."""

    def __init__(self, event: Event, size: int, limit: int) -> None:
        super().__init__(f"event {event.event_id} ({type(event).__name__}) is {size:,} bytes encoded; "
                         f"Kafka takes at most {limit:,}")
        self.event, self.size, self.limit = event, size, limit


class PermanentHandlerError(Exception):
    """Raised by a handler for a message that can never be processed: it goes to the DLQ."""


def client_options(settings: BaseServiceSettings) -> dict:
    return {"bootstrap_servers": ",".join(settings.kafka_bootstrap_servers), "client_id": settings.kafka_client_id}


async def ensure_topics(settings: BaseServiceSettings, topics: Iterable[str], *, partitions: int | None = None) -> None:
    """Create `topics` (with the settings' topic prefix) if they do not exist (idempotent; an
    existing topic is left as it is). Those of `Topic.COMPACTED` are compacted."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
    await admin.start()
    try:
        new = [
            NewTopic(settings.topic_prefix + name, partitions or settings.topic_partitions, settings.topic_replication_factor,
                     topic_configs={"cleanup.policy": "compact"} if name in Topic.COMPACTED else {})
            for name in topics
        ]
        response = await admin.create_topics(new)
        for name, code, message in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise KafkaError(f"creating topic {name} failed: error {code} {message}")
    finally:
        await admin.close()


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


class KeyPartitions:
    """The partition of each message's key, exactly as aiokafka's default partitioner (and the Java
    client) chooses it: murmur2 of the key over the topic's partitions in id order. The hashes of
    recent keys are remembered (alerts repeat their fingerprints), and the topic's partition list
    is read once per call instead of once per message: together a third of what aiokafka's
    `send()` cost per alert in ingest's profile."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._hashes: dict[bytes, int] = {}

    def hash_of(self, key: bytes) -> int:
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return h

    def for_messages(
        self, partitions_for_topic: Callable[[str], Iterable[int] | None], messages: Sequence[Message]
    ) -> list[int | None]:
        """Each message's partition; None (aiokafka decides) for no key or unknown topic metadata.
        `partitions_for_topic` is the producer's metadata lookup (`client.cluster.partitions_for_topic`)."""
        ids_by_topic: dict[str, list[int] | None] = {}
        chosen: list[int | None] = []
        for m in messages:
            if m.topic not in ids_by_topic:
                known = partitions_for_topic(m.topic)
                ids_by_topic[m.topic] = sorted(known) if known else None
            ids = ids_by_topic[m.topic]
            chosen.append(ids[self.hash_of(m.key) % len(ids)] if ids and m.key is not None else None)
        return chosen


class EventProducer:
    """An idempotent `acks=all` producer that connects in the background and retries until Kafka is
    there, so a service starts (and answers 503) while the broker is still coming up."""

    def __init__(
        self,
        settings: BaseServiceSettings,
        *,
        ce_source: str,
        ensure: Sequence[str] = (),
        linger_ms: int = 0,
        retry_backoff_s: float = 1.0,
        service: str | None = None,
    ) -> None:
        """`service`: whose metrics registry its failures, and its consumers' messages, count in."""
        self.service = service
        self._produce_failures = PRODUCE_FAILURES.of(service)
        self._settings = settings
        self._prefix = settings.topic_prefix  # Kafka's topic = prefix + the event's topic
        self._ce_source = ce_source
        self._ensure = list(ensure)
        self._linger_ms = linger_ms
        self._retry_backoff_s = retry_backoff_s
        self._producer: AIOKafkaProducer | None = None
        self._partitions = KeyPartitions()
        self._connected = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Start connecting in the background; `wait_connected` or `connected` tell when done."""
        self._task = asyncio.create_task(self._connect_forever(), name="kafka-producer-connect")

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until connected and the topics exist (forever with no timeout)."""
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def _connect_forever(self) -> None:
        attempt = 0
        while True:
            attempt += 1
            producer = AIOKafkaProducer(
                **client_options(self._settings),
                acks="all",
                enable_idempotence=True,
                linger_ms=self._linger_ms,
                # 16 kB (the default) holds ~12 alert events: every further send() then waits for the
                # in-flight request. 512 kB cut ingest's p99 at c=64 from 2.7 s to 0.6 s.
                max_batch_size=512 * 1024,
                max_request_size=self._settings.kafka_max_message_bytes + 64 * 1024,  # a message's own overhead
                request_timeout_ms=30_000,
            )
            try:
                if self._ensure:
                    await ensure_topics(self._settings, self._ensure)
                await producer.start()
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("kafka not reachable yet", attempt=attempt, error=str(exc))
                await asyncio.sleep(min(self._retry_backoff_s * attempt, 10.0))
                continue
            self._producer = producer
            self._connected.set()
            log.info("kafka producer connected", servers=self._settings.kafka_bootstrap_servers)
            return

    async def publish(self, events: Sequence[Event], *, timeout_s: float, traceparent: str | None = None) -> None:
        """Produce every event and return once Kafka acknowledged all of them (acks=all).

        Raises ProducerUnavailable when not connected, on a producer error, or after `timeout_s`;
        MessageTooLarge, before sending any, when an event can never fit the broker.
        Events keep their order per key; an event produced twice (after a timeout) keeps its id.
        The events carry `traceparent`, by default the current span's.
        """
        traceparent = traceparent or current_traceparent()
        limit = self._settings.kafka_max_message_bytes - 1024  # headroom for the record's own fields
        messages = []
        last_time: datetime | None = None  # the events of one notification share one occurred_at object
        ce_time = b""
        for event in events:
            if event.occurred_at is not last_time:
                last_time, ce_time = event.occurred_at, event.occurred_at.isoformat().encode()
            key, value, headers = encode(event, ce_source=self._ce_source, traceparent=traceparent, ce_time=ce_time)
            if len(value) > limit:  # the value is nearly all of it; the exact check only then
                size = len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in headers)
                if size > limit:
                    raise MessageTooLarge(event, size, limit)  # before anything of `events` is sent
            messages.append(Message(event.topic, key, value, headers))
        await self.publish_raw(messages, timeout_s=timeout_s)

    async def publish_raw(self, messages: Sequence[Message], *, timeout_s: float) -> None:
        """Produce already-encoded messages (an outbox's rows) and wait for every ack, in order."""
        producer = self._producer
        if producer is None:
            raise ProducerUnavailable("not connected to Kafka yet")
        if self._prefix:
            messages = [m._replace(topic=self._prefix + m.topic) for m in messages]
        try:
            async with asyncio.timeout(timeout_s):
                partitions = self._partitions.for_messages(producer.client.cluster.partitions_for_topic, messages)
                pending = [
                    await producer.send(m.topic, m.value, key=m.key, headers=m.headers, partition=p)
                    for m, p in zip(messages, partitions, strict=True)
                ]
                await asyncio.gather(*pending)
        except (KafkaError, TimeoutError) as exc:
            for topic in {m.topic for m in messages}:
                self._produce_failures.labels(topic).inc()
            raise ProducerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def send_raw(self, topic: str, *, key: bytes | None, value: bytes | None, headers: list, timeout_s: float) -> None:
        """Produce one already-encoded message (used for dead letters) and wait for the ack."""
        if self._producer is None:
            raise ProducerUnavailable("not connected to Kafka yet")
        async with asyncio.timeout(timeout_s):
            await self._producer.send_and_wait(self._prefix + topic, value, key=key, headers=headers)

    async def check(self, timeout_s: float = 2.0) -> bool:
        """True when a broker answers a metadata request: the readiness probe's Kafka check."""
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                await self._producer.client.fetch_all_metadata()
            return True
        except (KafkaError, TimeoutError, OSError):
            return False

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        self._connected.clear()


# Values PostgreSQL refuses for good (its class 22: a NUL in text, a number out of range, and the
# client's own "invalid input" for a parameter): retrying cannot help, and the message would hold up
# its partition for ever, so it goes to the DLQ like a PermanentHandlerError.
STORE_REFUSES = (asyncpg.exceptions.DataError, asyncpg.exceptions._base.DataError)

Handler = Callable[[E, ConsumerRecord], Awaitable[None]]
BatchHandler = Callable[[list[tuple[E, ConsumerRecord]]], Awaitable[None]]


class ConsumerLoop(Generic[E]):
    """Reads `topic` in consumer group `group_id`, decodes each message as `model` and awaits
    `handle(event, record)`. The offset is committed only after the handler returned, i.e. after its
    effect is stored. A message that does not decode, or whose handler raises PermanentHandlerError,
    goes to `<topic>.dlq` with the error and is committed. Any other handler error is retried with
    backoff (the store may be down); the loop itself never dies of one message.

    With `concurrent_partitions`, the partitions of one poll are handled concurrently (in order
    within each): for handlers whose effects are independent across keys, so the store's latency is
    paid once per poll rather than once per partition.

    With `handle_batch`, the records one poll returns for a partition are first offered to it
    together (one transaction for many events is far cheaper than one each). If any of them does
    not decode, or the batch handler raises, the batch falls back to one-by-one handling with the
    rules above, so a batch never hides a bad message and never skips a good one.

    With `handle_batch` and `batch_partitions`, the records of every partition of one poll are
    offered to it in one call (partition by partition, each in offset order): one transaction per
    poll instead of one per partition, for handlers that serialise their effects in the store anyway
    (events of different partitions touching the same rows). If that call fails, the poll falls back
    to the per-partition handling above.

    With `commit_interval_s`, offsets are committed at most that often, and the loop never waits for
    a commit in flight: the offsets stored meanwhile go together in the next one (and at stop). Each
    offset commit costs the broker work: at a few records per poll this is most of its CPU.

    With `pipeline` (and `handle_batch`), the next poll is fetched and decoded while the handler
    still stores the previous one: decoding is CPU in this process, storing mostly waits for the
    store, so the two overlap. The next poll's handler starts only after the previous poll's has
    returned (order within a partition is kept) and its offsets were handed to the commit, so an
    offset is still committed only after its effect is stored, and a failing handler is retried (or
    falls back one by one) before anything after it is handled.

    `consumer_options` are passed to the `AIOKafkaConsumer` as they are (e.g. `fetch_max_wait_ms`,
    `fetch_min_bytes`: fewer, fuller fetches for a bounded wait); none by default (aiokafka's).

    Each handler call runs under a deadline (`handler_timeout_s`): a handler that hangs on a
    dependency is cancelled and retried like any failure, so one hung call cannot stop the loop.
    """

    def __init__(
        self,
        settings: BaseServiceSettings,
        *,
        topic: str,
        group_id: str,
        model: type[E],
        handle: Handler,
        producer: EventProducer,
        handle_batch: BatchHandler | None = None,
        max_batch: int = 200,
        concurrent_partitions: bool = False,
        batch_partitions: bool = False,
        commit_interval_s: float = 0.0,
        pipeline: bool = False,
        consumer_options: Mapping[str, object] | None = None,
        retry_backoff_s: float = 0.5,
        max_retry_backoff_s: float = 30.0,
        handler_timeout_s: float = 120.0,
    ) -> None:
        self._settings = settings
        self._handler_timeout_s = handler_timeout_s
        self.topic = topic
        self.group_id = group_id
        self._model = model
        self._handle = handle
        self._handle_batch = handle_batch
        self._producer = producer
        self._max_batch = max_batch
        self._concurrent_partitions = concurrent_partitions
        self._batch_partitions = batch_partitions
        self._commit_interval_s = commit_interval_s
        self._pipeline = pipeline and handle_batch is not None
        self._consumer_options = dict(consumer_options or {})
        self._retry_backoff_s = retry_backoff_s
        self._max_retry_backoff_s = max_retry_backoff_s
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._consumed = CONSUMED.of(producer.service)

    async def run(self) -> None:
        """Consume until `stop()`; reconnects if Kafka is not there yet."""
        # The producer (for dead letters) creates the topics: subscribe only once they exist.
        waiter = asyncio.ensure_future(self._producer.wait_connected())
        stopper = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
        if self._stopping.is_set():
            return
        consumer = await self._start_consumer()
        if consumer is None:
            return
        self._commit_task: asyncio.Task | None = None
        self._pending: dict[TopicPartition, int] = {}  # stored, not yet committed (with a commit interval)
        self._last_commit = 0.0
        handling: asyncio.Task | None = None  # with pipeline: the previous poll's handler, still storing
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=self._poll_timeout_ms(self._pending), max_records=self._max_batch)
                if not self._pipeline:
                    await self._handled(consumer, batch, await self._handle_poll(batch, {}))
                    continue
                decoded = await self._decode_poll(batch)  # while the previous poll's handler waits for the store
                if handling is not None:
                    previous, handling = handling, None
                    await self._handled(consumer, *await previous)
                    if self._stopping.is_set():
                        break  # this poll is not handled: not committed, read again after a restart
                handling = asyncio.create_task(self._handle_poll_of(batch, decoded))
        finally:
            if handling is not None:
                with contextlib.suppress(Exception):
                    previous_batch, done = await handling
                    offsets = self._offsets(previous_batch, done)
                    self._pending.update(offsets)
            if self._commit_task is not None:
                with contextlib.suppress(Exception):
                    await self._commit_task
            if self._pending:
                with contextlib.suppress(Exception):
                    await self._commit(consumer, self._pending)
            with contextlib.suppress(Exception):
                await consumer.stop()

    @staticmethod
    def _offsets(batch: dict, done: list[ConsumerRecord | None]) -> dict[TopicPartition, int]:
        return {tp: d.offset + 1 for tp, d in zip(batch, done, strict=True) if d is not None}

    async def _handle_poll(self, batch: dict, decoded: dict) -> list[ConsumerRecord | None]:
        """Handle one poll's records; per partition the last record whose effect is stored."""
        if self._batch_partitions and len(batch) > 1 and await self._process_batch(
            [r for records in batch.values() for r in records], self._joined(batch, decoded)
        ):
            return [records[-1] for records in batch.values()]
        if self._concurrent_partitions and len(batch) > 1:
            return list(await asyncio.gather(
                *(self._handle_partition(records, decoded.get(tp)) for tp, records in batch.items())))
        return [await self._handle_partition(records, decoded.get(tp)) for tp, records in batch.items()]

    async def _handle_poll_of(self, batch: dict, decoded: dict) -> tuple[dict, list[ConsumerRecord | None]]:
        return batch, await self._handle_poll(batch, decoded)

    async def _decode_poll(self, batch: dict) -> dict:
        """Each partition's decoded events for the batch handler (None: one does not decode; the
        handling decodes them one by one and dead-letters it). Yields to the event loop after each
        partition, so that the previous poll's handler goes on with the store's answers meanwhile."""
        decoded = {}
        for tp, records in batch.items():
            await asyncio.sleep(0)
            if len(records) > 1:
                try:
                    decoded[tp] = [(decode(self._model, r.value), r) for r in records]
                except ValueError:
                    decoded[tp] = None
        return decoded

    @staticmethod
    def _joined(batch: dict, decoded: dict) -> list | None:
        if not decoded:
            return None
        items = []
        for tp in batch:
            part = decoded.get(tp)
            if part is None:
                return None
            items += part
        return items

    async def _handled(self, consumer: AIOKafkaConsumer, batch: dict, done: list[ConsumerRecord | None]) -> None:
        """Hand the stored offsets of a handled poll to the commit."""
        offsets = self._offsets(batch, done)
        if self._commit_interval_s <= 0:
            if offsets:
                # One commit per poll, for every partition whose effects are stored, sent while the
                # next poll is handled: a commit takes the broker several ms and would otherwise
                # stall every message behind it. At most one is in flight, so they stay in order.
                if self._commit_task is not None:
                    await self._commit_task
                self._commit_task = asyncio.create_task(self._commit(consumer, offsets))
            return
        # With an interval: the stored offsets wait (without stalling the loop) until no commit
        # is in flight and the interval since the last one has passed, then go in one commit.
        self._pending.update(offsets)
        now = asyncio.get_running_loop().time()
        commit = self._commit_task
        if self._pending and (commit is None or commit.done()) and now - self._last_commit >= self._commit_interval_s:
            self._commit_task = asyncio.create_task(self._commit(consumer, self._pending))
            self._pending, self._last_commit = {}, now

    def _poll_timeout_ms(self, pending: dict) -> int:
        """Wait at most 500 ms for records, less while stored offsets wait for their commit."""
        if pending:
            return max(1, min(500, int(self._commit_interval_s * 1000)))
        return 500

    async def _handle_partition(self, records: list[ConsumerRecord], items: list | None = None) -> ConsumerRecord | None:
        """Handle one partition's records of a poll, in order; returns the last one whose effect is stored.
        `items`: the records already decoded (pipeline)."""
        if len(records) > 1 and await self._process_batch(records, items):
            return records[-1]
        done: ConsumerRecord | None = None
        for record in records:
            if self._stopping.is_set() or not await self._process(record):
                break
            done = record
        return done

    async def _start_consumer(self) -> AIOKafkaConsumer | None:
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            consumer = AIOKafkaConsumer(
                self._settings.topic_prefix + self.topic,
                **client_options(self._settings),
                group_id=self.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                **self._consumer_options,
            )
            try:
                await consumer.start()
                self._consumer = consumer
                log.info("consumer started", topic=self.topic, group=self.group_id)
                return consumer
            except (KafkaError, OSError) as exc:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                log.warning("consumer cannot reach kafka yet", topic=self.topic, attempt=attempt, error=str(exc))
                await self._sleep(min(attempt, 10))
        return None

    async def _process_batch(self, records: list[ConsumerRecord], items: list | None = None) -> bool:
        """Offer the records to the batch handler in one call; False means "handle them one by one".
        `items`: the records already decoded, with the records (pipeline)."""
        if self._handle_batch is None:
            return False
        if items is None:
            try:
                items = [(decode(self._model, r.value), r) for r in records]
            except ValueError:
                return False  # the one-by-one path dead-letters the bad one
        try:
            async with asyncio.timeout(self._handler_timeout_s):
                await self._handle_batch(items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried one by one, which isolates the cause
            log.warning("batch handler failed; handling one by one", topic=self.topic, size=len(records), error=repr(exc))
            return False
        self._consumed.labels(self.topic, self.group_id, "ok").inc(len(records))
        return True

    async def _process(self, record: ConsumerRecord) -> bool:
        """Handle one record until its effect is stored or it is dead-lettered (True), or until
        the loop stops while it is still failing (False: it must not be committed)."""
        try:
            event = decode(self._model, record.value)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            await self._dead_letter(record, f"undecodable as {self._model.__name__}: {exc}")
            return True
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(self._handler_timeout_s):
                    await self._handle(event, record)
                self._consumed.labels(self.topic, self.group_id, "ok").inc()
                return True
            except PermanentHandlerError as exc:
                await self._dead_letter(record, f"rejected by handler: {exc}")
                return True
            except STORE_REFUSES as exc:
                await self._dead_letter(record, f"refused by the store: {type(exc).__name__}: {exc}")
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must survive; the message is retried
                self._consumed.labels(self.topic, self.group_id, "retry").inc()
                log.error(
                    "handler failed, will retry",
                    topic=record.topic, partition=record.partition, offset=record.offset,
                    attempt=attempt, error=repr(exc), exc_info=attempt == 1,
                )
                if self._stopping.is_set():
                    return False
                await self._sleep(min(self._retry_backoff_s * 2 ** (attempt - 1), self._max_retry_backoff_s))

    async def _dead_letter(self, record: ConsumerRecord, error: str) -> None:
        headers = list(record.headers or ()) + [
            ("dlq_error", error[:4000].encode()),
            ("dlq_source_topic", record.topic.encode()),
            ("dlq_source_partition", str(record.partition).encode()),
            ("dlq_source_offset", str(record.offset).encode()),
            ("dlq_consumer_group", self.group_id.encode()),
        ]
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._producer.send_raw(  # the producer adds the topic prefix
                    Topic.dlq(self.topic), key=record.key, value=record.value, headers=headers, timeout_s=10
                )
                break
            except (ProducerUnavailable, KafkaError, TimeoutError) as exc:
                log.error("dead-lettering failed, will retry", error=str(exc), attempt=attempt)
                await self._sleep(min(attempt, 10))
        self._consumed.labels(self.topic, self.group_id, "dlq").inc()
        log.warning(
            "message sent to DLQ", topic=record.topic, partition=record.partition, offset=record.offset, error=error[:500]
        )

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # Typically a rebalance: the partition's next owner re-reads from the last commit, and
            # every effect is idempotent, so this loses nothing.
            log.warning("offset commit failed; messages will be re-read",
                        partitions=sorted(tp.partition for tp in offsets), error=str(exc))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def stop(self) -> None:
        self._stopping.set()
