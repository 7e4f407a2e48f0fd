"""The live incident list: the console follows `vigil.incidents.v1` and tells open pages that
something changed, over Server-Sent Events; each page then fetches its own rows again (with its own
filters), so what it shows always comes from the incident service.

Every process reads the topic itself, without a consumer group (every replica serves browsers of its
own), from the end: pages load their state over HTTP and only need the changes after that. Each
change gets a sequence number; a page carries the number it was rendered at (the stream's event id),
so a page that reconnects — or opens its stream after a change — is told at once that it is behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from services.console.fragments import SharedRenderings
from shared.events import IncidentEvent, Topic, decode
from shared.kafka import client_options
from shared.settings import BaseServiceSettings

log = structlog.get_logger("vigil.console")

KEEP = 200  # changes remembered for a stream that reconnects
KEEPALIVE_S = 10.0  # a comment line keeps proxies from closing an idle stream
GATHER_S = 0.05  # a burst of changes goes out as one message
RECONNECT_MS = 500  # how soon a browser opens the stream again after it ended


class LiveIncidents:
    """This process's incident changes, numbered, and the open streams waiting for the next one."""

    def __init__(self) -> None:
        self.boot = secrets.token_hex(4)  # another process (or a restart) numbers from zero again
        self.seq = 0
        self._changes: deque[tuple[int, dict | None]] = deque(maxlen=KEEP)
        self._next = asyncio.Event()
        self.rows = SharedRenderings()  # the list's rows, rendered once per change for every open page

    @property
    def cursor(self) -> str:
        return f"{self.boot}.{self.seq}"

    def publish(self, change: dict | None) -> None:
        """A change (None: changes may have been missed, e.g. while the feed reconnected)."""
        self.seq += 1
        self._changes.append((self.seq, change))
        woken, self._next = self._next, asyncio.Event()
        woken.set()

    def seen(self, cursor: str | None) -> int:
        """The sequence number a page has seen; -1 when its cursor is another process's (or none)."""
        boot, _, seq = (cursor or "").partition(".")
        return int(seq) if boot == self.boot and seq.isdigit() and int(seq) <= self.seq else -1

    def changes_since(self, seq: int) -> list[dict] | None:
        """What changed after `seq`, or None when that is not known (too long ago, or missed)."""
        if seq < 0 or (self._changes and self._changes[0][0] > seq + 1):
            return None
        found = [change for n, change in self._changes if n > seq]
        return None if any(change is None for change in found) else found  # type: ignore[return-value]

    async def wait_after(self, seq: int, timeout_s: float) -> bool:
        """Wait until there is a change after `seq` (True) or `timeout_s` passed (False)."""
        if self.seq > seq:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._next.wait(), timeout_s)
        return self.seq > seq


def change_of(event: IncidentEvent) -> dict:
    return {"number": event.number, "kind": event.kind, "status": event.status, "severity": event.severity,
            "acknowledged_by": event.acknowledged_by, "version": event.version}


async def stream(live: LiveIncidents, *, since: str | None, duration_s: float) -> AsyncIterator[str]:
    """The text/event-stream of one page: an `incident` event whenever something changed after what it
    has seen, comments to keep it open, and an end after `duration_s` (the browser reconnects, sending
    the last id it got)."""
    seq = live.seen(since)
    if seq < 0 and since is None:
        seq = live.seq  # a stream without a cursor starts now
    ends = time.monotonic() + duration_s
    yield f"retry: {RECONNECT_MS}\n\n"
    while (left := ends - time.monotonic()) > 0:
        if not await live.wait_after(seq, min(KEEPALIVE_S, left)):
            yield ": keepalive\n\n"
            continue
        await asyncio.sleep(GATHER_S)
        changes = live.changes_since(seq)
        seq = live.seq
        yield f"id: {live.cursor}\nevent: incident\ndata: {json.dumps({'changes': changes})}\n\n"


class IncidentFeed:
    """Follows `vigil.incidents.v1` into a `LiveIncidents`; survives broker outages (reconnects, and
    tells the pages they may have missed something)."""

    def __init__(self, settings: BaseServiceSettings, live: LiveIncidents) -> None:
        self._settings = settings
        self._live = live
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        topic = self._settings.topic_prefix + Topic.INCIDENTS
        attempt = 0
        followed_before = False
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(topic, **client_options(self._settings), group_id=None,
                                        enable_auto_commit=False, auto_offset_reset="latest")
            try:
                await consumer.start()
                if not consumer.assignment():
                    raise KafkaError(f"{topic} has no partitions yet")
                await consumer.seek_to_end()
                if followed_before:
                    self._live.publish(None)  # what happened while away is not known: pages reload
                followed_before, attempt = True, 0
                await self._follow(consumer)
            except (KafkaError, OSError) as exc:
                attempt += 1
                log.warning("live incident feed cannot read, will retry", error=str(exc), attempt=attempt)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), min(attempt, 5))
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    try:
                        self._live.publish(change_of(decode(IncidentEvent, record.value)))
                    except ValueError:
                        log.warning("live incident feed skipped a message that is not an IncidentEvent")
