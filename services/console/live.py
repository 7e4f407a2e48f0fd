"""The live incident list: the console follows `vigil.incidents.v1` and tells open pages that
something changed, over Server-Sent Events, with the page's rows as they are now (rendered once per
change, filters and role — fragments.py — read from the incident service), so a page shows a change
without a request of its own: 200 open pages are 200 writes, not 200 requests at once.

Every process reads the topic itself, without a consumer group (every replica serves browsers of its
own), from the end: pages load their state over HTTP and only need the changes after that. Each
change gets a sequence number; a page carries the number it was rendered at (the stream's event id),
so a page that reconnects — or opens its stream after a change — is told at once that it is behind."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

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
CHECK_S = 2.0  # how often the open streams' sessions are checked (the bound: docstring of StreamSessions)


class LiveIncidents:
    """This process's incident changes, numbered, and the open streams waiting for the next one."""

    def __init__(self) -> None:
        self.boot = secrets.token_hex(4)  # another process (or a restart) numbers from zero again
        self.seq = 0
        self._changes: deque[tuple[int, dict | None]] = deque(maxlen=KEEP)
        self._next = asyncio.Event()
        self.rows = SharedRenderings()  # the list's rows, rendered once per change for every open page
        self.sessions = StreamSessions()

    @property
    def cursor(self) -> str:
        return self.cursor_at(self.seq)

    def cursor_at(self, seq: int) -> str:
        return f"{self.boot}.{seq}"

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


# The rows one page shows after change `seq` as an event's data lines (`event_data`), with its
# session's token; None when the stream cannot vouch for its session now (the page then fetches its
# rows itself, which checks the session).
Rows = Callable[[int], Awaitable[str | None]]


async def stream(live: LiveIncidents, *, since: str | None, duration_s: float, rows: Rows | None = None,
                 signed_out: Callable[[], bool] = lambda: False) -> AsyncIterator[str]:
    """The text/event-stream of one page: whenever something changed after what it has seen, an
    `incident` event (what changed) and a `rows` event (the page's rows, for htmx's `sse-swap`) — or,
    when `rows` gives none, a `refresh` event (the page fetches them); comments to keep it open; and an
    end after `duration_s` (the browser reconnects, sending the last id it got) or once `signed_out()`.
    Without `rows`, `incident` events alone."""
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
        # What changed goes out at once; the rows follow when rendered (the id stays the stream's last).
        yield f"id: {live.cursor_at(seq)}\nevent: incident\ndata: {json.dumps({'changes': changes})}\n\n"
        if rows is None:
            continue
        data = await rows(seq)
        if data is None:
            yield "event: refresh\ndata: refresh\n\n"
            if signed_out():
                return
            continue
        yield f"event: rows\n{data}\n"


@functools.lru_cache(maxsize=16)
def event_data(text: str) -> str:
    """`text` as an event's data lines: EventSource joins them with "\\n" again. A bare CR also ends a
    line in SSE, so CRs become LFs first (as an HTML parser reads them anyway): no text can end the
    data early or add a field of its own. Kept for the few renderings in use: every open page of the
    same filters and role frames the same rendering (their tokens are filled in after)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "".join(f"data: {line}\n" for line in lines)



class StreamSessions:
    """The sessions of the open live streams, looked up together — one query for all of them every
    CHECK_S while any stream is open — instead of once per stream per change. The bound: a sign-out,
    a sign-out everywhere, a disabled person or a changed role reaches an open stream at its next
    check, within CHECK_S (2 s) and the query's time; the stream then sends `refresh` instead of rows
    and ends (the page's own request, and the reconnect, check the session). A stream whose session
    has not been checked successfully for 2 × CHECK_S (the database is slow or away) sends `refresh`
    too, so nothing is sent on a check older than that."""

    def __init__(self, *, every_s: float = CHECK_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s, self._clock = every_s, clock
        self._watched: dict[str, int] = {}  # session hash -> open streams
        self._found: dict[str, object | None] = {}  # session hash -> its session at the last check (None: gone)
        self._checked_at: dict[str, float] = {}
        self._lookup: Callable[[list[str]], Awaitable[dict[str, object]]] | None = None
        self._checker: asyncio.Task | None = None
        self.checks = 0  # queries made (the tests read it)

    @contextlib.contextmanager
    def watching(self, session_hash: str, session: object,
                 lookup: Callable[[list[str]], Awaitable[dict[str, object]]]):
        """Watch `session` (just looked up) while a stream is open; `lookup(hashes)` gives the sessions
        of those hashes that are still signed in."""
        self._lookup = lookup
        self._watched[session_hash] = self._watched.get(session_hash, 0) + 1
        self._found[session_hash], self._checked_at[session_hash] = session, self._clock()
        if self._checker is None or self._checker.done():
            self._checker = asyncio.ensure_future(self._check())
        try:
            yield
        finally:
            self._watched[session_hash] -= 1
            if not self._watched[session_hash]:
                for table in (self._watched, self._found, self._checked_at):
                    del table[session_hash]

    def current(self, session_hash: str) -> object | None:
        """The session as last checked, if that was recent enough; else None."""
        checked_at = self._checked_at.get(session_hash)
        if checked_at is None or self._clock() - checked_at > 2 * self._every_s:
            return None
        return self._found.get(session_hash)

    def gone(self, session_hash: str) -> bool:
        """Whether the last check found the session signed out (or expired, or its person disabled)."""
        return session_hash in self._found and self._found[session_hash] is None

    async def _check(self) -> None:
        while self._watched:
            await asyncio.sleep(self._every_s)
            hashes = list(self._watched)
            if not hashes or self._lookup is None:
                continue
            began = self._clock()
            try:
                found = await self._lookup(hashes)
            except Exception as exc:  # noqa: BLE001 — the next check tries again; streams send `refresh` meanwhile
                log.warning("live streams' sessions could not be checked", error=f"{type(exc).__name__}: {exc}")
                continue
            self.checks += 1
            for session_hash in hashes:
                if session_hash in self._watched:
                    self._found[session_hash], self._checked_at[session_hash] = found.get(session_hash), began


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
