"""PURE: a monitor's alert as the incident service reads it — an `AlertEvent` (source `heartbeat`)
on `vigil.alerts.v1`.

- fingerprint: 16 hex digits of SHA-256 over the monitor's id: one alert per monitor;
- labels: the monitor's own labels, then `alertname=HeartbeatMissing`, `monitor` (its name),
  `service` and `severity`, which win;
- the occurrence is (fingerprint, start): a missed deadline fires with that deadline as its start,
  so the event id is the same whoever fires it and however often (a second replica, a replay) and the
  incident service keeps one; a fail ping starts at the ping; the resolve carries the same start.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from services.ingest.heartbeats.schedule import human_duration
from services.ingest.heartbeats.states import Alert, Fire, Monitor
from shared.events import AlertEvent

SOURCE = "heartbeat"
ALERTNAME = "HeartbeatMissing"


def fingerprint_of(monitor_id: str) -> str:
    return hashlib.sha256(f"{SOURCE}\x1f{monitor_id}".encode()).hexdigest()[:16]


def labels_of(monitor: Monitor) -> dict[str, str]:
    return {**monitor.labels, "alertname": ALERTNAME, "monitor": monitor.name, "service": monitor.service,
            "severity": monitor.severity}


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "never"


def _summary(monitor: Monitor, alert: Fire) -> str:
    if monitor.summary and alert.reason != "failed":
        return monitor.summary
    if alert.reason == "failed":
        return f"Heartbeat {monitor.name} ({monitor.service}) reported a failure at {_when(alert.starts_at)}"
    if alert.reason == "unfinished":
        return (f"Heartbeat {monitor.name} ({monitor.service}): the run started at {_when(monitor.last_start_at)} "
                f"did not finish within {human_duration(monitor.grace_s)}")
    return f"Heartbeat {monitor.name} ({monitor.service}) missed its ping: last ping {_when(monitor.last_ping_at)}"


def _description(monitor: Monitor) -> str:
    return "\n".join([
        f"Schedule: {monitor.schedule.describe()}, grace {human_duration(monitor.grace_s)}.",
        f"Last ping: {_when(monitor.last_ping_at)}.",
        f"Expected by: {_when(monitor.expected_at)}.",
        "It resolves with the next successful ping (docs/heartbeats.md).",
    ])


def event_of(monitor: Monitor, alert: Alert, *, now: datetime) -> AlertEvent:
    """The event of `alert`; `monitor` as it was before the decision (its last ping, its schedule)."""
    fingerprint = fingerprint_of(monitor.id)
    firing = isinstance(alert, Fire)
    ends_at = None if firing else alert.ends_at
    status = "firing" if firing else "resolved"
    annotations = {"summary": _summary(monitor, alert), "description": _description(monitor), "reason": alert.reason} \
        if firing else {"summary": f"Heartbeat {monitor.name} ({monitor.service}) pinged again at {_when(alert.ends_at)}"}
    annotations["last_ping_at"] = monitor.last_ping_at.isoformat() if monitor.last_ping_at else ""
    return AlertEvent(
        event_id=AlertEvent.id_for(source=SOURCE, fingerprint=fingerprint, status=status, starts_at=alert.starts_at,
                                   ends_at=ends_at),
        occurred_at=now,
        source=SOURCE,
        fingerprint=fingerprint,
        status=status,
        labels=labels_of(monitor),
        annotations=annotations,
        starts_at=alert.starts_at,
        ends_at=ends_at,
    )
