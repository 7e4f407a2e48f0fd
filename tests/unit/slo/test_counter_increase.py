"""Per-minute increases with Prometheus' counter semantics: baselines, resets, gaps, duplicates,
out-of-order samples, staleness markers, spreading over minute boundaries, whole counts that add
up, and a batch that leaves no trace until it is committed."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings, strategies as st

from services.slo.definitions import SloDefinition
from services.slo.series.counters import LastSample, is_stale_marker, spread, step, step_delta
from services.slo.series.feeds import feeds_of
from services.slo.series.fold import SeriesFold

M = 60_000  # one minute in ms
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
GAP = 15 * M


def run(samples: list[tuple[int, float]]) -> list[tuple[str, float]]:
    last, out = None, []
    for t, v in samples:
        last, outcome, inc = step(last, t, v, max_gap_ms=GAP)
        out.append((outcome, inc))
    return out


def test_the_first_sample_is_a_baseline_and_later_ones_count_their_increase():
    assert run([(0, 100), (15_000, 130), (30_000, 130)]) == [("baseline", 0), ("increase", 30), ("increase", 0)]


def test_a_lower_value_is_a_reset_that_counts_the_new_value():
    assert run([(0, 100), (15_000, 7)]) == [("baseline", 0), ("increase", 7)]


def test_duplicates_and_out_of_order_samples_are_ignored():
    assert run([(0, 1), (30_000, 10), (30_000, 10), (15_000, 5), (45_000, 12)]) == [
        ("baseline", 0), ("increase", 9), ("duplicate", 0), ("out_of_order", 0), ("increase", 2)]


def test_a_staleness_marker_ends_the_run_and_the_next_sample_compares_with_the_last_real_one():
    assert is_stale_marker(STALE) and not is_stale_marker(float("nan"))
    # The target restarted while stale: 4 is a reset, 4 new requests.
    assert run([(0, 50), (15_000, STALE), (60_000, 4)]) == [("baseline", 0), ("stale", 0), ("increase", 4)]


def test_a_sample_after_a_long_gap_is_a_new_baseline():
    assert run([(0, 50), (GAP + 1, 80)]) == [("baseline", 0), ("baseline", 0)]


def test_a_plain_nan_is_no_value():
    assert run([(0, 1), (15_000, float("nan")), (30_000, 3)]) == [("baseline", 0), ("nan", 0), ("increase", 2)]


@pytest.mark.parametrize(("start", "end", "amount", "expected"), [
    (10_000, 25_000, 6, [(0, 6)]),                       # inside one minute
    (45_000, 75_000, 6, [(0, 3), (M, 3)]),               # straddles a boundary: half each
    (30_000, 150_000, 12, [(0, 3), (M, 6), (2 * M, 3)]),  # three minutes
    (30_000, M, 6, [(0, 6)]),                            # a sample on a minute's first ms ends the minute before
    (0, 20 * M, 10, [(m * M, 1) for m in range(10, 20)]),  # cut to its last 10 minutes
])
def test_an_increase_is_spread_over_minutes_in_proportion_to_time(start, end, amount, expected):
    got = spread(start, end, amount, max_spread_ms=10 * M)
    assert [m for m, _ in got] == [m for m, _ in expected]
    assert [share for _, share in got] == pytest.approx([share for _, share in expected])


def test_a_delta_point_is_its_own_increase_and_repeats_are_ignored():
    last, outcome, inc, since = step_delta(None, 60_000, 0, 5)
    assert (outcome, inc, since, last) == ("increase", 5, 0, LastSample(60_000, 5))
    assert step_delta(last, 60_000, 0, 5)[1] == "duplicate"
    assert step_delta(last, 120_000, 60_000, 2)[:3] == (LastSample(120_000, 7), "increase", 2)


CHECKOUT = SloDefinition(name="availability", title="A", service="checkout", indicator="success_ratio", target=0.99,
                         total='requests_total{job="checkout"}', bad='requests_total{job="checkout",code=~"5.."}')
LATENCY = SloDefinition(name="fast", title="F", service="checkout", indicator="latency_under", target=0.9,
                        threshold_ms=250, histogram='duration_seconds{job="checkout"}')
OK = {"__name__": "requests_total", "job": "checkout", "code": "200"}
ERR = {**OK, "code": "500"}
T0 = 1_700_000_040_000  # a minute boundary
MIN0 = datetime.fromtimestamp(T0 / 1000, UTC)


def batch(*series):
    return [(tuple(sorted(labels.items())), samples, False) for labels, samples in series]


def minutes(prepared) -> dict:
    return {(s, int(m.timestamp() * 1000 - T0) // M): (b.requests, b.errors, dict(b.latency))
            for (s, m), b in prepared.buckets.items()}


def fold(*definitions) -> SeriesFold:
    return SeriesFold(feeds_of(definitions), max_gap_ms=GAP, max_spread_ms=10 * M)


def prepare(f: SeriesFold, *series):
    return f.prepare(batch(*series), labels_of=dict, now_ms=T0 + 10 * M, oldest_ms=T0 - 60 * M, future_ms=5 * M)


def test_total_and_bad_selectors_feed_requests_and_errors_of_the_minute():
    f = fold(CHECKOUT)
    p = prepare(f, (OK, [(T0 + 1000, 100), (T0 + 31_000, 190)]), (ERR, [(T0 + 1000, 5), (T0 + 31_000, 15)]),
                ({**OK, "job": "billing"}, [(T0 + 1000, 1), (T0 + 31_000, 1000)]))
    # 90 ok + 10 errors in minute 0: requests 100, errors 10; billing is no SLI's.
    assert minutes(p) == {("checkout", 0): (100, 10, {})}
    assert p.outcomes == {"baseline": 2, "increase": 2, "unselected": 1}


def test_a_batch_leaves_no_trace_until_it_is_committed():
    f = fold(CHECKOUT)
    first = prepare(f, (OK, [(T0, 100)]))
    assert f.active_series == 0  # not committed: the sender will retry it
    retried = prepare(f, (OK, [(T0, 100), (T0 + 15_000, 130)]))
    f.commit(retried)
    assert first.outcomes == {"baseline": 1} and minutes(retried) == {("checkout", 0): (30, 0, {})}
    # Committed: a resent batch is all duplicates and counts nothing.
    again = prepare(f, (OK, [(T0, 100), (T0 + 15_000, 130)]))
    assert again.outcomes == {"duplicate": 1, "out_of_order": 1} and again.buckets == {}


@settings(max_examples=300, deadline=None)
@given(since=st.integers(0, 3 * M), span=st.integers(1, 12 * M), amount=st.integers(1, 10**6))
def test_a_folded_increase_is_counted_in_the_minutes_spread_gives_it(since, span, amount):
    f = fold(CHECKOUT)
    f.commit(prepare(f, (OK, [(T0 + since, 0)])))
    p = prepare(f, (OK, [(T0 + since + span, amount)]))
    expected, remainder = {}, 0.0
    for minute, share in spread(T0 + since, T0 + since + span, amount, max_spread_ms=10 * M):
        exact = share + remainder
        remainder = exact - round(exact)
        if round(exact):
            expected[("checkout", (minute - T0) // M)] = (round(exact), 0, {})
    assert minutes(p) == expected


def test_reverted_commits_newest_first_leave_the_fold_as_it_was():
    f = fold(CHECKOUT)
    f.commit(prepare(f, (OK, [(T0, 100)])))
    before = minutes(prepare(f, (OK, [(T0 + 15_000, 110.4)]), (ERR, [(T0 + 15_000, 1)])))
    one = f.commit(prepare(f, (OK, [(T0 + 15_000, 110.4)]), (ERR, [(T0 + 15_000, 1)])))
    two = f.commit(prepare(f, (OK, [(T0 + 30_000, 120.9)]), (ERR, [(T0 + 30_000, 3)])))
    assert f.active_series == 2
    f.revert(two)
    f.revert(one)
    assert f.active_series == 1 and f.remainders == {}
    again = prepare(f, (OK, [(T0 + 15_000, 110.4)]), (ERR, [(T0 + 15_000, 1)]))
    assert minutes(again) == before == {("checkout", 0): (10, 0, {})} and again.outcomes == {"increase": 1, "baseline": 1}


def test_rounded_counts_keep_their_remainder_so_minutes_add_up_to_the_exact_increase():
    f = fold(CHECKOUT)
    f.commit(prepare(f, (OK, [(T0 + 50_000, 0)])))
    total = 0
    for i in range(1, 31):  # 1 request every 20 s, samples straddling minute boundaries
        p = prepare(f, (OK, [(T0 + 50_000 + i * 20_000, i)]))
        f.commit(p)
        total += sum(b.requests for b in p.buckets.values())
    assert total == 30


def test_good_selectors_subtract_from_errors_so_errors_are_total_minus_good():
    good = CHECKOUT.model_copy(update={"bad": None, "good": 'requests_total{job="checkout",code=~"2.."}'})
    f = fold(good)
    f.commit(prepare(f, (OK, [(T0, 0)]), (ERR, [(T0, 0)])))
    # Two batches (two remote-write shards): the sums in the buckets still come out right.
    p1 = prepare(f, (OK, [(T0 + 30_000, 80)]))
    f.commit(p1)
    p2 = prepare(f, (ERR, [(T0 + 30_000, 20)]))
    assert minutes(p1) == {("checkout", 0): (80, 0, {})} and minutes(p2) == {("checkout", 0): (20, 20, {})}


def test_histogram_bucket_series_feed_the_latency_histogram_by_le():
    f = fold(LATENCY)
    base = {"__name__": "duration_seconds_bucket", "job": "checkout"}
    series = [({**base, "le": le}, [(T0, 0), (T0 + 30_000, n)]) for le, n in (("0.1", 50), ("0.25", 90), ("+Inf", 100))]
    series.append(({"__name__": "duration_seconds_count", "job": "checkout"}, [(T0, 0), (T0 + 30_000, 100)]))
    p = prepare(f, *series)
    assert minutes(p) == {("checkout", 0): (0, 0, {"0.1": 50, "0.25": 90, "+Inf": 100})}


def test_samples_outside_the_late_window_or_from_the_future_are_dropped():
    f = fold(CHECKOUT)
    p = prepare(f, (OK, [(T0 - 61 * M, 1), (T0 + 16 * M, 2)]))
    assert p.outcomes == {"too_late": 1, "future": 1}


def test_series_without_a_sample_between_two_sweeps_are_forgotten_whatever_their_timestamps():
    f = fold(CHECKOUT)
    f.commit(prepare(f, (OK, [(T0 - 50 * M, 1)]), (ERR, [(T0, 1)])))
    assert f.forget_idle() == 0  # both arrived since the last sweep, even the one from a backlog
    f.commit(prepare(f, (ERR, [(T0 + 15_000, 2)])))
    assert f.forget_idle() == 1 and f.active_series == 1
