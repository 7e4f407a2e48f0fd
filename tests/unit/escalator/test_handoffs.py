"""Shift notices: which on-call boundaries (a person starting or stopping being on call, overrides
included, both tiers) are announced when, by the pure `handoffs.due_boundaries`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.escalator.handoffs import Boundary, due_boundaries, stints
from services.escalator.rotation import Override, Rotation, Schedule, Shift, effective_shifts


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


LEAD = timedelta(minutes=15)
# Weekly, handoff Monday 09:00 Berlin (08:00 UTC in winter, 07:00 UTC in summer), 30 min overlap;
# ana from Monday 2 March 2026. Berlin springs forward on Sunday 29 March 2026.
PRIMARY = Rotation("platform/primary", ("ana", "bo"), "Europe/Berlin", date(2026, 3, 2), time(9, 0))
BACKUP = Rotation("platform/backup", ("cy", "dee"), "Europe/Berlin", date(2026, 3, 2), time(9, 0))
ALONE = Rotation("platform/backup", ("cy",), "Europe/Berlin", date(2026, 3, 2), time(9, 0))
CREATED = utc(2026, 3, 1)
HANDOFF = utc(2026, 3, 9, 8, 0)  # ana -> bo; cy -> dee


def primary_only(*overrides: Override, primary: Rotation = PRIMARY) -> Schedule:
    return Schedule(primary=primary, backup=Rotation("b", (), "UTC", date(2026, 3, 2), time(9, 0)),
                    primary_overrides=overrides)


def test_fifteen_minutes_before_a_handoff_the_incoming_person_is_due_with_the_end_of_their_shift():
    assert due_boundaries(primary_only(), now=HANDOFF - LEAD, lead=LEAD) == [
        Boundary("primary", "bo", "starting", HANDOFF, until=utc(2026, 3, 16, 8, 30)),
    ]


def test_the_outgoing_person_ends_when_the_overlap_ends_and_is_due_fifteen_minutes_before_that():
    overlap_end = HANDOFF + timedelta(minutes=30)
    assert due_boundaries(primary_only(), now=overlap_end - LEAD - timedelta(seconds=1), lead=LEAD) == [
        Boundary("primary", "bo", "starting", HANDOFF, until=utc(2026, 3, 16, 8, 30)),
    ]
    assert due_boundaries(primary_only(), now=overlap_end - LEAD, lead=LEAD) == [
        Boundary("primary", "bo", "starting", HANDOFF, until=utc(2026, 3, 16, 8, 30)),
        Boundary("primary", "ana", "ending", overlap_end),
    ]


@pytest.mark.parametrize("now, what", [
    (HANDOFF - LEAD - timedelta(seconds=1), "one second before the lead"),
    (utc(2026, 3, 11, 12, 0), "mid-week"),
    (HANDOFF + LEAD + timedelta(minutes=30, seconds=1), "later than the lead after the last boundary"),
])
def test_nothing_is_due_outside_the_lead_either_side_of_a_boundary(now, what):
    assert due_boundaries(primary_only(), now=now, lead=LEAD) == [], what


def test_a_fresh_install_does_not_announce_a_boundary_passed_by_more_than_the_lead():
    just_in = due_boundaries(primary_only(), now=HANDOFF + LEAD, lead=LEAD)
    assert [(b.person, b.kind) for b in just_in] == [("bo", "starting"), ("ana", "ending")]
    later = due_boundaries(primary_only(), now=HANDOFF + LEAD + timedelta(seconds=1), lead=LEAD)
    assert [(b.person, b.kind) for b in later] == [("ana", "ending")]


def test_both_tiers_are_announced_primary_first():
    schedule = Schedule(primary=PRIMARY, backup=BACKUP)
    assert [(b.tier, b.person, b.kind) for b in due_boundaries(schedule, now=HANDOFF, lead=LEAD)] == [
        ("primary", "bo", "starting"), ("backup", "dee", "starting"),
    ]


def test_the_only_participant_of_a_rotation_starts_once_and_never_hands_over_to_themselves():
    schedule = Schedule(primary=PRIMARY, backup=ALONE)
    first = due_boundaries(schedule, now=utc(2026, 3, 2, 8, 0), lead=LEAD)
    assert Boundary("backup", "cy", "starting", utc(2026, 3, 2, 8, 0), until=None) in first
    assert [b.tier for b in due_boundaries(schedule, now=HANDOFF, lead=LEAD)] == ["primary"]


def test_an_override_mid_shift_ends_and_restarts_the_scheduled_person_and_announces_the_stand_in():
    start, end = utc(2026, 3, 11, 10, 0), utc(2026, 3, 11, 14, 0)
    schedule = primary_only(Override("cy", start, end, CREATED))
    assert due_boundaries(schedule, now=start, lead=LEAD) == [
        Boundary("primary", "cy", "starting", start, until=end), Boundary("primary", "bo", "ending", start),
    ]
    assert due_boundaries(schedule, now=end, lead=LEAD) == [
        Boundary("primary", "bo", "starting", end, until=utc(2026, 3, 16, 8, 30)),
        Boundary("primary", "cy", "ending", end),
    ]


def test_an_override_that_brings_the_incoming_person_early_moves_their_start_and_the_outgoing_end():
    early = HANDOFF - timedelta(hours=2)
    # Through the overlap: an override ending at the handoff would give ana back its 30 minutes.
    schedule = primary_only(Override("bo", early, HANDOFF + timedelta(minutes=30), CREATED))
    assert due_boundaries(schedule, now=early, lead=LEAD) == [
        Boundary("primary", "bo", "starting", early, until=utc(2026, 3, 16, 8, 30)),
        Boundary("primary", "ana", "ending", early),
    ]
    for now in (HANDOFF, HANDOFF + timedelta(minutes=30)):
        assert due_boundaries(schedule, now=now, lead=LEAD) == [], "bo is already on call; ana already left"


def test_an_override_with_nobody_ends_and_restarts_the_scheduled_person():
    start, end = utc(2026, 3, 11, 10, 0), utc(2026, 3, 11, 11, 0)
    schedule = primary_only(Override("", start, end, CREATED))
    assert due_boundaries(schedule, now=start, lead=LEAD) == [Boundary("primary", "bo", "ending", start)]
    assert due_boundaries(schedule, now=end, lead=LEAD)[0] == Boundary("primary", "bo", "starting", end,
                                                                       until=utc(2026, 3, 16, 8, 30))


def test_after_spring_forward_the_handoff_is_still_at_nine_local():
    handoff = utc(2026, 3, 30, 7, 0)  # 09:00 CEST
    assert due_boundaries(primary_only(), now=handoff - LEAD, lead=LEAD) == [
        Boundary("primary", "ana", "starting", handoff, until=utc(2026, 4, 6, 7, 30)),
    ]


def test_stints_join_shifts_that_overlap_or_touch_and_keep_apart_those_that_do_not():
    shifts = [Shift("a", utc(2026, 1, 1), utc(2026, 1, 2)), Shift("a", utc(2026, 1, 2), utc(2026, 1, 3)),
              Shift("b", utc(2026, 1, 2, 12), utc(2026, 1, 4)), Shift("a", utc(2026, 1, 2, 18), utc(2026, 1, 3, 6)),
              Shift("a", utc(2026, 1, 5), utc(2026, 1, 6))]
    assert stints(shifts) == [("a", utc(2026, 1, 1), utc(2026, 1, 3, 6)), ("b", utc(2026, 1, 2, 12), utc(2026, 1, 4)),
                              ("a", utc(2026, 1, 5), utc(2026, 1, 6))]


def test_a_job_every_ten_minutes_sees_every_boundary_of_two_weeks_first_within_the_lead_before_it():
    overrides = (Override("dee", utc(2026, 3, 11, 10, 7), utc(2026, 3, 11, 13, 0), CREATED),
                 Override("", utc(2026, 3, 17, 2, 0), utc(2026, 3, 17, 3, 0), CREATED))
    schedule = Schedule(primary=PRIMARY, backup=BACKUP, primary_overrides=overrides)
    start, end, tick = utc(2026, 3, 3), utc(2026, 3, 17, 12), timedelta(minutes=10)
    first_seen: dict[tuple, datetime] = {}
    now = start
    while now < end:
        for b in due_boundaries(schedule, now=now, lead=LEAD):
            first_seen.setdefault((b.tier, b.person, b.kind, b.at), now)
        now += tick
    expected = set()
    for tier, rotation, tier_overrides in schedule.tiers():
        for person, begins, ends in stints(effective_shifts(rotation, tier_overrides, start=utc(2026, 2, 1), end=utc(2026, 5, 1))):
            expected |= {(tier, person, "starting", begins), (tier, person, "ending", ends)}
    expected = {e for e in expected if start + LEAD <= e[3] <= end}
    assert expected and expected <= set(first_seen)
    for key in expected:
        assert key[3] - LEAD <= first_seen[key] < key[3] - LEAD + tick, key
    assert len([k for k in expected if k[1] == "dee" and k[0] == "primary"]) == 2


def test_a_lead_must_be_positive():
    with pytest.raises(ValueError):
        due_boundaries(primary_only(), now=HANDOFF, lead=timedelta(0))
