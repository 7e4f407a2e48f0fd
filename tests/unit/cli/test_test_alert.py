"""`vigil alerts fire` posts what Alertmanager posts: ingest's own schema and normalisation accept it,
and its resolve names the same alert (same fingerprint and start), so it resolves that occurrence."""

from __future__ import annotations

from datetime import UTC, datetime

from services.ingest.normalize import to_events
from services.ingest.schemas import WebhookPayload
from services.responder_cli.alerts import webhook_payload

LABELS = {"alertname": "VigilTestAlert", "severity": "critical", "service": "checkout", "env": "dev"}
STARTED = datetime(2026, 12, 6, 11, 24, 34, tzinfo=UTC)


def event_of(payload: dict):
    [event] = to_events(WebhookPayload.model_validate(payload), received_at=STARTED)
    return event


def test_the_test_alert_is_an_alertmanager_v4_notification_ingest_takes_as_one_firing_alert():
    event = event_of(webhook_payload(labels=LABELS, summary="Checkout answers 5xx", starts_at=STARTED, resolved_at=None))
    assert (event.status, event.labels, event.starts_at, event.ends_at) == ("firing", LABELS, STARTED, None)
    assert event.annotations["summary"] == "Checkout answers 5xx"


def test_its_resolve_is_the_same_alert_with_an_end():
    firing = event_of(webhook_payload(labels=LABELS, summary="s", starts_at=STARTED, resolved_at=None))
    ended = datetime(2026, 12, 6, 11, 30, tzinfo=UTC)
    resolved = event_of(webhook_payload(labels=LABELS, summary="s", starts_at=STARTED, resolved_at=ended))
    assert (resolved.status, resolved.ends_at) == ("resolved", ended)
    assert (resolved.fingerprint, resolved.starts_at) == (firing.fingerprint, firing.starts_at)
    assert resolved.event_id != firing.event_id
