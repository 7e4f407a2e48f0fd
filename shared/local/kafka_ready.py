"""Make a broker ready for every service before `vigil dev` starts them: all of Vigil's topics exist
with a leader for each partition, and every group coordinator answers.

Without this, services that start together race the broker's own start-up: a consumer subscribes to
a topic another service has not created yet, a fetch reaches a partition whose leader is not elected
yet, a group join comes before the broker has created `__consumer_offsets` — and aiokafka logs each of
those retries at error level, although nothing is wrong. Creating the topics here, once, and waiting
for the broker to settle turns a clean start into a quiet one; errors logged afterwards mean something.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.events import Topic
from shared.kafka import client_options, ensure_topics
from shared.settings import BaseServiceSettings

log = structlog.get_logger("vigil.local.kafka")

OFFSETS_TOPIC = "__consumer_offsets"


def vigil_topics() -> list[str]:
    """Every topic a Vigil service produces or consumes, with the dead-letter topics."""
    names = [v for k, v in vars(Topic).items() if k.isupper() and isinstance(v, str)]
    return [*names, *(Topic.dlq(n) for n in names)]


def java_string_hash(text: str) -> int:
    """Java's `String.hashCode` (of a name in the Basic Multilingual Plane), which the broker uses to
    map a group id to its partition of `__consumer_offsets`."""
    h = 0
    for char in text:
        h = (31 * h + ord(char)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def group_for_each_partition(partitions: int) -> list[str]:
    """One group id per partition of `__consumer_offsets`: asking each one's coordinator warms them all."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        group = f"vigil-dev-warm-up-{n}"
        found.setdefault(abs(java_string_hash(group)) % partitions, group)
        n += 1
    return list(found.values())


async def _leaderless(admin: AIOKafkaAdminClient, topics: list[str]) -> list[str]:
    """The topics (of `topics`) that do not exist yet or have a partition without a leader."""
    waiting = []
    for topic in await admin.describe_topics(topics):
        if topic["error_code"] or not topic["partitions"] or any(
            p["error_code"] or p["leader"] < 0 for p in topic["partitions"]
        ):
            waiting.append(topic["topic"])
    return waiting


async def _without_coordinator(admin: AIOKafkaAdminClient, groups: list[str]) -> list[str]:
    """The groups (of `groups`) whose coordinator is not available yet."""
    missing = []
    for group in groups:
        try:
            await admin.find_coordinator(group)
        except KafkaError:
            missing.append(group)
    return missing


async def prepare_kafka(settings: BaseServiceSettings, *, timeout_s: float = 60.0) -> None:
    """Create every Vigil topic (idempotent), then wait until each partition has a leader and each
    group coordinator answers. Raises TimeoutError (naming what is missing) after `timeout_s`."""
    topics = [settings.topic_prefix + t for t in vigil_topics()]
    waiting: list[str] = ["the broker"]

    async def until_none(check) -> None:
        nonlocal waiting
        while waiting := await check():
            await asyncio.sleep(0.1)

    try:
        async with asyncio.timeout(timeout_s):
            await ensure_topics(settings, vigil_topics())
            admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
            await admin.start()
            try:
                await until_none(lambda: _leaderless(admin, topics))
                # The first coordinator lookup makes the broker create __consumer_offsets.
                await until_none(lambda: _without_coordinator(admin, ["vigil-dev-warm-up"]))
                await until_none(lambda: _leaderless(admin, [OFFSETS_TOPIC]))
                partitions = len((await admin.describe_topics([OFFSETS_TOPIC]))[0]["partitions"])
                await until_none(lambda: _without_coordinator(admin, group_for_each_partition(partitions)))
            finally:
                await admin.close()
    except TimeoutError:
        raise TimeoutError(f"Kafka was not ready after {timeout_s:.0f} s; still waiting for: {', '.join(waiting)}") from None
    log.info("kafka topics ready", topics=len(topics))
