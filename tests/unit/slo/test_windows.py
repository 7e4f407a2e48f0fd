"""Windows and time-slice budgets: calendar months of 28-31 days and DST months, hand-computed."""

from datetime import UTC, datetime, timedelta

import pytest

from services.slo.windows import calendar_month, floor_hour, floor_minute, local_days, rolling, timeslice_budget_minutes


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_999_availability_slo_has_43_point_2_minutes_in_30_days():
    window = rolling(utc(2026, 4, 15, 12, 0))
    assert window.start == utc(2026, 3, 16, 12, 0)
    assert window.minutes == 43_200
    assert timeslice_budget_minutes(0.999, window) == pytest.approx(43.2)


@pytest.mark.parametrize(
    ("now", "zone", "start", "end", "minutes", "budget"),
    [
        # February 2026: 28 days = 40,320 minutes
        (utc(2026, 2, 10), "UTC", utc(2026, 2, 1), utc(2026, 3, 1), 40_320, 40.32),
        # February 2028 (leap year): 29 days
        (utc(2028, 2, 29, 23, 59), "UTC", utc(2028, 2, 1), utc(2028, 3, 1), 41_760, 41.76),
        # April: 30 days, the operations process's 43.2 minutes
        (utc(2026, 4, 30, 23, 0), "UTC", utc(2026, 4, 1), utc(2026, 5, 1), 43_200, 43.2),
        # January: 31 days
        (utc(2026, 1, 1), "UTC", utc(2026, 1, 1), utc(2026, 2, 1), 44_640, 44.64),
        # March 2026 in Berlin loses an hour on the 29th: 743 h; it starts at 23:00 UTC the day before
        (utc(2026, 3, 15), "Europe/Berlin", utc(2026, 2, 28, 23), utc(2026, 3, 31, 22), 44_580, 44.58),
        # October 2026 in Berlin gains one on the 25th: 745 h
        (utc(2026, 10, 15), "Europe/Berlin", utc(2026, 9, 30, 22), utc(2026, 10, 31, 23), 44_700, 44.7),
        # New York's March 2026 (DST from the 8th): 743 h, from 05:00 UTC
        (utc(2026, 3, 20), "America/New_York", utc(2026, 3, 1, 5), utc(2026, 4, 1, 4), 44_580, 44.58),
        # 00:30 UTC on 1 March is still February in New York
        (utc(2026, 3, 1, 0, 30), "America/New_York", utc(2026, 2, 1, 5), utc(2026, 3, 1, 5), 40_320, 40.32),
    ],
)
def test_the_calendar_month_follows_its_zone(now, zone, start, end, minutes, budget):
    window = calendar_month(now, zone)
    assert (window.start, window.end) == (start, end)
    assert window.minutes == minutes
    assert timeslice_budget_minutes(0.999, window) == pytest.approx(budget)
    assert window.elapsed_end == now


def test_elapsed_minutes_of_the_month_count_only_up_to_now():
    window = calendar_month(utc(2026, 4, 2, 6, 30))
    assert window.elapsed_minutes == 24 * 60 + 6 * 60 + 30


def test_floors_drop_seconds_and_minutes_and_convert_to_utc():
    at = datetime(2026, 3, 29, 3, 17, 42, 5, tzinfo=UTC) + timedelta(0)
    assert floor_minute(at) == utc(2026, 3, 29, 3, 17)
    assert floor_hour(at) == utc(2026, 3, 29, 3)


def test_local_days_around_the_spring_change_are_23_hours_long():
    days = local_days(utc(2026, 3, 27, 23), utc(2026, 3, 30, 22), "Europe/Berlin")
    assert [(e - s) / timedelta(hours=1) for s, e in days] == [24, 23, 24]  # 28th, 29th (clocks go forward), 30th
    assert days[0][0] == utc(2026, 3, 27, 23)
