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
    ],
)
def test_malformed_metrics_are_refused(change):
    with pytest.raises(ValidationError):
        MetricsEvent.model_validate({**BASE, **change})
