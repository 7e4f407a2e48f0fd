"""PURE: a schedule's handovers — the moments its primary rotation passes from one person to another,
overrides included — and which of them are due to be announced now.

A handover is where a person's stint (`handoffs.stints`) starts while another person is on call:
the outgoing person's stint covers or touches the start, and ends when the overlap does. The
incoming person is whoever really starts (an override replacing them hands over to the override's
person); a one-person rotation has no handover (one long stint), and a stint that starts after a gap
has nobody to hand over from. Only the primary tier hands over: the backup gets its shift notices.

`overlap_ends_at` is when the outgoing person stops, and at the earliest `at` + the rotation's overlap:
an override starting at the handoff replaces the outgoing person in the overlap too, and the incoming
one still has the overlap's time to acknowledge the handoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.escalator.handoffs import horizon, stints
from services.escalator.rotation import Schedule, Tier, effective_shifts

_TICK = timedelta(microseconds=1)  # `at` exactly a lead ahead is due


@dataclass(frozen=True)
class Handover:
    """`from_person` hands `tier` over to `to_person` at `at`; both are on call until `overlap_ends_at`."""

    tier: Tier
    from_person: str
    to_person: str
    at: datetime
    overlap_ends_at: datetime


def handovers(schedule: Schedule, *, start: datetime, end: datetime) -> list[Handover]:
    """Every primary handover with `start <= at < end`, in order of time."""
    rotation, overrides = schedule.primary, schedule.primary_overrides
    around = horizon(rotation)
    seen_from = start - around
    found = stints(effective_shifts(rotation, overrides, start=seen_from, end=end + around))
    out: list[Handover] = []
    for person, begins, _ends in found:
        if not start <= begins < end or begins <= seen_from:
            continue
        # Who was on call up to the start: a stint that covers it or ends exactly there.
        outgoing = [(o_end, o_person) for o_person, o_start, o_end in found
                    if o_person != person and o_start < begins <= o_end]
        if not outgoing:
            continue
        ends, before = max(outgoing)
        out.append(Handover("primary", before, person, begins, max(ends, begins + rotation.overlap)))
    return out


def due_handovers(schedule: Schedule, *, now: datetime, lead: timedelta) -> list[Handover]:
    """The handovers to announce at `now`: from `lead` before `at` until the overlap ends (a job
    that was down still announces a handover whose overlap runs; an older one is history)."""
    if lead <= timedelta(0):
        raise ValueError(f"the handover lead must be positive, got {lead}")
    # overlap_ends_at is at most `at` + the overlap (the outgoing stint ends with it): look that far back.
    earliest = now - schedule.primary.overlap - timedelta(seconds=1)
    return [h for h in handovers(schedule, start=earliest, end=now + lead + _TICK) if h.overlap_ends_at > now]
