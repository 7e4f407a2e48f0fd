"""Business hours, holidays and DST, as tables of hand-computed instants plus hypothesis properties
across real zone transitions. Every expected value is UTC; the comment says the local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.business_calendar import BusinessCalendar

BERLIN = BusinessCalendar(zone="Europe/Berlin", country="DE")
BAVARIA = BusinessCalendar(zone="Europe/Berlin", country="DE", subdivision="BY")
NEW_YORK = BusinessCalendar(zone="America/New_York", country="US")
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "calendar, raised_at, due_at",
    [
        # Friday 18:00 CET -> Monday 09:00 CET
        (BERLIN, utc(2026, 11, 27, 17), utc(2026, 11, 30, 8)),
        # Friday 18:00 CET before Easter Monday and the spring-forward (Sun 28 Mar) -> Tuesday 09:00 CEST
        (BERLIN, utc(2027, 3, 26, 17), utc(2027, 3, 30, 7)),
        # Friday 18:00 CET before the spring-forward weekend of 2026 (no holiday) -> Monday 09:00 CEST
        (BERLIN, utc(2026, 3, 27, 17), utc(2026, 3, 30, 7)),
        # Friday 18:00 CEST before the fall-back weekend -> Monday 09:00 CET
        (BERLIN, utc(2026, 10, 23, 16), utc(2026, 10, 26, 8)),
        # Thursday 24 Dec 18:00 -> Christmas Friday and the weekend are closed -> Monday 28 Dec 09:00
        (BERLIN, utc(2026, 12, 24, 17), utc(2026, 12, 28, 8)),
        # Tuesday 08:00, before opening -> the same day's opening
        (BERLIN, utc(2026, 11, 24, 7), utc(2026, 11, 24, 8)),
        # Tuesday 10:00, during hours -> Wednesday's opening
        (BERLIN, utc(2026, 11, 24, 9), utc(2026, 11, 25, 8)),
        # exactly at Tuesday's opening -> Wednesday's opening
        (BERLIN, utc(2026, 11, 24, 8), utc(2026, 11, 25, 8)),
        # Saturday afternoon -> Monday
        (BERLIN, utc(2026, 11, 28, 14), utc(2026, 11, 30, 8)),
        # Tuesday 5 Jan 18:00: Epiphany (Wed) is a holiday in Bavaria only
        (BAVARIA, utc(2027, 1, 5, 17), utc(2027, 1, 7, 8)),
        (BERLIN, utc(2027, 1, 5, 17), utc(2027, 1, 6, 8)),
        # Wednesday before Thanksgiving 18:00 EST -> Friday 09:00 EST
        (NEW_YORK, utc(2026, 11, 25, 23), utc(2026, 11, 27, 14)),
    ],
)
def test_low_work_is_due_at_the_next_business_day_opening(calendar, raised_at, due_at):
    assert calendar.due_next_business_day(raised_at) == due_at


def test_the_same_instant_written_in_another_offset_gives_the_same_due_time():
    friday_evening = datetime(2026, 11, 27, 22, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))  # 17:00 UTC
    due = BERLIN.due_next_business_day(friday_evening)
    assert due == utc(2026, 11, 30, 8)
    assert due.tzinfo is UTC


@pytest.mark.parametrize(
    "at, is_open",
    [
        (utc(2026, 11, 30, 7, 59, 59), False),  # Monday 08:59:59 CET
        (utc(2026, 11, 30, 8), True),  # Monday 09:00 CET: opening is inside
        (utc(2026, 11, 30, 15, 59), True),  # 16:59
        (utc(2026, 11, 30, 16), False),  # 17:00: closing is outside
        (utc(2026, 11, 28, 10), False),  # Saturday
        (utc(2027, 3, 29, 9), False),  # Easter Monday
        (utc(2027, 3, 30, 7), True),  # Tuesday 09:00 CEST
        (utc(2027, 3, 30, 6, 30), False),  # Tuesday 08:30 CEST (would be 09:30 in winter time)
    ],
)
def test_open_from_opening_until_closing_on_business_days(at, is_open):
    assert BERLIN.is_open(at) is is_open


@pytest.mark.parametrize(
    "zone, opens, closes, day, expected",
    [
        # 02:30 does not exist on 28 Mar 2027 in Berlin: the first instant after the gap, 03:00 CEST
        ("Europe/Berlin", time(2, 30), time(17), date(2027, 3, 28), (utc(2027, 3, 28, 1), utc(2027, 3, 28, 15))),
        ("Europe/Berlin", time(2, 30), time(17), date(2027, 3, 27), (utc(2027, 3, 27, 1, 30), utc(2027, 3, 27, 16))),
        ("Europe/Berlin", time(2, 30), time(17), date(2027, 3, 29), (utc(2027, 3, 29, 0, 30), utc(2027, 3, 29, 15))),
        # 02:30 happens twice on 25 Oct 2026: its first occurrence, 02:30 CEST
        ("Europe/Berlin", time(2, 30), time(17), date(2026, 10, 25), (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 16))),
        # both inside the gap: closed that day
        ("Europe/Berlin", time(2), time(2, 45), date(2027, 3, 28), None),
        # Havana springs forward at midnight: 00:00 does not exist, 01:00 CDT does
        ("America/Havana", time(0), time(8), date(2026, 3, 8), (utc(2026, 3, 8, 5), utc(2026, 3, 8, 12))),
        # Lord Howe moves by 30 minutes: 02:15 does not exist, the gap ends at 02:30 +11:00
        ("Australia/Lord_Howe", time(2, 15), time(9), date(2026, 10, 4), (utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 22))),
        # 09:00-17:00 Berlin in summer and in winter
        ("Europe/Berlin", time(9), time(17), date(2026, 7, 1), (utc(2026, 7, 1, 7), utc(2026, 7, 1, 15))),
        ("Europe/Berlin", time(9), time(17), date(2026, 1, 7), (utc(2026, 1, 7, 8), utc(2026, 1, 7, 16))),
    ],
)
def test_opening_hours_follow_the_wall_clock_across_dst(zone, opens, closes, day, expected):
    calendar = BusinessCalendar(zone=zone, weekdays=EVERY_DAY, opens=opens, closes=closes)
    assert calendar.opening_hours(day) == expected


def test_a_day_with_no_open_time_is_skipped_by_next_opening():
    calendar = BusinessCalendar(zone="Europe/Berlin", weekdays=EVERY_DAY, opens=time(2), closes=time(2, 45))
    assert calendar.next_opening(utc(2027, 3, 27, 23)) == utc(2027, 3, 29, 0)  # Monday 02:00 CEST


@pytest.mark.parametrize(
    "after, opening",
    [
        (utc(2026, 11, 30, 8), utc(2026, 11, 30, 8)),  # at an opening: that opening
        (utc(2026, 11, 30, 7), utc(2026, 11, 30, 8)),
        (utc(2026, 11, 30, 9), utc(2026, 12, 1, 8)),  # during hours: the next opening
        (utc(2027, 3, 26, 17), utc(2027, 3, 30, 7)),
    ],
)
def test_next_opening_is_the_first_opening_at_or_after_the_instant(after, opening):
    assert BERLIN.next_opening(after) == opening


@pytest.mark.parametrize(
    "start, duration, end",
    [
        (utc(2026, 11, 27, 15, 30), timedelta(hours=1), utc(2026, 11, 30, 8, 30)),  # Fri 16:30 + 1 h -> Mon 09:30
        (utc(2026, 11, 28, 12), timedelta(0), utc(2026, 11, 30, 8)),  # Saturday + 0 -> Monday's opening
        (utc(2026, 11, 30, 9), timedelta(0), utc(2026, 11, 30, 9)),  # open now + 0 -> now
        (utc(2026, 11, 30, 8), timedelta(hours=8), utc(2026, 11, 30, 16)),  # a whole day ends at its closing
        (utc(2026, 11, 30, 8, 1), timedelta(hours=8), utc(2026, 12, 1, 8, 1)),
        (utc(2027, 3, 25, 15), timedelta(hours=2), utc(2027, 3, 30, 8)),  # Thu 16:00 CET + 2 h -> Tue 10:00 CEST
        (utc(2027, 3, 26, 9), timedelta(hours=2), utc(2027, 3, 30, 9)),  # Good Friday is closed -> Tue 11:00 CEST
    ],
)
def test_add_business_time_counts_only_open_hours(start, duration, end):
    assert BERLIN.add_business_time(start, duration) == end


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"zone": "Mars/Olympus"}, "unknown time zone"),
        ({"zone": ""}, "unknown time zone"),
        ({"country": "XX"}, "no public holidays known for country 'XX'"),
        ({"country": "DE", "subdivision": "ZZ"}, "has no subdivision 'ZZ'"),
        ({"subdivision": "BY"}, "needs a country"),
        ({"opens": time(17), "closes": time(9)}, "must be before closes"),
        ({"opens": time(9), "closes": time(9)}, "must be before closes"),
        ({"weekdays": ()}, "weekdays"),
        ({"weekdays": (7,)}, "weekdays"),
        ({"opens": time(9, tzinfo=UTC)}, "without a UTC offset"),
    ],
)
def test_a_calendar_that_cannot_work_is_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        BERLIN.next_opening(datetime(2026, 11, 27, 18))


def test_holiday_names_are_available_for_timelines():
    assert BERLIN.holiday(date(2027, 3, 29)) == "Easter Monday"
    assert BERLIN.holiday(date(2027, 3, 30)) is None


# -- properties across real zone transitions ------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "America/Havana", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "UTC"]
minutes = st.integers(min_value=0, max_value=24 * 60 - 1).map(lambda m: time(m // 60, m % 60))


@st.composite
def calendars(draw, min_open: timedelta = timedelta(minutes=1)) -> BusinessCalendar:
    opens, closes = sorted(draw(st.lists(minutes, min_size=2, max_size=2, unique=True)))
    day = date(2000, 1, 1)
    assume(datetime.combine(day, closes) - datetime.combine(day, opens) >= min_open)
    weekdays = tuple(draw(st.sets(st.integers(0, 6), min_size=1)))
    country = draw(st.sampled_from([None, "DE"]))
    return BusinessCalendar(zone=draw(st.sampled_from(ZONES)), weekdays=weekdays, opens=opens, closes=closes, country=country)


# Instants in 2026-2028, biased towards the weeks around spring-forward and fall-back.
instants = st.one_of(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.builds(
        lambda month, day, seconds: datetime(2027, month, day, tzinfo=UTC) + timedelta(seconds=seconds),
        st.sampled_from([3, 4, 9, 10, 11]), st.integers(1, 28), st.integers(0, 86_399),
    ),
)


def opening_instants(calendar: BusinessCalendar, first: date, last: date) -> list[datetime]:
    days = ((first + timedelta(days=n)) for n in range((last - first).days + 1))
    return [h[0] for h in map(calendar.opening_hours, days) if h]


def check_next_opening(calendar: BusinessCalendar, after: datetime) -> None:
    opening = calendar.next_opening(after)
    assert opening >= after
    assert calendar.is_open(opening)
    assert not calendar.is_open(opening - timedelta(microseconds=1)), "an opening is where closed turns open"
    between = opening_instants(calendar, calendar.local_day(after) - timedelta(days=1), calendar.local_day(opening))
    assert not [o for o in between if after <= o < opening]
    # The wall-clock rule: the configured time, or the end of the gap that skipped it.
    tz = ZoneInfo(calendar.zone)
    local = opening.astimezone(tz)
    if local.time() != calendar.opens:
        before = (opening - timedelta(microseconds=1)).astimezone(tz)
        assert before.utcoffset() != local.utcoffset(), f"{local} is neither {calendar.opens} nor a DST transition"
        assert local.time() > calendar.opens


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), after=instants)
def test_next_opening_is_open_not_before_the_input_and_no_opening_lies_between(calendar, after):
    check_next_opening(calendar, after)


# Days on which clocks jump (spring forward: the gap; fall back: the repeated hour).
TRANSITIONS = [
    ("Europe/Berlin", date(2027, 3, 28)), ("Europe/Berlin", date(2026, 10, 25)),
    ("America/New_York", date(2027, 3, 14)), ("America/New_York", date(2026, 11, 1)),
    ("America/Havana", date(2026, 3, 8)), ("Australia/Lord_Howe", date(2026, 10, 4)),
    ("Australia/Lord_Howe", date(2027, 4, 4)), ("America/Santiago", date(2026, 9, 6)),
]


@settings(max_examples=300, deadline=None)
@given(
    transition=st.sampled_from(TRANSITIONS),
    opens=st.integers(0, 5 * 60).map(lambda m: time(m // 60, m % 60)),  # around the usual 00:00-03:00 jumps
    seconds=st.integers(-86_400, 2 * 86_400),
)
def test_next_opening_keeps_its_promises_on_the_days_the_clocks_jump(transition, opens, seconds):
    zone, day = transition
    calendar = BusinessCalendar(zone=zone, weekdays=EVERY_DAY, opens=opens, closes=time(12))
    check_next_opening(calendar, datetime.combine(day, time(0), tzinfo=UTC) + timedelta(seconds=seconds))


@settings(max_examples=200, deadline=None)
@given(
    calendar=calendars(min_open=timedelta(hours=1)), start=instants,
    first=st.integers(0, 3 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    second=st.integers(1, 3 * 24 * 60).map(lambda m: timedelta(minutes=m)),
)
def test_business_time_adds_up(calendar, start, first, second):
    end = calendar.add_business_time(start, first + second)
    assert end - start >= first + second  # open time is a part of the elapsed time
    assert end == calendar.add_business_time(calendar.add_business_time(start, first), second)


@settings(max_examples=200, deadline=None)
@given(calendar=calendars(), raised_at=instants)
def test_work_raised_is_due_strictly_later_at_an_opening(calendar, raised_at):
    due = calendar.due_next_business_day(raised_at)
    assert due > raised_at
    assert due == calendar.next_opening(raised_at + timedelta(microseconds=1))
