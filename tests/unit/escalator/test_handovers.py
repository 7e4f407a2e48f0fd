"""Handovers: when a schedule's primary rotation passes from one person to another (overrides
included), found by the pure `handovers.handovers`, and which are due to be announced
(`handovers.due_handovers`: a lead before the handover until its overlap ends)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.escalator.handovers import Handover, due_handovers, handovers
from services.escalator.rotation import Override, Rotation, Schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Weekly, handoff Monday 09:00 Berlin (08:00 UTC in winter), 30 min overlap; ana from Monday 2 March 2026.
PRIMARY = Rotation("platform/primary", ("ana", "bo"), "Europe/Berlin", date(2026, 3, 2), time(9, 0))
BACKUP = Rotation("platform/backup", ("cy", "dee"), "Europe/Berlin", date(2026, 3, 2), time(9, 0))
HANDOFF = utc(2026, 3, 9, 8, 0)  # ana -> bo (and cy -> dee on the backup)
LEAD = timedelta(hours=1)
CREATED = utc(2026, 3, 1)


def schedule(primary: Rotation = PRIMARY, *overrides: Override, backup: Rotation = BACKUP) -> Schedule:
    return Schedule(primary=primary, backup=backup, primary_overrides=overrides)


def test_a_weekly_rotation_hands_over_from_the_outgoing_to_the_incoming_person_with_the_overlap():
    assert handovers(schedule(), start=HANDOFF - timedelta(days=1), end=HANDOFF + timedelta(days=8)) == [
        Handover("primary", "ana", "bo", HANDOFF, HANDOFF + timedelta(minutes=30)),
        Handover("primary", "bo", "ana", utc(2026, 3, 16, 8, 0), utc(2026, 3, 16, 8, 30)),
    ]


def test_the_backup_tier_never_hands_over_even_when_the_primary_has_one_person():
    alone = Rotation("platform/primary", ("ana",), "Europe/Berlin", date(2026, 3, 2), time(9, 0))
    assert handovers(schedule(alone), start=HANDOFF - timedelta(days=1), end=HANDOFF + timedelta(days=30)) == []


def test_a_one_person_rotation_has_no_handover():
    alone = Rotation("solo", ("ana",), "UTC", date(2026, 3, 2), time(9, 0))
    assert handovers(schedule(alone, backup=alone), start=utc(2026, 3, 1), end=utc(2026, 4, 30)) == []


@pytest.mark.parametrize("zone, anchor, wall, at, overlap_ends_at, what", [
    # New York falls back on Sunday 1 November 2026 at 02:00 EDT: the 01:45 EDT handover's overlap
    # ends at 01:15 EST, thirty real minutes later.
    ("America/New_York", date(2026, 10, 25), time(1, 45), utc(2026, 11, 1, 5, 45), utc(2026, 11, 1, 6, 15), "fall back"),
    # Berlin springs forward on Sunday 29 March 2026 at 02:00 CET: 02:15 does not exist; the overlap
    # ends at 03:15 CEST, thirty real minutes after the 01:45 CET handover.
    ("Europe/Berlin", date(2026, 3, 22), time(1, 45), utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1, 15), "spring forward"),
])
def test_a_dst_change_in_the_overlap_keeps_thirty_real_minutes_of_overlap(zone, anchor, wall, at, overlap_ends_at, what):
    weekly = Rotation("dst", ("ana", "bo"), zone, anchor, wall)
    assert handovers(schedule(weekly), start=at - timedelta(hours=1), end=at + timedelta(hours=1)) == [
        Handover("primary", "ana", "bo", at, overlap_ends_at)], what


def test_an_override_replacing_the_incoming_person_hands_over_to_the_override():
    cover = Override("cy", HANDOFF, utc(2026, 3, 16, 8, 30), CREATED)  # cy takes bo's whole week
    assert handovers(schedule(PRIMARY, cover), start=HANDOFF - timedelta(hours=1), end=HANDOFF + timedelta(hours=1)) == [
        # The override replaces ana in the overlap too: cy still has the overlap's time to acknowledge.
        Handover("primary", "ana", "cy", HANDOFF, HANDOFF + timedelta(minutes=30)),
    ]


def test_an_override_from_the_overlap_hands_over_to_the_override_when_the_overlap_ends():
    cover = Override("cy", HANDOFF + timedelta(minutes=30), utc(2026, 3, 10, 8, 0), CREATED)  # cy covers bo's first day
    found = handovers(schedule(PRIMARY, cover), start=HANDOFF - timedelta(hours=1), end=utc(2026, 3, 10, 9, 0))
    assert [(h.from_person, h.to_person, h.at) for h in found] == [
        ("ana", "bo", HANDOFF), ("bo", "cy", HANDOFF + timedelta(minutes=30)), ("cy", "bo", utc(2026, 3, 10, 8, 0))]


@pytest.mark.parametrize("now, due", [
    (HANDOFF - LEAD - timedelta(seconds=1), False),
    (HANDOFF - LEAD, True),
    (HANDOFF + timedelta(minutes=29), True),  # a job that was down: the overlap still runs
    (HANDOFF + timedelta(minutes=30), False),  # the overlap ended: history
])
def test_a_handover_is_due_from_the_lead_before_it_until_its_overlap_ends(now, due):
    found = due_handovers(schedule(), now=now, lead=LEAD)
    assert found == ([Handover("primary", "ana", "bo", HANDOFF, HANDOFF + timedelta(minutes=30))] if due else [])


def test_the_lead_must_be_positive():
    with pytest.raises(ValueError):
        due_handovers(schedule(), now=HANDOFF, lead=timedelta(0))
