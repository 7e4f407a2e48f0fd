"""On-call rotations: tables of who is on call when (overlap, DST, overrides, backup, gaps), and
hypothesis properties across real DST transitions in several zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.escalator.rotation import (
    Gap, OnCall, Override, Rotation, Schedule, Shift, coverage_gaps, effective_shifts, on_call, shifts, who_is_on_call,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# A two-person weekly rotation, handoff Monday 09:00 Berlin; ana from Monday 2 March 2026.
# Berlin springs forward on Sunday 29 March and falls back on Sunday 25 October 2026.
WEEKLY = Rotation("platform", ("ana", "bo"), "Europe/Berlin", date(2026, 3, 2), time(9, 0))
BACKUP = Rotation("platform-backup", ("cy", "dee"), "America/New_York", date(2026, 3, 1), time(10, 0), shift_days=1)
CREATED = utc(2026, 3, 1)

WHO_WEEKLY = [
    ("nobody before the first handoff", utc(2026, 3, 2, 7, 59), []),
    ("ana from the first handoff at 09:00 CET", utc(2026, 3, 2, 8, 0), ["ana"]),
    ("ana alone mid-week", utc(2026, 3, 5, 12, 0), ["ana"]),
    ("ana alone until the second handoff", utc(2026, 3, 9, 7, 59, 59), ["ana"]),
    ("both from the handoff", utc(2026, 3, 9, 8, 0), ["ana", "bo"]),
    ("both until the overlap ends", utc(2026, 3, 9, 8, 29, 59), ["ana", "bo"]),
    ("bo alone when the overlap ends", utc(2026, 3, 9, 8, 30), ["bo"]),
    ("bo alone the day after spring forward", utc(2026, 3, 30, 6, 59), ["bo"]),
    ("the handoff after spring forward is still 09:00 local, now 07:00 UTC", utc(2026, 3, 30, 7, 0), ["bo", "ana"]),
    ("the overlap after spring forward lasts 30 minutes", utc(2026, 3, 30, 7, 30), ["ana"]),
    ("bo alone at the old 09:00 CET the week after fall back", utc(2026, 10, 26, 7, 0), ["bo"]),
    ("the handoff after fall back is 09:00 CET, 08:00 UTC again", utc(2026, 10, 26, 8, 0), ["bo", "ana"]),
    ("ana alone after the fall back overlap", utc(2026, 10, 26, 8, 30), ["ana"]),
]


@pytest.mark.parametrize("at, expected", [c[1:] for c in WHO_WEEKLY], ids=[c[0] for c in WHO_WEEKLY])
def test_who_is_on_call_in_a_weekly_berlin_rotation(at, expected):
    assert on_call(WEEKLY, [], at=at) == expected


def test_the_weekly_shift_that_contains_spring_forward_is_an_hour_shorter_and_fall_back_an_hour_longer():
    found = {s.start_at.date(): s for s in shifts(WEEKLY, start=utc(2026, 3, 1), end=utc(2026, 11, 1))}
    assert found[date(2026, 3, 23)].end_at - found[date(2026, 3, 23)].start_at == timedelta(hours=167, minutes=30)
    assert found[date(2026, 10, 19)].end_at - found[date(2026, 10, 19)].start_at == timedelta(hours=169, minutes=30)
    assert found[date(2026, 3, 30)].end_at - found[date(2026, 3, 30)].start_at == timedelta(hours=168, minutes=30)


def test_shifts_are_numbered_from_the_anchor_and_include_the_outgoing_overlap():
    got = shifts(WEEKLY, start=utc(2026, 3, 9, 8, 10), end=utc(2026, 3, 10))
    assert got == [
        Shift("ana", utc(2026, 3, 2, 8), utc(2026, 3, 9, 8, 30), 0),
        Shift("bo", utc(2026, 3, 9, 8), utc(2026, 3, 16, 8, 30), 1),
    ]


def test_first_chooses_who_takes_the_anchor_shift():
    rotation = Rotation("r", ("ana", "bo", "cy"), "Europe/Berlin", date(2026, 3, 2), time(9), first="cy")
    assert [s.person for s in shifts(rotation, start=utc(2026, 3, 2, 8), end=utc(2026, 3, 23, 9))] == ["cy", "ana", "bo", "cy"]


def test_a_single_person_rotation_names_them_once_during_their_own_handoff():
    rotation = Rotation("solo", ("ana",), "Europe/Berlin", date(2026, 3, 2), time(9))
    assert on_call(rotation, [], at=utc(2026, 3, 9, 8, 10)) == ["ana"]


# The DST rule: a handoff happens at the first instant at which the local clock reads the handoff
# time or later. (zone, handoff wall time on that day, the handoff in UTC, what the clock shows)
DST_RULE = [
    ("Europe/Berlin", "2026-03-29T02:30", utc(2026, 3, 29, 1, 0), "03:00"),  # skipped: at the jump
    ("America/New_York", "2026-03-08T02:30", utc(2026, 3, 8, 7, 0), "03:00"),
    ("Australia/Lord_Howe", "2026-10-04T02:15", utc(2026, 10, 3, 15, 30), "02:30"),  # a 30-minute jump
    ("Pacific/Chatham", "2026-09-27T03:00", utc(2026, 9, 26, 14, 0), "03:45"),  # jumps at 02:45
    ("America/Santiago", "2026-09-06T00:00", utc(2026, 9, 6, 4, 0), "01:00"),  # midnight is skipped
    ("America/Sao_Paulo", "2018-11-04T00:00", utc(2018, 11, 4, 3, 0), "01:00"),
    ("Pacific/Apia", "2011-12-30T09:00", utc(2011, 12, 30, 10, 0), "00:00"),  # Samoa skipped 30 Dec 2011
    ("Europe/Berlin", "2026-10-25T02:30", utc(2026, 10, 25, 0, 30), "02:30"),  # shown twice: the first
    ("America/New_York", "2026-11-01T01:30", utc(2026, 11, 1, 5, 30), "01:30"),
    ("Australia/Sydney", "2026-04-05T02:30", utc(2026, 4, 4, 15, 30), "02:30"),
    ("Asia/Kolkata", "2026-03-29T02:30", utc(2026, 3, 28, 21, 0), "02:30"),  # no DST
]


@pytest.mark.parametrize("zone, wall, expected, clock", DST_RULE, ids=[f"{z}-{w}" for z, w, _, _ in DST_RULE])
def test_a_skipped_handoff_time_hands_off_at_the_jump_and_a_repeated_one_at_its_first_occurrence(zone, wall, expected, clock):
    wall = datetime.fromisoformat(wall)
    daily = Rotation("d", ("ana", "bo"), zone, wall.date() - timedelta(days=2), wall.time(), shift_days=1)
    got = shifts(daily, start=expected - timedelta(days=1), end=expected + timedelta(days=1, hours=12))
    starts = [s.start_at for s in got]
    assert expected in starts
    assert expected.astimezone(ZoneInfo(zone)).strftime("%H:%M") == clock
    # the day before and the day after, the handoff is at the configured wall time again
    neighbours = [s for s in starts if s != expected]
    assert neighbours and all(_local(s, zone).time() == wall.time() for s in neighbours)


def test_a_twelve_hour_rotation_keeps_0900_and_2100_local_and_the_night_of_spring_forward_is_eleven_hours():
    rotation = Rotation("halfday", ("ana", "bo"), "Europe/Berlin", date(2026, 3, 27), time(9), shift_days=0, shift_hours=12, overlap_minutes=15)
    got = shifts(rotation, start=utc(2026, 3, 27, 8), end=utc(2026, 3, 31))
    assert {_local(s.start_at, "Europe/Berlin").time() for s in got} == {time(9), time(21)}
    night = next(s for s in got if s.start_at == utc(2026, 3, 28, 20))
    assert night.end_at == utc(2026, 3, 29, 7, 15)


def test_an_hourly_shift_that_the_spring_forward_gap_swallows_is_skipped_without_a_hole():
    rotation = Rotation("hourly", ("ana", "bo", "cy"), "Europe/Berlin", date(2026, 3, 29), time(0), shift_days=0, shift_hours=1)
    got = shifts(rotation, start=utc(2026, 3, 28, 23), end=utc(2026, 3, 29, 3))
    assert [(s.number, s.person) for s in got] == [(0, "ana"), (1, "bo"), (3, "ana"), (4, "bo")]  # 02:00 (cy) never happens
    assert all(a.end_at >= b.start_at for a, b in zip(got, got[1:]))
    assert max(len(on_call(rotation, [], at=utc(2026, 3, 29, 1, m))) for m in range(0, 60, 5)) <= 2


# --- overrides --------------------------------------------------------------------------------

CAROL_THURSDAY = Override("carol", utc(2026, 3, 5, 8), utc(2026, 3, 5, 20), CREATED)
CAROL_IN_HANDOFF = Override("carol", utc(2026, 3, 9, 7), utc(2026, 3, 9, 8, 10), CREATED)
NOBODY = Override("", utc(2026, 3, 12, 0), utc(2026, 3, 12, 6), CREATED)
EARLY = Override("carol", utc(2026, 3, 1), utc(2026, 3, 2, 8), CREATED)
OLDER = Override("eve", utc(2026, 3, 6, 0), utc(2026, 3, 6, 12), utc(2026, 3, 1))
NEWER = Override("finn", utc(2026, 3, 6, 6), utc(2026, 3, 6, 18), utc(2026, 3, 2))
SAME_TIME_A = Override("eve", utc(2026, 3, 6, 0), utc(2026, 3, 6, 12), CREATED)
SAME_TIME_B = Override("finn", utc(2026, 3, 6, 0), utc(2026, 3, 6, 12), CREATED)

WHO_WITH_OVERRIDES = [
    ("an override replaces the scheduled person", [CAROL_THURSDAY], utc(2026, 3, 5, 12), ["carol"]),
    ("the override ends at its end", [CAROL_THURSDAY], utc(2026, 3, 5, 20), ["ana"]),
    ("an override takes over both sides of an overlap", [CAROL_IN_HANDOFF], utc(2026, 3, 9, 8, 5), ["carol"]),
    ("the rest of the overlap has both again", [CAROL_IN_HANDOFF], utc(2026, 3, 9, 8, 10), ["ana", "bo"]),
    ("an override with nobody leaves nobody", [NOBODY], utc(2026, 3, 12, 3), []),
    ("an override covers time before the first handoff", [EARLY], utc(2026, 3, 1, 12), ["carol"]),
    ("the older override holds where the newer does not reach", [OLDER, NEWER], utc(2026, 3, 6, 3), ["eve"]),
    ("the newer override wins where both cover", [OLDER, NEWER], utc(2026, 3, 6, 9), ["finn"]),
    ("the newer override wins whatever the list order", [NEWER, OLDER], utc(2026, 3, 6, 9), ["finn"]),
    ("created at the same time: the later in the list wins", [SAME_TIME_A, SAME_TIME_B], utc(2026, 3, 6, 9), ["finn"]),
    ("created at the same time, other order", [SAME_TIME_B, SAME_TIME_A], utc(2026, 3, 6, 9), ["eve"]),
]


@pytest.mark.parametrize("overrides, at, expected", [c[1:] for c in WHO_WITH_OVERRIDES], ids=[c[0] for c in WHO_WITH_OVERRIDES])
def test_who_is_on_call_with_overrides(overrides, at, expected):
    assert on_call(WEEKLY, overrides, at=at) == expected


def test_effective_shifts_cut_the_scheduled_shift_around_an_override():
    got = effective_shifts(WEEKLY, [CAROL_THURSDAY], start=utc(2026, 3, 3), end=utc(2026, 3, 7))
    assert got == [
        Shift("ana", utc(2026, 3, 2, 8), utc(2026, 3, 5, 8), 0),
        Shift("carol", utc(2026, 3, 5, 8), utc(2026, 3, 5, 20), None),
        Shift("ana", utc(2026, 3, 5, 20), utc(2026, 3, 9, 8, 30), 0),
    ]


def test_effective_shifts_leave_a_hole_for_an_override_with_nobody():
    got = effective_shifts(WEEKLY, [NOBODY], start=utc(2026, 3, 11), end=utc(2026, 3, 13))
    assert [(s.person, s.start_at, s.end_at) for s in got] == [
        ("bo", utc(2026, 3, 9, 8), utc(2026, 3, 12, 0)),
        ("bo", utc(2026, 3, 12, 6), utc(2026, 3, 16, 8, 30)),
    ]


# --- the schedule: primary and backup -------------------------------------------------------

SCHEDULE = Schedule(primary=WEEKLY, backup=BACKUP, backup_overrides=(Override("gus", utc(2026, 3, 4, 0), utc(2026, 3, 5, 0), CREATED),))

WHO_SCHEDULE = [
    ("primary and backup each have their own person", utc(2026, 3, 3, 12), OnCall(["ana"], ["dee"])),
    ("a backup override does not touch the primary", utc(2026, 3, 4, 12), OnCall(["ana"], ["gus"])),
    ("the backup's daily overlap at 10:00 New York", utc(2026, 3, 5, 15, 10), OnCall(["ana"], ["dee", "cy"])),
    ("the primary's overlap and the backup together", utc(2026, 3, 9, 8, 15), OnCall(["ana", "bo"], ["dee"])),
]


@pytest.mark.parametrize("at, expected", [c[1:] for c in WHO_SCHEDULE], ids=[c[0] for c in WHO_SCHEDULE])
def test_who_is_on_call_in_a_schedule(at, expected):
    assert who_is_on_call(SCHEDULE, at=at) == expected


EMPTY = Rotation("nobody-yet", (), "Europe/Berlin", date(2026, 3, 2), time(9))
MAR_2, MAR_3, MAR_4 = utc(2026, 3, 2), utc(2026, 3, 3), utc(2026, 3, 4)
GAPS = [
    ("a healthy schedule has no gaps", SCHEDULE, MAR_3, utc(2026, 11, 3), []),
    ("before the primary's first handoff", SCHEDULE, MAR_2, MAR_3, [Gap("primary", MAR_2, utc(2026, 3, 2, 8))]),
    ("an override fills the time before the first handoff", Schedule(WEEKLY, BACKUP, primary_overrides=(EARLY,)), MAR_2, MAR_3, []),
    ("a backup without participants", Schedule(WEEKLY, EMPTY), MAR_3, MAR_4, [Gap("backup", MAR_3, MAR_4)]),
    (
        "an override with nobody", Schedule(WEEKLY, BACKUP, primary_overrides=(NOBODY,)), utc(2026, 3, 10), utc(2026, 3, 14),
        [Gap("primary", utc(2026, 3, 12), utc(2026, 3, 12, 6))],
    ),
    ("primary before backup at the same start", Schedule(EMPTY, EMPTY), MAR_3, MAR_4, [Gap("primary", MAR_3, MAR_4), Gap("backup", MAR_3, MAR_4)]),
]


@pytest.mark.parametrize("schedule, start, end, expected", [c[1:] for c in GAPS], ids=[c[0] for c in GAPS])
def test_coverage_gaps(schedule, start, end, expected):
    assert coverage_gaps(schedule, start=start, end=end) == expected


# --- validation -------------------------------------------------------------------------------


def rotation(**changes) -> Rotation:
    fields = dict(name="r", participants=("ana", "bo"), zone="Europe/Berlin", anchor_date=date(2026, 3, 2), handoff_time=time(9))
    return Rotation(**{**fields, **changes})


INVALID = [
    ("an unknown zone", lambda: rotation(zone="Europe/Atlantis"), "unknown time zone"),
    ("a zone directory", lambda: rotation(zone="Europe"), "unknown time zone"),
    ("an empty participant name", lambda: rotation(participants=("ana", " ")), "participant names"),
    ("first who is not a participant", lambda: rotation(first="zed"), "not a participant"),
    ("an overlap as long as the shift", lambda: rotation(shift_days=1, overlap_minutes=24 * 60), "shorter than a shift"),
    ("a shift of no length", lambda: rotation(shift_days=0), "at least one hour"),
    ("a negative overlap", lambda: rotation(overlap_minutes=-5), "whole numbers"),
    ("a handoff time with a zone", lambda: rotation(handoff_time=time(9, tzinfo=UTC)), "without tzinfo"),
    ("an anchor that is a datetime", lambda: rotation(anchor_date=datetime(2026, 3, 2, 9)), "must be a date"),
    ("a naive instant", lambda: on_call(WEEKLY, [], at=datetime(2026, 3, 3)), "timezone-aware"),
    ("a naive window", lambda: shifts(WEEKLY, start=datetime(2026, 3, 3), end=utc(2026, 3, 4)), "timezone-aware"),
    ("a window that ends before it starts", lambda: coverage_gaps(SCHEDULE, start=utc(2026, 3, 4), end=utc(2026, 3, 3)), "must be after"),
    ("an override that ends before it starts", lambda: Override("carol", utc(2026, 3, 4), utc(2026, 3, 4), CREATED), "ends"),
    ("an override for a blank name", lambda: Override("  ", utc(2026, 3, 4), utc(2026, 3, 5), CREATED), "'' for nobody"),
    ("a naive override", lambda: Override("carol", datetime(2026, 3, 4), utc(2026, 3, 5), CREATED), "timezone-aware"),
]


@pytest.mark.parametrize("build, message", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_input_is_refused_with_a_clear_message(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_aware_non_utc_input_is_accepted_and_output_is_utc():
    berlin = ZoneInfo("Europe/Berlin")
    got = shifts(WEEKLY, start=datetime(2026, 3, 9, 9, 10, tzinfo=berlin), end=datetime(2026, 3, 9, 10, tzinfo=berlin))
    assert all(s.start_at.tzinfo is UTC and s.end_at.tzinfo is UTC for s in got)
    assert on_call(WEEKLY, [], at=datetime(2026, 3, 9, 9, 10, tzinfo=berlin)) == ["ana", "bo"]


# --- hypothesis: real DST transitions ---------------------------------------------------------

ZONES = [
    "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
    "America/Sao_Paulo", "Pacific/Chatham", "Australia/Lord_Howe", "America/Santiago",
]


def _local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


@cache
def transitions(zone: str) -> list[datetime]:
    """The zone's offset changes from 2016 to 2027, found by stepping a day and bisecting to the second."""
    tz, found, t = ZoneInfo(zone), [], utc(2016, 1, 1)
    while t.year < 2027:
        nxt = t + timedelta(days=1)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (lo, mid) if mid.astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset() else (mid, hi)
            found.append(hi)
        t = nxt
    return found


@st.composite
def cases(draw):
    """A rotation whose j-th handoff falls close to (often exactly into) a real DST transition, and a
    window of several shifts around it."""
    zone = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(zone)
    hourly = draw(st.booleans())
    shift_days, shift_hours = (0, draw(st.integers(3, 40))) if hourly else (draw(st.sampled_from([1, 2, 3, 7, 14])), 0)
    shift = timedelta(days=shift_days, hours=shift_hours)
    overlap_minutes = draw(st.integers(0, 90))
    if transitions(zone):
        t = draw(st.sampled_from(transitions(zone)))
        before, after = _local(t - timedelta(seconds=1), zone) + timedelta(seconds=1), _local(t, zone)
        if draw(st.booleans()):  # a wall time the clock skips or shows twice
            low, width = min(before, after), abs(after - before)
            target = low + timedelta(minutes=draw(st.integers(0, int(width.total_seconds() // 60) - 1)))
        else:
            target = before + timedelta(minutes=15 * draw(st.integers(-4 * 72, 4 * 72)))
    else:
        target = datetime(2016, 1, 1) + timedelta(minutes=15 * draw(st.integers(0, 4 * 24 * 365 * 10)))
    anchor = target - draw(st.integers(0, 4)) * shift
    participants = ("ana", "bo", "cy")[: draw(st.integers(2, 3))]
    rotation = Rotation("r", participants, zone, anchor.date(), anchor.time(), shift_days=shift_days, shift_hours=shift_hours, overlap_minutes=overlap_minutes)
    first = anchor.replace(tzinfo=tz, fold=0).astimezone(UTC)
    start = first + draw(st.integers(-2 * 24 * 60, 3 * 24 * 60)) * timedelta(minutes=1)
    end = max(start, first) + draw(st.integers(1, 6)) * shift + timedelta(minutes=draw(st.integers(1, 600)))
    return rotation, start, end


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wall_of(rotation: Rotation, number: int) -> datetime:
    return datetime.combine(rotation.anchor_date, rotation.handoff_time) + number * rotation.shift


@FAST
@given(cases())
def test_every_handoff_is_the_first_instant_the_local_clock_reads_the_handoff_time(case):
    rotation, start, end = case
    for s in shifts(rotation, start=start, end=end):
        wall, local = wall_of(rotation, s.number), _local(s.start_at, rotation.zone)
        exists = _local(wall.replace(tzinfo=ZoneInfo(rotation.zone)).astimezone(UTC), rotation.zone) == wall
        if exists:
            assert local == wall, "DST must not move a handoff's local time"
        else:  # skipped by spring forward: at the jump, the first instant past the wall time
            assert local > wall and _local(s.start_at - timedelta(seconds=1), rotation.zone) < wall
        for earlier in (timedelta(seconds=1), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=1, seconds=1), timedelta(hours=2)):
            assert _local(s.start_at - earlier, rotation.zone) < wall, "no earlier instant shows the handoff time (fold=0)"


@FAST
@given(cases(), st.lists(st.floats(0, 1), min_size=5, max_size=20))
def test_coverage_is_never_broken_after_the_first_handoff(case, fractions):
    rotation, start, end = case
    got = shifts(rotation, start=start, end=end)
    first = got[0].start_at if got[0].number == 0 else None  # the rotation starts inside the window
    covered = max(start, first) if first else start
    for s in got:
        assert s.start_at <= covered, "no hole between shifts"
        covered = max(covered, s.end_at)
    assert covered >= end
    schedule = Schedule(rotation, rotation)
    expected = [Gap(tier, start, first) for tier in ("primary", "backup")] if first and first > start else []
    assert coverage_gaps(schedule, start=start, end=end) == expected
    for f in fractions:
        at = start + (end - start) * f
        if at < end and (first is None or at >= first):
            assert on_call(rotation, [], at=at), f"nobody on call at {at}"


@FAST
@given(cases(), st.lists(st.floats(0, 1), min_size=5, max_size=20))
def test_two_people_are_on_call_exactly_during_the_overlap_after_each_handoff(case, fractions):
    rotation, start, end = case
    got = shifts(rotation, start=start, end=end)
    overlap = rotation.overlap
    handoffs = [s.start_at for s in got if s.number > 0]
    first = got[0].start_at if got[0].number == 0 else start
    for prev, nxt in zip(got, got[1:]):
        h = nxt.start_at
        assert on_call(rotation, [], at=h - timedelta(microseconds=1)) == [prev.person]
        if overlap:
            assert on_call(rotation, [], at=h) == [prev.person, nxt.person]
            assert on_call(rotation, [], at=h + overlap - timedelta(microseconds=1)) == [prev.person, nxt.person]
        assert on_call(rotation, [], at=h + overlap) == [nxt.person]
    for f in fractions:
        at = start + (end - start) * f
        if first <= at < end:
            in_overlap = any(h <= at < h + overlap for h in handoffs)
            assert len(on_call(rotation, [], at=at)) == (2 if in_overlap else 1)


@FAST
@given(cases())
def test_shift_boundaries_are_monotonic_and_contiguous(case):
    rotation, start, end = case
    got = shifts(rotation, start=start, end=end)
    assert got, "a window of a shift or more always holds a shift"
    assert [s.number for s in got] == list(range(got[0].number, got[0].number + len(got))), "no shift is lost"
    for s in got:
        assert s.start_at < s.end_at and s.start_at.tzinfo is UTC and s.end_at.tzinfo is UTC
    for a, b in zip(got, got[1:]):
        assert a.start_at < b.start_at and a.end_at < b.end_at
        assert a.end_at == b.start_at + rotation.overlap, "each shift ends exactly one overlap after the next handoff"


@st.composite
def overrides_around(draw, base: datetime):
    people = ["carol", "dan", ""]
    out = []
    for i in range(draw(st.integers(1, 5))):
        a = base + timedelta(minutes=draw(st.integers(0, 14 * 24 * 60)))
        b = a + timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))
        out.append(Override(draw(st.sampled_from(people)), a, b, base + timedelta(hours=draw(st.integers(0, 3)))))
    return out


@FAST
@given(overrides_around(utc(2026, 3, 2)), st.lists(st.integers(0, 18 * 24 * 60), min_size=5, max_size=30))
def test_the_last_created_override_covering_an_instant_decides_who_is_on_call(overrides, minutes):
    for m in minutes:
        at = utc(2026, 3, 2) + timedelta(minutes=m)
        covering = [(o.created_at, i, o) for i, o in enumerate(overrides) if o.start_at <= at < o.end_at]
        if covering:
            person = max(covering, key=lambda c: c[:2])[2].person
            expected = [person] if person else []
        else:
            expected = on_call(WEEKLY, [], at=at)
        assert on_call(WEEKLY, overrides, at=at) == expected
        effective = {s.person for s in effective_shifts(WEEKLY, overrides, start=utc(2026, 3, 1), end=utc(2026, 3, 25)) if s.start_at <= at < s.end_at}
        assert effective == set(expected)


def test_the_hypothesis_cases_reach_skipped_and_repeated_handoff_times():
    """Guards the strategy: both kinds of DST wall time must actually be generated."""
    seen = set()

    @settings(max_examples=100, deadline=None, database=None)
    @given(cases())
    def probe(case):
        rotation, start, end = case
        tz = ZoneInfo(rotation.zone)
        for s in shifts(rotation, start=start, end=end):
            wall = wall_of(rotation, s.number)
            at0 = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
            at1 = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
            if _local(at0, rotation.zone) != wall:
                seen.add("skipped")
            elif at0 != at1:
                seen.add("repeated")

    probe()
    assert seen == {"skipped", "repeated"}
