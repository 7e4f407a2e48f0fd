"""PURE: Prometheus' counter semantics on one series' samples, one sample at a time, keeping only
the last sample (not a TSDB).

- A series' first sample is its baseline: what it counted before is not known to have happened in
  any window (Prometheus' `increase()` cannot see it either).
- A value below the previous one is a counter reset: the increase is the new value (the counter
  restarted from zero), as `rate()` and `increase()` count it.
- A sample at or before the last one is a duplicate (same time) or out of order, and is ignored:
  remote-write retries resend batches, and shards may deliver one series' samples late.
- Prometheus' staleness marker (a NaN with the payload 0x7ff0000000000002) ends the series' run;
  the next sample after it is compared with the last real one (a restart in between is a reset),
  unless more than `max_gap_ms` passed, when it is a new baseline (the gap's increase is unknown).
- An OTLP delta point is its own increase over (start, time]; only its time is kept, to drop repeats.
- An increase is spread evenly over the time since the previous sample (at most `max_spread_ms`),
  minute by minute, so a 60 s scrape interval that straddles a minute boundary counts in both
  minutes in proportion — the interpolation `rate()` does at a window's edges.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Literal

MINUTE_MS = 60_000
STALE_NAN_BITS = 0x7FF0000000000002
Outcome = Literal["baseline", "increase", "duplicate", "out_of_order", "stale", "nan"]


def is_stale_marker(value: float) -> bool:
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


@dataclass(slots=True)
class LastSample:
    t_ms: int
    value: float
    stale: bool = False


def step(last: LastSample | None, t_ms: int, value: float, *, max_gap_ms: int) -> tuple[LastSample | None, Outcome, float]:
    """The series' new last sample, what this sample was, and the counter increase it adds."""
    if last is not None and t_ms <= last.t_ms:
        return last, ("duplicate" if t_ms == last.t_ms else "out_of_order"), 0.0
    if value != value:  # NaN: a staleness marker ends the run; any other NaN is no value
        if is_stale_marker(value):
            return (LastSample(last.t_ms, last.value, True) if last is not None else None), "stale", 0.0
        return last, "nan", 0.0
    if last is None or t_ms - last.t_ms > max_gap_ms:
        return LastSample(t_ms, value), "baseline", 0.0
    increase = value - last.value if value >= last.value else value
    return LastSample(t_ms, value), "increase", increase


def step_delta(last: LastSample | None, t_ms: int, start_ms: int, value: float) -> tuple[LastSample | None, Outcome, float, int]:
    """An OTLP delta point: the count of (start_ms, t_ms] itself. Returns the series' new last
    sample (its running total), what the point was, the increase and where its span starts."""
    if last is not None and t_ms <= last.t_ms:
        return last, ("duplicate" if t_ms == last.t_ms else "out_of_order"), 0.0, t_ms
    if value != value or value < 0:
        return last, "nan", 0.0, t_ms
    since = max(start_ms, last.t_ms) if last is not None else start_ms
    return LastSample(t_ms, (last.value if last is not None else 0.0) + value), "increase", value, min(since, t_ms)


def spread(start_ms: int, end_ms: int, amount: float, *, max_spread_ms: int) -> list[tuple[int, float]]:
    """`amount` counted over (start_ms, end_ms] as (minute start in ms, share) pairs, evenly in
    time; a span longer than `max_spread_ms` is cut to its last `max_spread_ms`."""
    last_minute = (end_ms - 1) // MINUTE_MS * MINUTE_MS  # a sample on a minute's first ms counts in the minute before
    start_ms = max(start_ms, end_ms - max_spread_ms)
    if start_ms >= last_minute or end_ms <= start_ms:
        return [(last_minute, amount)]
    span = end_ms - start_ms
    out, at = [], start_ms
    minute = start_ms // MINUTE_MS * MINUTE_MS
    while at < end_ms:
        upto = min(minute + MINUTE_MS, end_ms)
        out.append((minute, amount * (upto - at) / span))
        at, minute = upto, minute + MINUTE_MS
    return out
