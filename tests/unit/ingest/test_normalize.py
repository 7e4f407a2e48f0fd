"""Alertmanager payloads become one AlertEvent per alert (pure, no I/O)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from services.ingest.normalize import fingerprint_of, is_zero_time, to_events
from services.ingest.schemas import WebhookPayload
from shared.events import AlertEvent
from tests.support import FIXTURE_PAYLOADS, fixture_json

RECEIVED = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def events_of(raw: dict) -> list[AlertEvent]:
    return to_events(WebhookPayload.model_validate_json(json.dumps(raw)), received_at=RECEIVED)


def test_the_fixtures_are_all_there():
    assert len(FIXTURE_PAYLOADS) >= 5


@pytest.mark.parametrize("name", FIXTURE_PAYLOADS)
def test_every_fixture_gives_one_event_per_alert_with_its_fields(name):
    raw = fixture_json(name)
    events = events_of(raw)
    assert len(events) == len(raw["alerts"])
    for alert, event in zip(raw["alerts"], events, strict=True):
        assert event.fingerprint == alert["fingerprint"]
        assert event.kafka_key() == alert["fingerprint"].encode()
        assert event.status == alert["status"]
        assert event.labels == alert["labels"]
        assert event.annotations == alert["annotations"]
        assert event.starts_at == datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
        assert event.generator_url == alert["generatorURL"]
        assert event.group_key == raw["groupKey"]
        assert event.group_labels == raw["groupLabels"]
        assert event.receiver == raw["receiver"]
        assert event.external_url == raw["externalURL"]
        assert event.source == "alertmanager"
        assert event.occurred_at == RECEIVED
        if alert["status"] == "firing":
            assert event.ends_at is None
        else:
            assert event.ends_at == datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))


def test_zero_time_ends_at_of_a_firing_alert_becomes_none():
    [event] = events_of(fixture_json("01-single-firing.json"))
    assert event.ends_at is None
    assert is_zero_time(datetime(1, 1, 1, tzinfo=UTC))
    assert not is_zero_time(datetime(2026, 1, 1, tzinfo=UTC))


def test_a_firing_notification_can_carry_resolved_alerts_and_each_keeps_its_own_status():
    raw = fixture_json("02-group5-firing.json")
    raw["alerts"][1]["status"] = "resolved"
    raw["alerts"][1]["endsAt"] = "2026-11-26T14:20:00Z"
    statuses = [e.status for e in events_of(raw)]
    assert statuses == ["firing", "resolved", "firing", "firing", "firing"]


def test_truncated_alerts_count_is_carried_on_every_event():
    raw = fixture_json("02-group5-firing.json")
    raw["truncatedAlerts"] = 7
    assert {e.truncated_alerts for e in events_of(raw)} == {7}


def test_the_same_alert_state_delivered_twice_gets_the_same_event_id():
    raw = fixture_json("02-group5-firing.json")
    first = events_of(raw)
    later = to_events(WebhookPayload.model_validate(raw), received_at=datetime(2026, 11, 26, 19, 0, tzinfo=UTC))
    assert [e.event_id for e in first] == [e.event_id for e in later]
    assert len({e.event_id for e in first}) == len(first)


def test_resolving_or_refiring_an_alert_changes_its_event_id():
    raw = fixture_json("01-single-firing.json")
    [firing] = events_of(raw)
    resolved_raw = copy.deepcopy(raw)
    resolved_raw["alerts"][0].update(status="resolved", endsAt="2026-11-26T14:30:00Z")
    [resolved] = events_of(resolved_raw)
    refired_raw = copy.deepcopy(raw)
    refired_raw["alerts"][0]["startsAt"] = "2026-11-26T16:00:00Z"
    [refired] = events_of(refired_raw)
    assert len({firing.event_id, resolved.event_id, refired.event_id}) == 3


def test_event_id_does_not_depend_on_how_the_timestamp_was_written():
    raw = fixture_json("01-single-firing.json")
    other = copy.deepcopy(raw)
    other["alerts"][0]["startsAt"] = "2026-11-26T15:13:34.305+01:00"  # the same instant
    assert events_of(raw)[0].event_id == events_of(other)[0].event_id


def test_a_missing_fingerprint_is_derived_from_the_labels_stably():
    raw = fixture_json("01-single-firing.json")
    del raw["alerts"][0]["fingerprint"]
    [event] = events_of(raw)
    assert event.fingerprint == fingerprint_of(raw["alerts"][0]["labels"])
    assert len(event.fingerprint) == 16
    shuffled = dict(reversed(list(raw["alerts"][0]["labels"].items())))
    assert fingerprint_of(shuffled) == event.fingerprint
    assert fingerprint_of({**shuffled, "pod": "other"}) != event.fingerprint


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda r: r.update(version="3"), "version"),
        (lambda r: r.pop("alerts"), "alerts"),
        (lambda r: r["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda r: r["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda r: r["alerts"][0].update(startsAt="2026-11-26T14:13:34"), "alerts[0].startsAt"),
        (lambda r: r["alerts"][0].update(labels={}), "alerts[0].labels"),
        (lambda r: r["alerts"][0].update(fingerprint="has spaces"), "alerts[0].fingerprint"),
        (lambda r: r.update(truncatedAlerts=-1), "truncatedAlerts"),
    ],
)
def test_invalid_payloads_are_rejected_naming_the_field(mutate, field):
    from pydantic import ValidationError

    from shared.http_errors import field_path

    raw = fixture_json("01-single-firing.json")
    mutate(raw)
    with pytest.raises(ValidationError) as info:
        WebhookPayload.model_validate_json(json.dumps(raw))
    assert field in {field_path(e["loc"]) for e in info.value.errors()}
