"""PURE: a PagerDuty Events v2 event becomes what the incident service understands — a firing or
resolved `AlertEvent`, or an `AlertAcknowledged` — on `vigil.alerts.v1`. No I/O: the integration key,
the alert's start (kept by ingest per dedup key), the resolve time and `received_at` are passed in.

The mapping (docs/events-v2.md has it as a table):
- fingerprint: 16 hex digits of SHA-256 over the integration key's id and the dedup key, so one
  dedup key is one alert, per key (the routing key itself, a secret, is never part of it);
- labels: `alertname` (the payload's `class`, else its summary), `severity` as Vigil's levels
  (critical → critical, error → high, warning → medium, info → low), `source`, `component`,
  `group`, `class`, `integration` (the key's name); then the key's labels, which win, and its `service`;
- annotations: `summary`, `description` (the custom details as "name: value" lines), and as sent:
  `custom_details` and `links`/`images` (JSON), `client`, `client_url`, `timestamp`,
  `pagerduty_severity`, `dedup_key`;
- one incident per dedup key (no group key), like PagerDuty's one incident per alert.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from services.ingest.events_v2.schemas import EnqueueEvent, Payload
from shared.events import AlertAcknowledged, AlertEvent, deterministic_id, utc_isoformat

SOURCE = "events-v2"
LEVEL_OF_SEVERITY = {"critical": "critical", "error": "high", "warning": "medium", "info": "low"}
ALERTNAME_MAX = 200


def fingerprint_of(key_id: str, dedup_key: str) -> str:
    return hashlib.sha256(f"{key_id}\x1f{dedup_key}".encode()).hexdigest()[:16]


def actor_of(key_name: str) -> str:
    """Who an integration's acknowledgement is recorded as (as "alice (link)" for a one-click link)."""
    return f"{key_name} (integration)"


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _details_text(details: object) -> str:
    if isinstance(details, str):
        return details
    if isinstance(details, dict):
        return "\n".join(f"{name}: {value if isinstance(value, str) else _json(value)}" for name, value in details.items())
    return _json(details)


def labels_of(*, payload: Payload | None, key_name: str, service: str, key_labels: dict[str, str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    if payload is not None:
        labels["alertname"] = (payload.class_ or payload.summary)[:ALERTNAME_MAX]
        labels["severity"] = LEVEL_OF_SEVERITY[payload.severity]
        labels["source"] = payload.source
        for name, value in (("component", payload.component), ("group", payload.group), ("class", payload.class_)):
            if value:
                labels[name] = value
    labels["integration"] = key_name
    return {**labels, **key_labels, "service": service}


def annotations_of(event: EnqueueEvent, dedup_key: str) -> dict[str, str]:
    annotations = {"dedup_key": dedup_key}
    payload = event.payload
    if payload is not None:
        annotations.update(summary=payload.summary, pagerduty_severity=payload.severity)
        if payload.custom_details is not None:
            annotations["description"] = _details_text(payload.custom_details)
            annotations["custom_details"] = _json(payload.custom_details)
        if payload.timestamp is not None:
            annotations["timestamp"] = payload.timestamp.isoformat()
    if event.links:
        annotations["links"] = _json([link.model_dump(exclude_none=True) for link in event.links])
    if event.images:
        annotations["images"] = _json([image.model_dump(exclude_none=True) for image in event.images])
    if event.client:
        annotations["client"] = event.client
    if event.client_url:
        annotations["client_url"] = event.client_url
    return annotations


def alert_event(
    event: EnqueueEvent, *, dedup_key: str, key_id: str, key_name: str, service: str, key_labels: dict[str, str],
    started_at: datetime, resolved_at: datetime | None, received_at: datetime,
) -> AlertEvent:
    """A trigger (firing) or a resolve (`resolved_at` given) of the dedup key's firing that started
    at `started_at`. The event id is that of the alert state, as for Alertmanager's alerts: a trigger
    sent again while the alert fires, or a resolve retried, is the same event and is dropped downstream."""
    fingerprint = fingerprint_of(key_id, dedup_key)
    status = "firing" if resolved_at is None else "resolved"
    return AlertEvent(
        event_id=AlertEvent.id_for(source=SOURCE, fingerprint=fingerprint, status=status, starts_at=started_at,
                                   ends_at=resolved_at),
        occurred_at=received_at,
        source=SOURCE,
        fingerprint=fingerprint,
        status=status,
        labels=labels_of(payload=event.payload, key_name=key_name, service=service, key_labels=key_labels),
        annotations=annotations_of(event, dedup_key),
        starts_at=started_at,
        ends_at=resolved_at,
        generator_url=event.client_url or None,
    )


def acknowledged_event(*, dedup_key: str, key_id: str, key_name: str, started_at: datetime, received_at: datetime) -> AlertAcknowledged:
    """An acknowledge of the dedup key's firing that started at `started_at`. Each acknowledge
    received is its own event (a later one may follow an unacknowledgement); a Kafka replay of it
    has the same id."""
    fingerprint = fingerprint_of(key_id, dedup_key)
    return AlertAcknowledged(
        event_id=deterministic_id(SOURCE, fingerprint, "acknowledged", utc_isoformat(started_at), utc_isoformat(received_at)),
        occurred_at=received_at,
        source=SOURCE,
        fingerprint=fingerprint,
        starts_at=started_at,
        actor=actor_of(key_name),
    )
