"""PURE: what one alert event means for its occurrence, and which group and title it belongs to.

An alert's identity is its fingerprint; an *occurrence* is (fingerprint, starts_at). Alertmanager
delivers snapshots at least once — repeats every repeat_interval, HA duplicates, Kafka replays — and
this module is where they are absorbed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from shared.events import AlertEvent


class Outcome(str, Enum):
    NEW_FIRING = "new_firing"  # first sight of a firing occurrence: attach to or open an incident
    REPEAT = "repeat"  # the occurrence fires again (resend, duplicate, replay): nothing to do
    STALE_FIRING = "stale_firing"  # a firing older than the resolve already seen: ignored
    RESOLVE = "resolve"  # closes a firing occurrence
    REPEAT_RESOLVE = "repeat_resolve"  # the occurrence was already resolved: nothing to do
    ORPHAN_RESOLVE = "orphan_resolve"  # resolve of an occurrence never seen firing: recorded, opens nothing


@dataclass(frozen=True)
class Occurrence:
    fingerprint: str
    starts_at: datetime
    status: str  # firing | resolved
    incident_id: int | None


def classify(event: AlertEvent, occurrence: Occurrence | None) -> Outcome:
    if occurrence is None:
        return Outcome.NEW_FIRING if event.status == "firing" else Outcome.ORPHAN_RESOLVE
    if event.status == "firing":
        return Outcome.STALE_FIRING if occurrence.status == "resolved" else Outcome.REPEAT
    return Outcome.REPEAT_RESOLVE if occurrence.status == "resolved" else Outcome.RESOLVE


def group_of(event: AlertEvent, *, group_by: list[str]) -> str:
    """The incident group of an alert: Alertmanager's groupKey by default, or the values of the
    configured labels (e.g. alertname,service,env) so that grouping does not depend on the route."""
    if group_by:
        return "labels:" + ",".join(f"{name}={event.labels.get(name, '')}" for name in group_by)
    if event.group_key:
        return f"{event.source}:{event.group_key}"
    return f"{event.source}:fingerprint:{event.fingerprint}"


def title_of(event: AlertEvent) -> str:
    summary = event.annotations.get("summary") or event.annotations.get("title")
    if summary:
        return summary[:300]
    name = event.labels.get("alertname", "alert")
    where = event.labels.get("service") or event.labels.get("job") or event.labels.get("instance")
    return f"{name} on {where}"[:300] if where else name[:300]


def timeline_text(event: AlertEvent) -> str:
    name = event.labels.get("alertname", event.fingerprint)
    if event.status == "firing":
        return f"alert {name} firing ({event.fingerprint})"
    return f"alert {name} resolved ({event.fingerprint})"
