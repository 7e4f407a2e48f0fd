"""PURE: the shift-change handoff flow's decisions and words (docs/operations.md "On-call handoffs").

A handover the escalator announces (`HandoverDue`) becomes a draft handoff for the outgoing person,
who is told at once (`handoff_due`); when the overlap starts the incoming person is asked to
acknowledge it (`handoff_ack`); if the overlap ends without the acknowledgement the team is told
(`handoff_unacknowledged`). Each is one `ReportPublished` with a deterministic id per (kind,
handoff), so a replay or a second replica sends nothing more.

A handoff written by hand is checked against the rotation (`rotation_verdict`): its from/to must be
a handover of the escalator's rotation around now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.events import ReportPublished

# A handoff written by hand is checked against the handovers from a day before to a day after now.
ROTATION_WINDOW = timedelta(days=1)


def period(handoff_id: int) -> str:
    return f"H-{handoff_id}"


def event_id(kind: str, handoff_id: int) -> str:
    return ReportPublished.id_for(kind=kind, period=period(handoff_id))


def _when(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Notice:
    """One message of the flow: to whom, and what it says."""

    kind: str
    recipients: tuple[str, ...]
    title: str
    summary: str


def due_notice(h: dict, *, zone: str) -> Notice:
    """To the outgoing person, as soon as the draft exists."""
    return Notice(
        "handoff_due", (h["from_person"],),
        f"Complete your on-call handoff to {h['to_person']} ({h['schedule']})",
        f"You hand {h['schedule']} over to {h['to_person']} at {_when(h['handover_at'], zone)}. The handoff is drafted "
        f"with the open incidents, pending tickets, this week's actions, silences and maintenance: add your note and "
        f"the things to watch, and complete it before the handover.",
    )


def ack_notice(h: dict, *, zone: str) -> Notice:
    """To the incoming person, when the overlap starts."""
    return Notice(
        "handoff_ack", (h["to_person"],),
        f"Acknowledge the on-call handoff from {h['from_person']} ({h['schedule']})",
        f"You are on call for {h['schedule']} from {_when(h['handover_at'], zone)}. Read {h['from_person']}'s handoff "
        f"and acknowledge it before the overlap ends at {_when(h['overlap_ends_at'], zone)}.",
    )


def unacknowledged_notice(h: dict, *, zone: str, team: tuple[str, ...]) -> Notice:
    """To the team (the report recipients; without any, both people), when the overlap ended."""
    state = "was never completed by " + h["from_person"] if h["status"] == "draft" else "was completed"
    return Notice(
        "handoff_unacknowledged", team or (h["from_person"], h["to_person"]),
        f"On-call handoff {h['from_person']} → {h['to_person']} ({h['schedule']}) not acknowledged",
        f"{h['to_person']} did not acknowledge the handoff from {h['from_person']} before the overlap ended at "
        f"{_when(h['overlap_ends_at'], zone)}; it {state}. Make sure {h['to_person']} has what they need.",
    )


def rotation_verdict(from_person: str, to_person: str, handovers: list[dict], *, now: datetime,
                     zone: str) -> tuple[bool, str | None]:
    """(matches, why not): whether `from_person` -> `to_person` is one of the rotation's `handovers`
    (escalator's `GET /api/v1/handovers` rows, ROTATION_WINDOW either side of now); else a sentence
    naming who the rotation says."""
    if any(h["from_person"] == from_person and h["to_person"] == to_person for h in handovers):
        return True, None
    if not handovers:
        return False, (f"the rotation has no handover between {_when(now - ROTATION_WINDOW, zone)} and "
                       f"{_when(now + ROTATION_WINDOW, zone)}, so {from_person} does not hand over to {to_person}")
    nearest = min(handovers, key=lambda h: abs(datetime.fromisoformat(h["at"]) - now))
    return False, (f"the rotation hands {nearest['schedule']} over from {nearest['from_person']} to "
                   f"{nearest['to_person']} at {_when(datetime.fromisoformat(nearest['at']), zone)}, "
                   f"not from {from_person} to {to_person}")
