"""The On-call page's calendar (services/console/calendar.py): weeks from Monday in the schedule's
zone, days as the local clock sees them (23 and 25 hours when the clocks change), handoff overlaps,
gaps, who is on call now and next, and the override form's local times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.console.calendar import (
    Gap, InputError, Shift, calendar, day_start, display_zone, gaps_of, handoff_overlaps, local_instant, now_and_next,
    form_defaults, joined, override_request, shifts_of, wall_clock, window,
)

BERLIN = "Europe/Berlin"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def day_of(cal, when: date):
    return next(d for week in cal.weeks for d in week if d.date == when)


def weekly_berlin_around_spring_forward() -> list[Shift]:
    """Monday 09:00 Berlin handoffs with a 30-minute overlap: 08:00 UTC in winter, 07:00 UTC in summer."""
    return [
        Shift("primary", "ana", at("2026-03-16T08:00"), at("2026-03-23T08:30")),
        Shift("primary", "ben", at("2026-03-23T08:00"), at("2026-03-30T07:30")),
        Shift("primary", "cem", at("2026-03-30T07:00"), at("2026-04-06T07:30")),
        Shift("primary", "ana", at("2026-04-06T07:00"), at("2026-04-13T07:30")),
        Shift("primary", "ben", at("2026-04-13T07:00"), at("2026-04-20T07:30")),
    ]


@pytest.mark.parametrize(("now", "zone", "first_day", "start_at"), [
    ("2026-12-02T12:00", "UTC", date(2026, 11, 30), "2026-11-30T00:00"),
    ("2026-12-02T12:00", BERLIN, date(2026, 11, 30), "2026-11-29T23:00"),
    # Sunday evening in UTC is already Monday morning in Tokyo: Tokyo's week starts that Monday.
    ("2026-12-06T20:00", "Asia/Tokyo", date(2026, 12, 7), "2026-12-06T15:00"),
    ("2026-12-06T20:00", "UTC", date(2026, 11, 30), "2026-11-30T00:00"),
])
def test_the_calendar_starts_on_monday_of_the_week_holding_now_in_the_display_zone(now, zone, first_day, start_at):
    cal = calendar(shifts=[], gaps=[], zone=zone, now=at(now))
    assert cal.weeks[0][0].date == first_day and first_day.weekday() == 0
    assert cal.start_at == at(start_at)
    assert len(cal.weeks) == 4 and all(len(week) == 7 for week in cal.weeks)
    assert cal.weeks[-1][-1].date == first_day + timedelta(days=27)
    assert cal.end_at == window(at(now), zone)[1] == day_start(first_day + timedelta(days=28), ZoneInfo(zone))
    days = [d for week in cal.weeks for d in week]
    [today] = [n for n, d in enumerate(days) if d.today]
    assert [d.past for d in days] == [True] * today + [False] * (28 - today)


def test_a_dst_week_has_a_23_hour_sunday_and_the_handoff_stays_at_nine_on_the_wall_clock():
    cal = calendar(shifts=weekly_berlin_around_spring_forward(), gaps=[], zone=BERLIN, now=at("2026-03-25T12:00"))
    sunday = day_of(cal, date(2026, 3, 29))
    assert sunday.hours == 23 and sunday.clock_change == "clocks go forward: CET → CEST"
    [ben] = [e for e in sunday.entries if e.kind == "shift"]
    assert (ben.who, ben.starts, ben.ends, ben.from_before, ben.goes_on) == ("ben", "00:00 CET", "24:00", True, True)
    monday = day_of(cal, date(2026, 3, 30))
    assert monday.hours == 24 and monday.clock_change is None
    assert [(e.kind, e.who, e.starts, e.ends) for e in monday.entries] == [
        ("shift", "ben", "00:00", "09:30"), ("shift", "cem", "09:00", "24:00"), ("overlap", "ben → cem", "09:00", "09:30"),
    ]
    # The winter handoff a week earlier is at 09:00 on the wall clock too (08:00 UTC, not 07:00).
    earlier = day_of(cal, date(2026, 3, 23))
    assert ("overlap", "ana → ben", "09:00", "09:30") in [(e.kind, e.who, e.starts, e.ends) for e in earlier.entries]


def test_the_fall_back_day_has_25_hours():
    cal = calendar(shifts=[], gaps=[], zone=BERLIN, now=at("2026-10-21T12:00"))
    sunday = day_of(cal, date(2026, 10, 25))
    assert sunday.hours == 25 and sunday.clock_change == "clocks go back: CEST → CET"
    # Four weeks of wall clock are one real hour longer; the days add up to exactly the window.
    assert sum(d.hours for week in cal.weeks for d in week) == (cal.end_at - cal.start_at).total_seconds() / 3600 == 28 * 24 + 1


def test_a_midnight_the_clocks_skip_starts_the_day_at_the_jump():
    # Santiago skips 00:00-01:00 on 6 Sep 2026: the day begins at 01:00 local, 04:00 UTC, and has 23 hours.
    assert day_start(date(2026, 9, 6), ZoneInfo("America/Santiago")) == at("2026-09-06T04:00")
    cal = calendar(shifts=[], gaps=[], zone="America/Santiago", now=at("2026-09-03T12:00"))
    assert day_of(cal, date(2026, 9, 6)).hours == 23


def test_a_gap_is_on_every_day_it_touches_and_only_there():
    gaps = gaps_of([{"schedule": "ops", "tier": "backup", "start_at": "2026-12-03T18:00:00Z",
                     "end_at": "2026-12-05T06:00:00+00:00", "minutes": 2160}])
    cal = calendar(shifts=[], gaps=gaps, zone="UTC", now=at("2026-12-02T12:00"))
    flagged = [d.date.day for week in cal.weeks for d in week if d.has_gap]
    assert flagged == [3, 4, 5]
    thursday, friday, saturday = (day_of(cal, date(2026, 12, n)) for n in (3, 4, 5))
    assert [(e.tier, e.starts, e.ends, e.from_before, e.goes_on) for e in thursday.entries] == [("backup", "18:00", "24:00", False, True)]
    assert [(e.starts, e.ends) for e in friday.entries] == [("00:00", "24:00")]
    assert [(e.starts, e.ends, e.from_before, e.goes_on) for e in saturday.entries] == [("00:00", "06:00", True, False)]


def test_entries_of_a_day_list_the_primary_before_the_backup_in_order_of_time():
    shifts = [Shift("backup", "dee", at("2026-12-01T00:00"), at("2026-12-09T00:00")),
              Shift("primary", "ben", at("2026-12-02T09:00"), at("2026-12-09T09:30")),
              Shift("primary", "ana", at("2026-11-25T09:00"), at("2026-12-02T09:30"))]
    wednesday = day_of(calendar(shifts=shifts, gaps=[], zone="UTC", now=at("2026-12-02T12:00")), date(2026, 12, 2))
    assert [(e.tier, e.kind, e.who) for e in wednesday.entries] == [
        ("primary", "shift", "ana"), ("primary", "shift", "ben"), ("primary", "overlap", "ana → ben"),
        ("backup", "shift", "dee")]


def test_an_override_is_marked_and_is_not_a_handoff_overlap_with_the_shift_it_cuts():
    rows = [{"tier": "primary", "person": "ana", "start_at": "2026-12-01T09:00:00Z", "end_at": "2026-12-02T10:00:00Z", "number": 47},
            {"tier": "primary", "person": "zoe", "start_at": "2026-12-02T10:00:00Z", "end_at": "2026-12-02T14:00:00Z", "number": None},
            {"tier": "primary", "person": "ana", "start_at": "2026-12-02T14:00:00Z", "end_at": "2026-12-08T09:30:00Z", "number": 47}]
    shifts = shifts_of(rows)
    assert [s.override for s in shifts] == [False, True, False]
    assert handoff_overlaps(shifts) == []
    wednesday = day_of(calendar(shifts=shifts, gaps=[], zone="UTC", now=at("2026-12-02T12:00")), date(2026, 12, 2))
    assert [(e.who, e.override) for e in wednesday.entries] == [("ana", False), ("zoe", True), ("ana", False)]


def test_someone_who_follows_themselves_has_no_overlap_with_themselves():
    shifts = [Shift("primary", "solo", at("2026-11-30T09:00"), at("2026-12-07T09:30")),
              Shift("primary", "solo", at("2026-12-07T09:00"), at("2026-12-14T09:30"))]
    assert handoff_overlaps(shifts) == []
    assert now_and_next(shifts, at("2026-12-07T09:10"))[0].now == ("solo",)
    assert now_and_next(shifts, at("2026-12-07T09:10"))[0].next_person is None


def test_now_is_both_engineers_during_an_overlap_outgoing_first_and_next_is_the_following_handoff():
    shifts = weekly_berlin_around_spring_forward()
    primary, backup = now_and_next(shifts, at("2026-03-30T07:10"))
    assert (primary.now, primary.next_person, primary.next_at) == (("ben", "cem"), "ana", at("2026-04-06T07:00"))
    assert (backup.tier, backup.now, backup.next_person) == ("backup", (), None)
    primary, _ = now_and_next(shifts, at("2026-03-30T07:30"))  # half-open: the overlap is over at 07:30
    assert primary.now == ("cem",)


def test_in_a_gap_nobody_is_on_call_and_next_is_whoever_comes_first():
    shifts = [Shift("primary", "ana", at("2026-12-10T09:00"), at("2026-12-17T09:30"))]
    primary, _ = now_and_next(shifts, at("2026-12-02T12:00"))
    assert (primary.now, primary.next_person, primary.next_at) == ((), "ana", at("2026-12-10T09:00"))


@pytest.mark.parametrize(("schedule", "zone"), [
    ({"name": "ops", "primary": {"zone": "Europe/Berlin"}, "backup": {"zone": "UTC"}}, "Europe/Berlin"),
    ({"name": "ops", "primary": {}}, "UTC"),
    (None, "UTC"),
    ({"primary": {"zone": "Mars/Olympus"}}, "UTC"),
])
def test_the_display_zone_is_the_primary_rotations_else_utc(schedule, zone):
    assert display_zone(schedule) == zone


@pytest.mark.parametrize(("text", "zone", "expected"), [
    ("2026-07-01T14:00", BERLIN, "2026-07-01T12:00"),
    ("2026-01-15 14:00", BERLIN, "2026-01-15T13:00"),
    ("2026-10-25T02:30", BERLIN, "2026-10-25T00:30"),  # shown twice: the first occurrence (CEST)
    ("2026-03-08T03:00", "America/New_York", "2026-03-08T07:00"),
    ("2026-12-02T09:00", "UTC", "2026-12-02T09:00"),
])
def test_form_times_are_read_on_the_pages_wall_clock(text, zone, expected):
    assert local_instant(text, zone, field="from") == at(expected)


@pytest.mark.parametrize(("text", "zone", "message"), [
    ("2026-03-29T02:30", BERLIN, "does not exist in Europe/Berlin"),
    ("2026-03-08T02:30", "America/New_York", "does not exist"),
    ("", BERLIN, "required"),
    ("tomorrow", BERLIN, "is not a date and time"),
    ("2026-07-01T14:00+02:00", BERLIN, "without an offset"),
])
def test_form_times_that_cannot_be_used_are_refused_with_a_reason(text, zone, message):
    with pytest.raises(InputError, match=message):
        local_instant(text, zone, field="from")


def test_an_override_form_becomes_the_escalators_request_in_utc():
    body = override_request({"person": " zoe ", "tier": "backup", "start": "2026-12-03T09:00", "end": "2026-12-03T17:30"},
                            zone=BERLIN, now=at("2026-12-02T12:00"))
    assert body == {"tier": "backup", "person": "zoe", "start_at": "2026-12-03T08:00:00+00:00",
                    "end_at": "2026-12-03T16:30:00+00:00"}


@pytest.mark.parametrize(("form", "messages"), [
    ({"person": "", "start": "2026-12-03T09:00", "end": "2026-12-03T10:00"}, ["who: required"]),
    ({"person": "zoe", "start": "2026-12-03T10:00", "end": "2026-12-03T09:00"}, ["until: must be after from"]),
    ({"person": "zoe", "start": "2026-12-01T09:00", "end": "2026-12-01T10:00"}, ["until: already past"]),
    ({"person": "zoe", "tier": "tertiary", "start": "x", "end": ""}, ["tier: primary or backup", "from: 'x'", "until: required"]),
])
def test_an_override_form_with_problems_names_each_one(form, messages):
    with pytest.raises(InputError) as refused:
        override_request(form, zone="UTC", now=at("2026-12-02T12:00"))
    for message in messages:
        assert message in str(refused.value)


def test_instants_show_as_the_zones_clock_with_its_abbreviation():
    assert wall_clock("2026-03-30T07:00:00Z", BERLIN) == "Mon 30 Mar 09:00 CEST"
    assert wall_clock(at("2026-03-23T08:00"), BERLIN) == "Mon 23 Mar 09:00 CET"


def test_the_override_form_starts_at_the_next_full_hour_for_eight_hours_on_the_zones_clock():
    assert form_defaults(at("2026-12-02T12:20"), BERLIN) == {
        "start": "2026-12-02T14:00", "end": "2026-12-02T22:00", "tier": "primary", "person": ""}


def test_the_calendar_shows_someone_who_follows_themselves_as_one_stretch():
    shifts = [Shift("backup", "solo", at("2026-11-30T09:00"), at("2026-12-07T09:30")),
              Shift("backup", "solo", at("2026-12-07T09:00"), at("2026-12-14T09:30")),
              Shift("primary", "ana", at("2026-12-07T09:00"), at("2026-12-07T12:00")),
              Shift("primary", "ana", at("2026-12-07T14:00"), at("2026-12-08T09:30"))]
    assert joined(shifts) == [shifts[2], shifts[3], Shift("backup", "solo", at("2026-11-30T09:00"), at("2026-12-14T09:30"))]
    monday = day_of(calendar(shifts=shifts, gaps=[], zone="UTC", now=at("2026-12-02T12:00")), date(2026, 12, 7))
    assert [(e.tier, e.who, e.starts, e.ends) for e in monday.entries] == [
        ("primary", "ana", "09:00", "12:00"), ("primary", "ana", "14:00", "24:00"), ("backup", "solo", "00:00", "24:00")]
