"""Folding metrics events into minute buckets: sums, histograms, order- and duplicate-independence."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from services.slo.buckets import RESOURCES, Bucket, fold, quantile, roll_up_hours
from shared.events import LatencyBucket, MetricsEvent, Utilisation

T0 = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
INF = float("inf")


def event(service="api", at=T0, requests=100, errors=1, buckets=((0.1, 60), (0.5, 95), (INF, 100)), n=0, **util) -> MetricsEvent:
    return MetricsEvent(
        event_id=f"{service}-{at.isoformat()}-{n}", occurred_at=at, source="test", service=service,
        interval_start=at, requests=requests, errors=errors,
        latency_buckets=[LatencyBucket(le=le, count=c) for le, c in buckets], utilisation=Utilisation(**util),
    )


def gauges(b: Bucket) -> dict[str, tuple[float, int]]:
    """{resource: (sum, samples)} of the resources some event measured."""
    return {r: (pytest.approx(getattr(b, f"{r}_sum")), getattr(b, f"{r}_n")) for r in RESOURCES if getattr(b, f"{r}_n")}


def test_events_of_one_minute_add_up_in_one_bucket():
    buckets = fold([
        event(at=T0 + timedelta(seconds=5), n=1, cpu=0.4),
        event(at=T0 + timedelta(seconds=50), n=2, requests=10, errors=0, buckets=((0.1, 10), (INF, 10)), cpu=0.6),
    ])
    assert list(buckets) == [("api", T0)]
    b = buckets[("api", T0)]
    assert (b.requests, b.errors, b.events) == (110, 1, 2)
    assert b.latency == {"0.1": 70, "0.5": 95, "+Inf": 110}
    assert gauges(b) == {"cpu": (1.0, 2)}


def test_a_repeated_event_id_is_folded_once_and_ids_already_seen_not_at_all():
    e = event()
    assert fold([e, e])[("api", T0)].requests == 100
    assert fold([e], seen={e.event_id}) == {}


def test_minutes_roll_up_into_their_hour():
    hours = roll_up_hours(fold([event(at=T0 + timedelta(minutes=m), n=m) for m in (0, 30, 59, 60)]))
    assert hours[("api", T0)].requests == 300
    assert hours[("api", T0 + timedelta(hours=1))].requests == 100


@pytest.mark.parametrize(
    ("q", "histogram", "expected"),
    [
        (0.5, {"0.1": 60, "0.5": 95, "+Inf": 100}, 0.1 * 50 / 60),   # within the first bucket, from 0
        (0.99, {"0.1": 60, "0.5": 95, "+Inf": 100}, 0.5),            # in +Inf: the highest finite bound
        (0.9, {"0.1": 60, "0.5": 100, "+Inf": 100}, 0.1 + 0.4 * 30 / 40),
        (0.5, {}, None),
        (0.5, {"0.1": 0, "+Inf": 0}, None),
    ],
)
def test_quantiles_interpolate_within_a_bucket_like_histogram_quantile(q, histogram, expected):
    result = quantile(q, histogram)
    assert result == (pytest.approx(expected) if expected is not None else None)


def as_comparable(buckets: dict) -> dict:
    return {
        k: (b.requests, b.errors, b.events, b.latency, {r: (round(getattr(b, f"{r}_sum"), 9), getattr(b, f"{r}_n")) for r in RESOURCES})
        for k, b in buckets.items()
    }


events_strategy = st.lists(
    st.builds(
        lambda service, minute, second, requests, err_frac, n, cpu: event(
            service=service, at=T0 + timedelta(minutes=minute, seconds=second), requests=requests,
            errors=int(requests * err_frac), buckets=((0.1, requests // 2), (INF, requests)), n=n, cpu=cpu,
        ),
        st.sampled_from(["api", "web", "db"]), st.integers(0, 120), st.integers(0, 59), st.integers(0, 10_000),
        st.floats(0, 1), st.integers(0, 3), st.one_of(st.none(), st.floats(0, 1)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(events=events_strategy, data=st.data())
def test_folding_the_same_events_in_any_order_with_duplicates_gives_the_same_buckets(events, data):
    unique = list({e.event_id: e for e in events}.values())  # an id names one fact
    replayed = data.draw(st.lists(st.sampled_from(unique), max_size=20)) if unique else []
    shuffled = data.draw(st.permutations(unique + replayed))
    assert as_comparable(fold(shuffled)) == as_comparable(fold(unique))
    assert as_comparable(roll_up_hours(fold(shuffled))) == as_comparable(roll_up_hours(fold(unique)))


@settings(max_examples=50, deadline=None)
@given(events=events_strategy, split=st.integers(0, 40))
def test_folding_in_two_polls_equals_folding_in_one(events, split):
    unique = list({e.event_id: e for e in events}.values())
    seen: set[str] = set()
    first, second = fold(unique[:split], seen=seen), fold(unique, seen=seen)  # the second poll replays the first
    merged: dict = {}
    for part in (first, second):
        for key, b in part.items():
            m = merged.setdefault(key, Bucket())
            m.requests += b.requests
            m.errors += b.errors
            m.events += b.events
            for k, v in b.latency.items():
                m.latency[k] = m.latency.get(k, 0) + v
            for name in (f"{r}_{part}" for r in RESOURCES for part in ("sum", "n")):
                setattr(m, name, getattr(m, name) + getattr(b, name))
    assert as_comparable(merged) == as_comparable(fold(unique))


def test_bound_keys_are_the_canonical_texts_whatever_bounds_a_service_sends():
    b = fold([event(buckets=((0.025, 10), (1, 50), (2.5, 90), (INF, 100)), n=1),
              event(buckets=((0.025, 1), (1, 5), (INF, 10)), n=2, at=T0 + timedelta(seconds=1))])[("api", T0)]
    assert b.latency == {"0.025": 11, "1.0": 55, "2.5": 90, "+Inf": 110}


def test_an_hour_holds_the_sums_of_its_minutes_gauges_included():
    minutes = fold([event(at=T0 + timedelta(minutes=m), n=m, requests=10 * (m + 1), errors=m, cpu=0.1 * m, memory=0.5)
                    for m in range(4)])
    hour = roll_up_hours(minutes)[("api", T0)]
    assert (hour.requests, hour.errors, hour.events) == (100, 6, 4)
    assert hour.latency == {"0.1": 240, "0.5": 380, "+Inf": 400}
    assert gauges(hour) == {"cpu": (0.6, 4), "memory": (2.0, 4)}
    assert minutes[("api", T0)].requests == 10  # the minutes themselves are not changed by the roll-up


def test_an_hour_of_one_minute_is_a_copy_and_every_gauge_is_folded():
    minutes = fold([event(n=1, cpu=0.1, memory=0.2, storage=0.3, network=0.4),
                    event(n=2, at=T0 + timedelta(seconds=30), storage=0.5)])
    minute = minutes[("api", T0)]
    assert gauges(minute) == {"cpu": (0.1, 1), "memory": (0.2, 1), "storage": (0.8, 2), "network": (0.4, 1)}
    hour = roll_up_hours(minutes)[("api", T0)]
    assert hour.latency == minute.latency == {"0.1": 120, "0.5": 190, "+Inf": 200}
    hour.merge(minute)  # adding to the hour leaves the minute it was copied from as it was
    assert minute.latency == {"0.1": 120, "0.5": 190, "+Inf": 200} and minute.storage_n == 2
    assert hour.latency == {"0.1": 240, "0.5": 380, "+Inf": 400}
