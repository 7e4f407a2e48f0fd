"""The MetricsEvent contract: what is malformed (and goes to the DLQ) and how it round-trips."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events import MetricsEvent, Topic, decode, encode, header

BASE = {
    "event_id": "e1", "occurred_at": "2026-04-15T12:01:00Z", "source": "exporter", "service": "api",
    "interval_start": "2026-04-15T12:00:00Z", "requests": 100, "errors": 2,
    "latency_buckets": [{"le": 0.1, "count": 50}, {"le": 0.5, "count": 99}, {"le": "+Inf", "count": 100}],
    "utilisation": {"cpu": 0.45, "memory": 0.62},
}


def test_a_metrics_event_round_trips_with_its_key_and_headers():
    event = MetricsEvent.model_validate(BASE)
    key, value, headers = encode(event, ce_source="/vigil/slo")
    assert key == b"api" and MetricsEvent.topic == Topic.METRICS == "vigil.metrics.v1"
    assert decode(MetricsEvent, value) == event
    assert header(headers, "ce_type") == "dev.vigil.metrics.v1"


def test_deterministic_ids_ignore_the_offset_of_the_interval_start():
    a = MetricsEvent.id_for(source="x", service="api", interval_start=datetime(2026, 4, 15, 12, tzinfo=UTC))
    b = MetricsEvent.id_for(source="x", service="api", interval_start=datetime.fromisoformat("2026-04-15T14:00:00+02:00"))
    assert a == b


@pytest.mark.parametrize(
    "change",
    [
        {"errors": 101},
        {"requests": -1},
        {"latency_buckets": [{"le": 0.1, "count": 5}]},                                    # no +Inf
        {"latency_buckets": [{"le": 0.5, "count": 5}, {"le": 0.1, "count": 6}, {"le": "+Inf", "count": 9}]},
        {"latency_buckets": [{"le": 0.1, "count": 7}, {"le": "+Inf", "count": 6}]},       # not cumulative
        {"utilisation": {"cpu": 1.5}},
        {"interval_start": "2026-04-15T12:00:00"},                                       # no zone
        {"service": ""},
        {"unknown": 1},
        {"latency_buckets": [{"le": 0.1, "count": 5, "extra": 1}, {"le": "+Inf", "count": 9}]},  # unknown bucket field
        {"latency_buckets": [{"le": 0, "count": 5}, {"le": "+Inf", "count": 9}]},                # le must be > 0
        {"latency_buckets": [{"le": 0.1, "count": -1}, {"le": "+Inf", "count": 9}]},             # negative count
        {"latency_buckets": [{"le": 0.1, "count": 5}, {"le": 0.1, "count": 6}, {"le": "+Inf", "count": 9}]},  # le repeated
        {"latency_buckets": [{"le": 0.1}, {"le": "+Inf", "count": 9}]},                          # count missing
        {"latency_buckets": [{"le": "fast", "count": 1}, {"le": "+Inf", "count": 9}]},
    ],
)
def test_malformed_metrics_are_refused(change):
    with pytest.raises(ValidationError):
        MetricsEvent.model_validate({**BASE, **change})


def test_the_json_of_a_metrics_event_is_the_contract_bounds_and_infinity_included():
    event = MetricsEvent.model_validate(BASE)
    _key, value, _headers = encode(event, ce_source="/vigil/slo")
    assert value == (
        b'{"schema_version":1,"event_id":"e1","occurred_at":"2026-04-15T12:01:00Z","source":"exporter","service":"api",'
        b'"interval_start":"2026-04-15T12:00:00Z","interval_s":60,"requests":100,"errors":2,'
        b'"latency_buckets":[{"le":0.1,"count":50},{"le":0.5,"count":99},{"le":"Infinity","count":100}],'
        b'"utilisation":{"cpu":0.45,"memory":0.62,"storage":null,"network":null}}'
    )
    decoded = decode(MetricsEvent, value)
    assert [(b.le, b.count) for b in decoded.latency_buckets] == [(0.1, 50), (0.5, 99), (float("inf"), 100)]
    with pytest.raises((TypeError, AttributeError, ValueError)):
        decoded.latency_buckets[0].count = 1  # frozen
