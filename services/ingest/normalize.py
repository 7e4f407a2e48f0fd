"""PURE: an Alertmanager webhook payload becomes one AlertEvent per alert. No I/O; `received_at`
is passed in."""

from __future__ import annotations

import hashlib
from datetime import datetime

from services.ingest.schemas import WebhookAlert, WebhookPayload
from shared.events import AlertEvent

SOURCE = "alertmanager"


def is_zero_time(value: datetime | None) -> bool:
    """Alertmanager writes Go's zero time (year 1) for "no end yet"."""
    return value is None or value.year <= 1


def fingerprint_of(labels: dict[str, str]) -> str:
    """A stable 16-hex-digit identity from the label set, for senders that leave `fingerprint` out
    (Alertmanager always sends its own, which is used as is)."""
    canonical = "\x1f".join(f"{k}\x1e{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def to_event(alert: WebhookAlert, payload: WebhookPayload, *, received_at: datetime) -> AlertEvent:
    fingerprint = alert.fingerprint or fingerprint_of(alert.labels)
    # A firing alert's endsAt is at most an expected end, not a fact; only a resolve has an end.
    ends_at = None if alert.status == "firing" or is_zero_time(alert.endsAt) else alert.endsAt
    event_id = AlertEvent.id_for(
        source=SOURCE, fingerprint=fingerprint, status=alert.status, starts_at=alert.startsAt, ends_at=ends_at
    )
    # Validating a dict of the payload's already-validated values is cheaper than model_construct
    # (5.4 against 7.7 µs per alert; model_construct walks the fields in Python) and checks them again.
    return AlertEvent.model_validate({
        "event_id": event_id,
        "occurred_at": received_at,
        "source": SOURCE,
        "fingerprint": fingerprint,
        "status": alert.status,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "starts_at": alert.startsAt,
        "ends_at": ends_at,
        "generator_url": alert.generatorURL or None,
        "group_key": payload.groupKey or None,
        "group_labels": payload.groupLabels,
        "receiver": payload.receiver or None,
        "external_url": payload.externalURL or None,
        "truncated_alerts": payload.truncatedAlerts,
    })


def to_events(payload: WebhookPayload, *, received_at: datetime) -> list[AlertEvent]:
    """One event per alert, in the payload's order. Each alert's own status counts, not the
    notification's: a "firing" notification can carry resolved alerts."""
    return [to_event(alert, payload, received_at=received_at) for alert in payload.alerts]
