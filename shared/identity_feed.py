"""Keeps a process's set of revoked personal tokens current: reads `vigil.identity.v1` (compacted) from
its beginning, without a consumer group (every replica needs every revocation), and follows it.
Until the first read reaches the end, personal tokens are refused (readiness says so): a token
revoked while the process was down must not work for the seconds a restart takes."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from shared.events import Topic, TokenChanged, decode
from shared.identity import RevokedTokens
from shared.kafka import client_options
from shared.settings import BaseServiceSettings

log = structlog.get_logger("vigil.identity")


class IdentityFeed:
    def __init__(self, settings: BaseServiceSettings, revoked: RevokedTokens) -> None:
        self._settings = settings
        self._revoked = revoked
        self._stopping = asyncio.Event()
        self.caught_up = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        topic = self._settings.topic_prefix + Topic.IDENTITY
        attempt = 0
        while not self._stopping.is_set():
            # No group: every partition is assigned, and with nothing committed reading starts at the beginning.
            consumer = AIOKafkaConsumer(topic, **client_options(self._settings), group_id=None,
                                        enable_auto_commit=False, auto_offset_reset="earliest")
            try:
                await consumer.start()
                tps = sorted(consumer.assignment())
                if not tps:
                    raise KafkaError(f"{topic} has no partitions yet")
                ends = await consumer.end_offsets(tps)
                attempt = 0
                await self._follow(consumer, ends)
            except (KafkaError, OSError) as exc:
                attempt += 1
                log.warning("identity feed cannot read, will retry", error=str(exc), attempt=attempt)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), min(attempt, 10))
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer, ends: dict) -> None:
        while not self._stopping.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    self._apply(record.value)
            if not self.caught_up.is_set() and await _reached(consumer, ends):
                self.caught_up.set()
                self._revoked.complete = True
                log.info("identity feed caught up", revoked=len(self._revoked))

    def _apply(self, value: bytes | None) -> None:
        try:
            change = decode(TokenChanged, value)
        except ValueError:
            log.warning("identity feed: a message that is not a TokenChanged was skipped")
            return
        if change.revoked:
            self._revoked.revoke(change.token_id)
        else:
            self._revoked.restore(change.token_id)


async def _reached(consumer: AIOKafkaConsumer, ends: dict) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
