"""The live list's numbering of changes: what a page that reconnects, or opens late, is told."""

import asyncio
import json

from services.console.live import LiveIncidents, StreamSessions, event_data, stream


def change(number: str) -> dict:
    return {"number": number, "kind": "opened"}


def test_a_page_at_the_current_cursor_has_seen_everything():
    live = LiveIncidents()
    live.publish(change("INC-1"))
    assert live.seen(live.cursor) == 1 and live.changes_since(1) == []


def test_a_page_behind_is_told_what_changed_since():
    live = LiveIncidents()
    cursor = live.cursor
    live.publish(change("INC-1"))
    live.publish(change("INC-2"))
    assert live.changes_since(live.seen(cursor)) == [change("INC-1"), change("INC-2")]


def test_a_cursor_of_another_process_or_nonsense_means_unknown():
    live = LiveIncidents()
    live.publish(change("INC-1"))
    for cursor in ("deadbeef.1", "", None, f"{live.boot}.x", f"{live.boot}.99"):
        assert live.seen(cursor) == -1
    assert live.changes_since(-1) is None


def test_changes_too_long_ago_or_missed_are_unknown():
    live = LiveIncidents()
    for n in range(300):
        live.publish(change(f"INC-{n}"))
    assert live.changes_since(0) is None  # forgotten
    assert len(live.changes_since(live.seq - 5)) == 5
    live.publish(None)  # the feed reconnected: something may have been missed
    assert live.changes_since(live.seq - 2) is None


async def _first_events(live: LiveIncidents, since: str | None, publish, count: int) -> list[str]:
    chunks = []
    source = stream(live, since=since, duration_s=5)
    async for chunk in source:
        chunks.append(chunk)
        if len(chunks) == 1:
            publish()
        if len(chunks) > count:
            break
    await source.aclose()
    return chunks


async def test_the_stream_sends_one_event_for_a_burst_of_changes():
    live = LiveIncidents()
    cursor = live.cursor

    def burst():
        live.publish(change("INC-1"))
        live.publish(change("INC-2"))

    retry, event = await _first_events(live, cursor, burst, 1)
    assert retry.startswith("retry: ")
    lines = dict(line.split(": ", 1) for line in event.strip().split("\n"))
    assert lines["event"] == "incident" and lines["id"] == live.cursor
    assert json.loads(lines["data"]) == {"changes": [change("INC-1"), change("INC-2")]}


async def test_a_page_that_opens_its_stream_after_a_change_is_told_at_once():
    live = LiveIncidents()
    cursor = live.cursor
    live.publish(change("INC-7"))
    _retry, event = await asyncio.wait_for(_first_events(live, cursor, lambda: None, 1), 2)
    assert '"INC-7"' in event


async def test_the_stream_ends_by_itself():
    live = LiveIncidents()
    chunks = [chunk async for chunk in stream(live, since=None, duration_s=0.2)]
    assert chunks[0].startswith("retry: ") and not any("event:" in chunk for chunk in chunks)


def _fields(event: str) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) for line in event.strip("\n").split("\n")]


async def test_the_stream_sends_the_pages_rows_after_what_changed():
    live = LiveIncidents()
    asked = []

    async def rows(seq: int) -> str:
        asked.append(seq)
        return event_data('<ul>\n<li id="incident-INC-1">one</li>\n</ul>')

    source = stream(live, since=live.cursor, duration_s=5, rows=rows)
    assert (await anext(source)).startswith("retry: ")
    live.publish(change("INC-1"))
    told = await asyncio.wait_for(anext(source), 2)
    sent = await asyncio.wait_for(anext(source), 2)
    await source.aclose()
    assert _fields(told) == [("id", live.cursor), ("event", "incident"),
                             ("data", json.dumps({"changes": [change("INC-1")]}))]
    assert told.endswith("\n\n") and sent.endswith("\n\n") and asked == [live.seq]
    assert _fields(sent) == [("event", "rows"), ("data", "<ul>"), ("data", '<li id="incident-INC-1">one</li>'),
                             ("data", "</ul>")]


def test_a_carriage_return_in_the_rows_cannot_end_a_data_line_early():
    assert event_data("a\r\nb\rc\nid: x") == "data: a\ndata: b\ndata: c\ndata: id: x\n"


async def test_without_rows_for_its_session_the_stream_asks_for_a_refresh_and_ends_when_signed_out():
    live = LiveIncidents()
    signed_out = False

    async def no_rows(seq: int) -> None:
        return None

    source = stream(live, since=live.cursor, duration_s=5, rows=no_rows, signed_out=lambda: signed_out)
    await anext(source)
    live.publish(change("INC-1"))
    told, first = [await asyncio.wait_for(anext(source), 2) for _ in range(2)]
    assert "event: incident" in told and first == "event: refresh\ndata: refresh\n\n"
    live.publish(change("INC-2"))
    assert [await asyncio.wait_for(anext(source), 2) for _ in range(2)][1] == first  # not checked lately: it goes on
    signed_out = True
    assert [chunk async for chunk in source] == []  # signed out: it ended, and the reconnect checks the session


class Sessions:
    """A lookup of the signed-in sessions, counting its calls (one query for all streams)."""

    def __init__(self, signed_in: set[str]) -> None:
        self.signed_in, self.calls = signed_in, []

    async def __call__(self, hashes: list[str]) -> dict[str, str]:
        self.calls.append(sorted(hashes))
        return {h: f"session {h}" for h in hashes if h in self.signed_in}


async def test_open_streams_sessions_are_checked_together_and_a_sign_out_reaches_them_within_the_bound():
    watch = StreamSessions(every_s=0.05)
    lookup = Sessions({"a", "b"})
    with watch.watching("a", "session a", lookup), watch.watching("b", "session b", lookup), \
            watch.watching("b", "session b", lookup):
        assert watch.current("a") == "session a" and not watch.gone("a")
        await asyncio.sleep(0.12)
        assert lookup.calls and all(call == ["a", "b"] for call in lookup.calls)
        lookup.signed_in.discard("b")  # signed out (everywhere, or disabled)
        await asyncio.sleep(0.12)
        assert watch.current("b") is None and watch.gone("b")
        assert watch.current("a") == "session a"
    assert watch.current("a") is None and not watch.gone("a")  # no stream watches it any more
    await asyncio.sleep(0.1)
    calls = len(lookup.calls)
    await asyncio.sleep(0.1)
    assert len(lookup.calls) == calls, "sessions were checked with no stream open"


async def test_a_session_not_checked_lately_gives_no_rows():
    now = [0.0]
    watch = StreamSessions(every_s=1.0, clock=lambda: now[0])

    async def failing(hashes: list[str]) -> dict:
        raise OSError("the database is away")

    with watch.watching("a", "session a", failing):
        now[0] = 1.9
        assert watch.current("a") == "session a"
        now[0] = 2.1
        assert watch.current("a") is None and not watch.gone("a")
