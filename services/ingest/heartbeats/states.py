"""PURE: what a ping, a check, a pause or an edit does to a heartbeat monitor, as data.

Stored states (as healthchecks.io names them):
- `new`: made, or resumed, and not pinged since: nothing is expected yet, nothing fires;
- `up`: pinged; the next ping is expected at `expected_at`. Past it the monitor is *late* (shown,
  not alerted); `grace_s` later (`due_at`) it is *down* — the checker fires its alert then;
- `down`: its alert fires (`firing_since`: the alert's start), until a success ping resolves it;
- `paused`: no expectations, no alert.

A `/start` ping marks a run started: the run must finish (a success ping) within the grace time,
so the deadline becomes the earlier of the schedule's and start + grace. A `/fail` ping fires at
once. A success ping resolves a firing alert and sets the next deadline. `late` is derived from
the clock (`status_at`), never stored: nothing has to happen when a monitor becomes late.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from services.ingest.heartbeats.schedule import Schedule, next_expected

Status = Literal["new", "up", "down", "paused"]
PingKind = Literal["success", "start", "fail"]
Reason = Literal["missed", "unfinished", "failed"]


@dataclass(frozen=True)
class Monitor:
    id: str
    name: str
    service: str
    severity: str
    labels: dict[str, str]
    schedule: Schedule
    grace_s: int
    summary: str | None = None  # what its alert says when it fires; None: the default sentence
    status: Status = "new"
    last_ping_at: datetime | None = None  # the last success or fail ping
    last_start_at: datetime | None = None  # a run started and not finished yet
    expected_at: datetime | None = None  # the next ping is due: late after it
    due_at: datetime | None = None  # the checker's timer: down when no ping came by then
    firing_since: datetime | None = None  # the firing alert's start (the missed deadline, or the fail ping)
    firing_reason: Reason | None = None


@dataclass(frozen=True)
class Fire:
    """The monitor's alert starts firing at `starts_at`."""

    starts_at: datetime
    reason: Reason


@dataclass(frozen=True)
class Resolve:
    """The alert that fires since `starts_at` resolves at `ends_at`."""

    starts_at: datetime
    ends_at: datetime


Alert = Fire | Resolve


@dataclass(frozen=True)
class Decision:
    monitor: Monitor
    alerts: list[Alert]


def status_at(monitor: Monitor, now: datetime) -> str:
    """new, up, late (past the expected ping, within the grace time), down or paused."""
    if monitor.status == "up" and monitor.expected_at is not None and now >= min(
            monitor.expected_at, monitor.due_at or monitor.expected_at):
        return "late"
    return monitor.status


def deadline(monitor: Monitor) -> datetime | None:
    """When the monitor goes down without a ping: grace after the expected ping, or after the start
    of an unfinished run if that is earlier."""
    starts = [t for t in (monitor.expected_at, monitor.last_start_at) if t is not None]
    return min(starts) + timedelta(seconds=monitor.grace_s) if starts else None


def _resolve(monitor: Monitor, now: datetime) -> list[Alert]:
    return [Resolve(monitor.firing_since, now)] if monitor.firing_since is not None else []


def ping(monitor: Monitor, kind: PingKind, now: datetime) -> Decision:
    """A ping of `kind` at `now`. Any ping resumes a paused monitor (as healthchecks.io does)."""
    if kind == "start":
        if monitor.status == "down":  # a new run of a failing job: down until it succeeds
            return Decision(replace(monitor, last_start_at=now), [])
        started = replace(monitor, status="up" if monitor.status == "up" else "new", last_start_at=now)
        return Decision(replace(started, due_at=deadline(started)), [])
    if kind == "fail":
        expected = next_expected(monitor.schedule, now)
        after = replace(monitor, status="down", last_ping_at=now, last_start_at=None, expected_at=expected, due_at=None,
                        firing_since=monitor.firing_since or now, firing_reason=monitor.firing_reason or "failed")
        return Decision(after, [] if monitor.firing_since is not None else [Fire(now, "failed")])
    up = replace(monitor, status="up", last_ping_at=now, last_start_at=None, expected_at=next_expected(monitor.schedule, now),
                 firing_since=None, firing_reason=None)
    return Decision(replace(up, due_at=deadline(up)), _resolve(monitor, now))


def check(monitor: Monitor, now: datetime) -> Decision:
    """The checker's timer: down (and firing) when the deadline passed without a ping. Fires once
    per missed deadline however long ago it passed (a checker that was stopped catches up with one
    alert, not one per missed period); never before the deadline."""
    if monitor.status in ("down", "paused"):  # nothing to check (a stray timer is dropped)
        return Decision(replace(monitor, due_at=None), [])
    if monitor.due_at is None or now < monitor.due_at:
        return Decision(monitor, [])
    missed = monitor.due_at
    reason: Reason = "unfinished" if monitor.last_start_at is not None and \
        monitor.last_start_at + timedelta(seconds=monitor.grace_s) == missed else "missed"
    after = replace(monitor, status="down", due_at=None, firing_since=missed, firing_reason=reason)
    return Decision(after, [Fire(missed, reason)])


def pause(monitor: Monitor, now: datetime) -> Decision:
    """No expectations and no alert until resumed or pinged; a firing alert resolves."""
    after = replace(monitor, status="paused", last_start_at=None, expected_at=None, due_at=None, firing_since=None,
                    firing_reason=None)
    return Decision(after, _resolve(monitor, now))


def resume(monitor: Monitor) -> Decision:
    """Back to `new`: expectations start with the next ping."""
    if monitor.status != "paused":
        return Decision(monitor, [])
    return Decision(replace(monitor, status="new"), [])


def reschedule(monitor: Monitor, *, schedule: Schedule, grace_s: int) -> Decision:
    """A new schedule or grace time: the deadline is recomputed from the last ping (it may lie in
    the past already: the checker then fires at once)."""
    after = replace(monitor, schedule=schedule, grace_s=grace_s)
    if after.status == "up" and after.last_ping_at is not None:
        after = replace(after, expected_at=next_expected(schedule, after.last_ping_at))
    if after.status in ("up", "new"):
        after = replace(after, due_at=deadline(after))
    return Decision(after, [])


def delete(monitor: Monitor, now: datetime) -> Decision:
    """Deleting a monitor resolves its firing alert: nothing would ever resolve it otherwise."""
    return Decision(monitor, _resolve(monitor, now))
