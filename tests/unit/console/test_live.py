"""The live list's numbering of changes: what a page that reconnects, or opens late, is told."""

import asyncio
import json

from services.console.live import LiveIncidents, stream


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
