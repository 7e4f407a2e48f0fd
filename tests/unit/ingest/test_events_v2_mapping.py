"""The pure mapping of PagerDuty Events v2 events onto Vigil's alert events (services/ingest/events_v2/mapping.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.incidents.severity import DEFAULT_LABEL_LEVELS, SEV_OF_LEVEL, level_of
from services.ingest.events_v2.mapping import (
    LEVEL_OF_SEVERITY, SOURCE, acknowledged_event, actor_of, alert_event, fingerprint_of,
)
from services.ingest.events_v2.schemas import EnqueueEvent
from shared.events import AlertAcknowledged, AlertEvent, AlertTopicMessage

KEY = dict(key_id="5b3d8f0e-0000-4000-8000-000000000001", key_name="grafana-prod", service="checkout",
           key_labels={"team": "payments", "env": "prod"})
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"


def event(action: str = "trigger", **fields) -> EnqueueEvent:
    body = {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": "disk-full-host1", **fields}
    if action == "trigger":
        body.setdefault("payload", {"summary": "Disk full on host1", "source": "host1.example.com", "severity": "error"})
    return EnqueueEvent.model_validate(body)


def trigger(e: EnqueueEvent, started_at=T0, received_at=T0) -> AlertEvent:
    return alert_event(e, dedup_key=e.dedup_key, **KEY, started_at=started_at, resolved_at=None, received_at=received_at)


def test_a_trigger_becomes_a_firing_alert_with_the_payload_as_labels_and_the_keys_labels_winning():
    e = event(payload={"summary": "Disk full on host1", "source": "host1.example.com", "severity": "critical",
                       "component": "postgres", "group": "db-cluster", "class": "disk", "custom_details": {"free": "0%"}})
    alert = trigger(e)
    assert alert.status == "firing" and alert.ends_at is None and alert.starts_at == T0
    assert alert.source == SOURCE
    assert alert.labels == {
        "alertname": "disk", "severity": "critical", "source": "host1.example.com", "component": "postgres",
        "group": "db-cluster", "class": "disk", "integration": "grafana-prod", "team": "payments", "env": "prod",
        "service": "checkout",
    }
    assert alert.annotations["summary"] == "Disk full on host1"
    assert alert.annotations["description"] == "free: 0%"
    assert json.loads(alert.annotations["custom_details"]) == {"free": "0%"}
    assert alert.annotations["dedup_key"] == "disk-full-host1"
    assert alert.group_key is None  # one incident per dedup key


def test_the_keys_labels_win_over_the_payloads_and_the_keys_service_over_both():
    keyed = {**KEY, "key_labels": {"severity": "low", "service": "other", "source": "fixed"}}
    alert = alert_event(event(), dedup_key="d", **keyed, started_at=T0, resolved_at=None, received_at=T0)
    assert alert.labels["severity"] == "low" and alert.labels["source"] == "fixed" and alert.labels["service"] == "checkout"


@pytest.mark.parametrize(("severity", "level", "sev"), [
    ("critical", "critical", 1), ("error", "high", 2), ("warning", "medium", 3), ("info", "low", 4),
])
def test_pagerduty_severities_become_levels_the_incident_service_maps_to_its_sevs(severity, level, sev):
    alert = trigger(event(payload={"summary": "s", "source": "h", "severity": severity}))
    assert alert.labels["severity"] == level == LEVEL_OF_SEVERITY[severity]
    # Even with a severity mapping that knows only the four level names, the SEV is the one meant.
    only_levels = {name: name for name in SEV_OF_LEVEL}
    assert SEV_OF_LEVEL[level_of(alert.labels, mapping=only_levels)] == sev
    assert SEV_OF_LEVEL[level_of(alert.labels, mapping=DEFAULT_LABEL_LEVELS)] == sev
    assert alert.annotations["pagerduty_severity"] == severity


def test_without_a_class_the_summary_names_the_alert_cut_to_200_characters():
    alert = trigger(event(payload={"summary": "x" * 1024, "source": "h", "severity": "info"}))
    assert alert.labels["alertname"] == "x" * 200
    assert alert.annotations["summary"] == "x" * 1024


def test_links_images_client_and_timestamp_are_kept_as_annotations_and_client_url_is_the_generator_url():
    e = event(client="Grafana", client_url="https://grafana.example.com/alerting",
              links=[{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
              images=[{"src": "https://grafana.example.com/render/1.png", "href": "https://grafana.example.com/d/1", "alt": "Disk"}],
              payload={"summary": "s", "source": "h", "severity": "warning", "timestamp": "2026-03-01T11:59:30.000+0000"})
    alert = trigger(e)
    assert json.loads(alert.annotations["links"]) == [{"href": "https://runbooks.example.com/disk", "text": "Runbook"}]
    assert json.loads(alert.annotations["images"]) == [
        {"src": "https://grafana.example.com/render/1.png", "href": "https://grafana.example.com/d/1", "alt": "Disk"}]
    assert alert.annotations["client"] == "Grafana"
    assert alert.annotations["client_url"] == alert.generator_url == "https://grafana.example.com/alerting"
    assert alert.annotations["timestamp"] == "2026-03-01T11:59:30+00:00"


@pytest.mark.parametrize(("details", "description"), [
    ({"a": "1", "b": {"c": [1, 2]}}, 'a: 1\nb: {"c":[1,2]}'),
    ("plain text details", "plain text details"),
    ([1, "two"], '[1,"two"]'),
])
def test_custom_details_of_any_json_shape_read_as_a_description(details, description):
    alert = trigger(event(payload={"summary": "s", "source": "h", "severity": "info", "custom_details": details}))
    assert alert.annotations["description"] == description
    assert json.loads(alert.annotations["custom_details"]) == details


def test_one_dedup_key_is_one_fingerprint_per_key_and_the_routing_key_is_not_part_of_it():
    assert fingerprint_of(KEY["key_id"], "a") == fingerprint_of(KEY["key_id"], "a")
    assert fingerprint_of(KEY["key_id"], "a") != fingerprint_of(KEY["key_id"], "b")
    assert fingerprint_of(KEY["key_id"], "a") != fingerprint_of("another-key-id", "a")
    assert len(fingerprint_of(KEY["key_id"], "a")) == 16
    alert = trigger(event())
    assert ROUTING_KEY not in alert.model_dump_json()


def test_a_trigger_sent_again_while_firing_is_the_same_event_and_a_later_firing_is_another():
    e = event()
    assert trigger(e, received_at=T0).event_id == trigger(e, received_at=T0 + timedelta(minutes=5)).event_id
    assert trigger(e, started_at=T0).event_id != trigger(e, started_at=T0 + timedelta(hours=1)).event_id


def test_a_resolve_is_the_same_occurrence_resolved_and_a_retried_resolve_the_same_event():
    e = event("resolve")
    ended = T0 + timedelta(minutes=10)
    resolved = alert_event(e, dedup_key=e.dedup_key, **KEY, started_at=T0, resolved_at=ended, received_at=ended)
    again = alert_event(e, dedup_key=e.dedup_key, **KEY, started_at=T0, resolved_at=ended, received_at=ended + timedelta(seconds=5))
    firing = trigger(event())
    assert resolved.status == "resolved" and resolved.ends_at == ended
    assert (resolved.fingerprint, resolved.starts_at) == (firing.fingerprint, firing.starts_at)
    assert resolved.event_id == again.event_id != firing.event_id
    assert resolved.labels == {"integration": "grafana-prod", "team": "payments", "env": "prod", "service": "checkout"}


def test_an_acknowledge_names_the_occurrence_and_the_integration_as_actor_and_each_is_its_own_event():
    ack = acknowledged_event(dedup_key="disk-full-host1", key_id=KEY["key_id"], key_name="grafana-prod", started_at=T0, received_at=T0)
    later = acknowledged_event(dedup_key="disk-full-host1", key_id=KEY["key_id"], key_name="grafana-prod", started_at=T0,
                               received_at=T0 + timedelta(minutes=1))
    assert isinstance(ack, AlertAcknowledged)
    assert ack.fingerprint == trigger(event()).fingerprint and ack.starts_at == T0
    assert ack.actor == actor_of("grafana-prod") == "grafana-prod (integration)"
    assert ack.event_id != later.event_id
    assert ack.kafka_key() == ack.fingerprint.encode()


def test_the_alert_topic_decodes_both_kinds_of_message_by_their_status():
    ack = acknowledged_event(dedup_key="d", key_id="k", key_name="n", started_at=T0, received_at=T0)
    firing = trigger(event())
    assert AlertTopicMessage.model_validate_json(ack.model_dump_json()) == ack
    assert AlertTopicMessage.model_validate_json(firing.model_dump_json()) == firing
    with pytest.raises(ValueError):
        AlertTopicMessage.model_validate_json(b'{"status": "snoozed"}')


def test_acknowledge_and_resolve_need_only_the_dedup_key_and_ignore_the_rest():
    e = EnqueueEvent.model_validate({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "d",
                                     "payload": {"severity": "not-a-severity"}, "links": "junk"})
    assert e.payload is None and e.links == []


@pytest.mark.parametrize(("body", "problem"), [
    ({"event_action": "trigger"}, "routing_key"),
    ({"routing_key": "short", "event_action": "trigger"}, "Length of 'routing_key' is incorrect"),
    ({"routing_key": ROUTING_KEY, "event_action": "snooze"}, "event_action"),
    ({"routing_key": ROUTING_KEY, "event_action": "trigger"}, "'payload' is missing"),
    ({"routing_key": ROUTING_KEY, "event_action": "resolve"}, "'dedup_key' is missing"),
    ({"routing_key": ROUTING_KEY, "event_action": "acknowledge"}, "'dedup_key' is missing"),
    ({"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "x" * 256,
      "payload": {"summary": "s", "source": "h", "severity": "info"}}, "dedup_key"),
    ({"routing_key": ROUTING_KEY, "event_action": "trigger", "payload": {"summary": "s" * 1025, "source": "h", "severity": "info"}},
     "summary"),
])
def test_what_pagerduty_refuses_is_refused(body, problem):
    with pytest.raises(ValidationError) as caught:
        EnqueueEvent.model_validate(body)
    assert problem in str(caught.value)
