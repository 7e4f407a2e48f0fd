"""The console benchmark's load: timed page requests (one after another, or a few at once), and
browsers' live streams held open by one process — each an `EventSource` as htmx's SSE extension
opens it (the page's `since` cursor, `Last-Event-ID` and the server's `retry:` on reconnect): an
`incident` message says what changed, the `rows` after it are what the page shows (htmx's sse-swap),
and on a `refresh` message instead the page fetches its rows, as htmx does."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench.notifier_stack import stats_ms


class BadAnswer(RuntimeError):
    pass


async def timed_gets(client: httpx.AsyncClient, paths: list[str], *, requests: int, concurrency: int,
                     headers: dict[str, str] | None = None, expect: Callable[[str, str], bool] | None = None,
                     ok: tuple[int, ...] = (200,)) -> dict:
    """GET `paths` in turn, `requests` in all, `concurrency` at a time; each answer's status must be
    in `ok` (and pass `expect(path, body)`). Percentiles of the time from sending to the last byte."""
    queue = itertools.islice(itertools.cycle(paths), requests)
    durations: list[float] = []

    async def worker() -> None:
        for path in queue:
            began = time.perf_counter()
            response = await client.get(path, headers=headers)
            durations.append(time.perf_counter() - began)
            if response.status_code not in ok or (expect is not None and not expect(path, response.text)):
                raise BadAnswer(f"GET {path}: {response.status_code} {response.text[:300]!r}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return stats_ms(durations)


@dataclass
class Message:
    """One `incident` message as a client got it."""

    at: float  # time.time() when its last byte was read
    changes: list[dict] | None  # None: "something changed, reload" (the server did not know what)
    reconnected: bool  # the first message of a stream that was opened again (a catch-up)
    shown_at: float | None = None  # when the rows it made the page fetch had arrived


@dataclass
class SseClient:
    """One browser's live stream: connects, reads the chunked text/event-stream, reconnects when
    the server ends the stream, and fetches the rows after each `incident` message."""

    host: str
    port: int
    path: str  # /events/incidents?since=<the page's cursor>
    cookie: str
    rows_path: str
    http: httpx.AsyncClient
    messages: list[Message] = field(default_factory=list)
    connections: int = 0
    errors: list[str] = field(default_factory=list)
    last_id: str | None = None
    retry_ms: int = 3000  # EventSource's default until the server sends `retry:`
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    _waiting: list[Message] = field(default_factory=list)  # messages whose rows are not fetched yet
    _fetcher: asyncio.Future | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._one_stream(stop)
            except (OSError, asyncio.IncompleteReadError, BadAnswer) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_ms / 1000)
        if self._fetcher is not None:
            with contextlib.suppress(Exception):
                await self._fetcher

    async def _one_stream(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            last = f"Last-Event-ID: {self.last_id}\r\n" if self.last_id else ""
            writer.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: text/event-stream\r\n"
                         f"Cache-Control: no-cache\r\nCookie: {self.cookie}\r\n{last}\r\n".encode())
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                raise BadAnswer(f"the stream answered {status!r}")
            headers = (await reader.readuntil(b"\r\n\r\n")).lower()
            if b"transfer-encoding: chunked" not in headers:
                raise BadAnswer("the stream is not chunked")
            self.connections += 1
            self.opened.set()
            first, buffer = True, b""
            reading = asyncio.ensure_future(self._chunk(reader))
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if stopping.done():
                        return
                    chunk = reading.result()
                    if not chunk:
                        return  # the server ended the stream: reconnect after `retry`
                    buffer += chunk
                    while b"\n\n" in buffer:
                        block, buffer = buffer.split(b"\n\n", 1)
                        if self._event(block, time.time(), first):
                            first = False
                    reading = asyncio.ensure_future(self._chunk(reader))
            finally:
                for task in (reading, stopping):
                    task.cancel()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    @staticmethod
    async def _chunk(reader: asyncio.StreamReader) -> bytes:
        size = int((await reader.readline()).strip() or b"0", 16)
        data = await reader.readexactly(size + 2)
        return data[:-2]

    def _event(self, block: bytes, at: float, first: bool) -> bool:
        """Handle one event block; True when it was an `incident` message."""
        if block.startswith(b"event: rows\n"):  # shown as it came (htmx's sse-swap): its HTML is not read here
            for message in self._waiting:
                message.shown_at = at
            self._waiting = []
            return False
        fields: dict[str, str] = {}
        for line in block.decode().split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "retry" in fields and fields["retry"].isdigit():
            self.retry_ms = int(fields["retry"])
        if "id" in fields:
            self.last_id = fields["id"]
        if fields.get("event") == "refresh" and (self._fetcher is None or self._fetcher.done()):
            self._fetcher = asyncio.ensure_future(self._show())  # the page fetches its rows itself
        if fields.get("event") != "incident":
            return False
        message = Message(at=at, changes=json.loads(fields.get("data", "{}")).get("changes"), reconnected=first
                          and self.connections > 1)
        self.messages.append(message)
        self._waiting.append(message)
        return True

    async def _show(self) -> None:
        """Fetch the rows as htmx does on `sse:refresh`: one request at a time; messages that come
        meanwhile are answered by one more request after it (hx-trigger's default queue: last)."""
        while self._waiting:
            answering, self._waiting = self._waiting, []
            try:
                response = await self.http.get(self.rows_path, headers={"Cookie": self.cookie})
                if response.status_code != 200:
                    self.errors.append(f"rows: {response.status_code}")
                    continue
            except httpx.HTTPError as exc:
                self.errors.append(f"rows: {type(exc).__name__}: {exc}")
                continue
            for message in answering:
                message.shown_at = time.time()


def deliveries(clients: list[SseClient], events: dict[tuple[str, int], float]) -> dict:
    """For every (event, client): the delay from the event's Kafka timestamp to the `incident`
    message that carried it (a message without changes carries every event on Kafka before it) and
    to the rows that message made the page fetch."""
    received, shown, missing, via_reconnect = [], [], 0, 0
    complete = 0
    for client in clients:
        got_all = True
        for key, on_kafka in events.items():
            message = next((m for m in client.messages if (m.changes is None and m.at >= on_kafka) or any(
                (c["number"], c["version"]) == key for c in m.changes or ())), None)
            if message is None:
                missing += 1
                got_all = False
                continue
            received.append(message.at - on_kafka)
            via_reconnect += message.reconnected
            if message.shown_at is not None:
                shown.append(message.shown_at - on_kafka)
        complete += got_all
    return {"pairs": len(events) * len(clients), "missing": missing, "clients_with_every_event": complete,
            "received_via_reconnect": via_reconnect, "sse_received": stats_ms(received), "rows_shown": stats_ms(shown)}
