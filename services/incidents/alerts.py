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
    SILENCED = "silenced"  # a new firing an active silence holds: recorded as suppressed, opens nothing (never from `classify`)


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


def independent_parts(events: list[AlertEvent], *, group_by: list[str], parts: int) -> list[list[AlertEvent]]:
    """Split `events` into at most `parts` lists that share no incident group, no fingerprint and
    no event id, each in the events' order, so that they can be folded in concurrent transactions:
    an alert's occurrences, its group's open incident and its processed id are all in one part.
    (Connected events stay together: union-find over the three keys.) Largest sets first, each to
    the part with the fewest events so far; deterministic. Empty parts are left out."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root(key: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    anchors = []
    for event in events:
        keys = [("g", group_of(event, group_by=group_by)), ("f", event.fingerprint), ("e", event.event_id)]
        first = root(keys[0])
        for key in keys[1:]:
            other = root(key)
            if other != first:
                parent[other] = first
        anchors.append(keys[0])
    members: dict[tuple[str, str], list[int]] = {}
    for index, anchor in enumerate(anchors):
        members.setdefault(root(anchor), []).append(index)
    chosen: list[list[int]] = [[] for _ in range(max(1, parts))]
    for indexes in sorted(members.values(), key=lambda ix: (-len(ix), ix[0])):
        min(chosen, key=len).extend(indexes)
    return [[events[i] for i in sorted(ix)] for ix in chosen if ix]
