"""`child_traceparent`: the W3C trace context ingest passes on when it exports no spans."""

import re

from shared.observability import child_traceparent

FORMAT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"


def test_a_caller_trace_is_continued_with_a_new_span_and_the_callers_flags():
    child = child_traceparent(CALLER)
    assert FORMAT.fullmatch(child)
    _, trace_id, span_id, flags = child.split("-")
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span_id != "00f067aa0ba902b7" and span_id != "0" * 16
    assert flags == "00"


def test_no_or_a_malformed_or_an_invalid_parent_starts_a_new_sampled_trace():
    for parent in (None, "", "garbage", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                   "00-" + "0" * 32 + "-00f067aa0ba902b7-01", CALLER.upper()):
        child = child_traceparent(parent)
        assert FORMAT.fullmatch(child), child
        assert child.split("-")[1] not in ("4bf92f3577b34da6a3ce929d0e0e4736", "0" * 32)
        assert child.endswith("-01")


def test_every_call_gets_new_ids():
    assert len({child_traceparent(None) for _ in range(100)}) == 100
    assert len({child_traceparent(CALLER).split("-")[2] for _ in range(100)}) == 100
