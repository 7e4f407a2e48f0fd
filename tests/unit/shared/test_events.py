import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events import (AlertEvent, AlertTopicMessage, ContactMethod, NotificationStep, PersonUpdated, Topic, decode, encode,
                           header)

EVENT = AlertEvent(
    event_id=AlertEvent.id_for(
        source="alertmanager", fingerprint="f9d13f00f05cff3d", status="firing",
        starts_at=datetime(2026, 11, 26, 14, 13, tzinfo=UTC), ends_at=None,
    ),
    occurred_at=datetime(2026, 11, 26, 15, 0, tzinfo=UTC),
    source="alertmanager",
    fingerprint="f9d13f00f05cff3d",
    status="firing",
    labels={"alertname": "HighCPUUsage", "severity": "warning"},
    starts_at=datetime(2026, 11, 26, 14, 13, tzinfo=UTC),
)


def test_encode_sets_key_value_and_cloudevents_headers():
    key, value, headers = encode(EVENT, ce_source="/vigil/ingest", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    assert key == b"f9d13f00f05cff3d"
    assert decode(AlertEvent, value) == EVENT
    assert header(headers, "ce_id") == EVENT.event_id
    assert header(headers, "ce_type") == "dev.vigil.alert.v1"
    assert header(headers, "ce_source") == "/vigil/ingest"
    assert header(headers, "ce_specversion") == "1.0"
    assert header(headers, "ce_time") == "2026-11-26T15:00:00+00:00"
    assert header(headers, "content-type") == "application/json"
    assert header(headers, "traceparent").startswith("00-aaaa")


def test_events_carry_their_schema_version_and_topic():
    assert EVENT.schema_version == 1
    assert AlertEvent.topic == Topic.ALERTS == "vigil.alerts.v1"
    assert Topic.dlq(Topic.ALERTS) == "vigil.alerts.v1.dlq"


@pytest.mark.parametrize(
    "value",
    [b"not json", b"{}", b'{"schema_version": 2}', None, EVENT.model_dump_json().replace("firing", "burning").encode()],
)
def test_decode_refuses_what_is_not_the_model(value):
    with pytest.raises((ValidationError, ValueError)):
        decode(AlertEvent, value)


def test_naive_timestamps_are_refused():
    with pytest.raises(ValidationError):
        AlertEvent(**{**EVENT.model_dump(), "starts_at": datetime(2026, 1, 1)})


def test_utc_isoformat_is_the_utc_text_of_the_instant_whatever_the_offset():
    from datetime import timedelta, timezone

    from pydantic import TypeAdapter

    from shared.events import utc_isoformat

    instant = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    parsed = TypeAdapter(datetime).validate_python("2026-03-29T01:30:00Z")  # pydantic's own UTC tzinfo
    shifted = instant.astimezone(timezone(timedelta(hours=2)))
    for value in (instant, parsed, shifted):
        assert utc_isoformat(value) == instant.astimezone(UTC).isoformat() == "2026-03-29T01:30:00+00:00"
    assert AlertEvent.id_for(source="s", fingerprint="f", status="firing", starts_at=shifted, ends_at=None) == \
        AlertEvent.id_for(source="s", fingerprint="f", status="firing", starts_at=parsed, ends_at=None)


def test_encode_uses_a_given_ce_time_and_otherwise_the_events_own():
    given = dict(encode(EVENT, ce_source="/x", ce_time=b"2026-01-01T00:00:00+00:00")[2])
    assert given["ce_time"] == b"2026-01-01T00:00:00+00:00"
    own = dict(encode(EVENT, ce_source="/x")[2])
    assert own["ce_time"] == EVENT.occurred_at.isoformat().encode()


def test_a_newer_producers_added_fields_are_dropped_on_decode_but_refused_when_built_here():
    """Rolling upgrade: a newer producer adds an optional field (top level or nested); an older
    consumer must still read the message (a page sent to the dead-letter topic is a lost page)."""
    newer = json.loads(EVENT.model_dump_json()) | {"added_in_a_later_release": {"x": 1}}
    assert decode(AlertEvent, json.dumps(newer).encode()) == EVENT
    assert AlertTopicMessage.model_validate_json(json.dumps(newer), extra="ignore") == EVENT
    person = PersonUpdated(event_id="p", occurred_at=EVENT.occurred_at, source="escalator", person="alice", revision=3,
                           contact_methods=(ContactMethod(id="email", kind="email", address="alice@example.com"),),
                           page_rules=(NotificationStep(after_s=0, method="email"),))
    newer_person = json.loads(person.model_dump_json())
    newer_person["contact_methods"][0]["priority"] = 1
    newer_person["page_rules"][0]["quiet_hours"] = "22-07"
    assert decode(PersonUpdated, json.dumps(newer_person).encode()) == person
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        AlertEvent.model_validate(newer)
    broken = json.loads(EVENT.model_dump_json()) | {"status": "exploded"}
    with pytest.raises(ValidationError):
        decode(AlertEvent, json.dumps(broken).encode())
