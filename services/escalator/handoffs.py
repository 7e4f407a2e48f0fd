"""PURE: when people start and stop being on call, and which of those moments are announced now.

A person's *stint* in one tier of a schedule is their effective shifts (overrides included) joined
where they overlap or touch: one participant of a one-person rotation is on call in one long stint,
not from handoff to handoff, and an override that hands the shift back leaves two stints. Each stint
has a `starting` boundary (with `until`, its end) and an `ending` boundary. At a handoff the
incoming person starts at the handoff and the outgoing one ends when the overlap does, so each gets
an ordinary notice at their own moment.

A boundary at `at` is announced by the job running at `now` when `at - lead <= now <= at + lead`:
`lead` before it, or late by at most `lead` (a job that was down); older boundaries are history,
never announced (a fresh install does not send the past). Which were announced already is the
database's business (one row per `ShiftNotice.id_for`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.escalator.rotation import Rotation, Schedule, Shift, Tier, effective_shifts

BoundaryKind = Literal["starting", "ending"]
MARGIN = timedelta(days=1)  # beyond the rotation's longest shift: enough to see a stint end


@dataclass(frozen=True)
class Boundary:
    """`person` starts (`starting`) or stops (`ending`) being on call for `tier` at `at`. `until`:
    for `starting`, when the stint ends, None when not within the horizon looked at."""

    tier: Tier
    person: str
    kind: BoundaryKind
    at: datetime
    until: datetime | None = None


def stints(shifts: list[Shift]) -> list[tuple[str, datetime, datetime]]:
    """(person, start, end) per person: their shifts joined where they overlap or touch; by start."""
    joined: dict[str, list[list[datetime]]] = {}
    for s in sorted(shifts, key=lambda s: (s.start_at, s.end_at)):
        mine = joined.setdefault(s.person, [])
        if mine and s.start_at <= mine[-1][1]:
            mine[-1][1] = max(mine[-1][1], s.end_at)
        else:
            mine.append([s.start_at, s.end_at])
    found = [(person, start, end) for person, spans in joined.items() for start, end in spans]
    return sorted(found, key=lambda p: (p[1], p[2], p[0]))


def horizon(rotation: Rotation) -> timedelta:
    """How far around a boundary to look so that the stints touching it are seen whole (or seen to
    go on past it): two shifts and a margin (a shift's UTC length differs from its wall-clock one
    by a DST change at most)."""
    return 2 * rotation.shift + rotation.overlap + MARGIN


def reach(schedule: Schedule) -> timedelta:
    """How far either side of a window `due_boundaries` looks (the overrides it needs lie within)."""
    return max(horizon(schedule.primary), horizon(schedule.backup))


def tier_boundaries(tier: Tier, rotation: Rotation, overrides, *, start: datetime, end: datetime) -> list[Boundary]:
    """Every boundary of `tier` with `start <= at <= end`."""
    around = horizon(rotation)
    seen_from, seen_to = start - around, end + around
    out: list[Boundary] = []
    for person, begins, ends in stints(effective_shifts(rotation, overrides, start=seen_from, end=seen_to)):
        if start <= begins <= end:
            # A stint reaching past what was looked at may go on: its end is not in sight.
            out.append(Boundary(tier, person, "starting", begins, until=ends if ends < seen_to else None))
        if start <= ends <= end:
            out.append(Boundary(tier, person, "ending", ends))
    return out


def due_boundaries(schedule: Schedule, *, now: datetime, lead: timedelta) -> list[Boundary]:
    """The boundaries of both tiers to announce at `now`: those with `now - lead <= at <= now + lead`,
    in order of time (at one instant: primary first, who starts before who ends, then by name)."""
    if lead <= timedelta(0):
        raise ValueError(f"the notice lead must be positive, got {lead}")
    found = [b for tier, rotation, overrides in schedule.tiers()
             for b in tier_boundaries(tier, rotation, overrides, start=now - lead, end=now + lead)]
    return sorted(found, key=lambda b: (b.at, b.tier != "primary", b.kind != "starting", b.person))
