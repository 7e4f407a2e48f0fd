"""Capacity planning: least-squares weekly trend, the "scaling needed by" date, the capacity row and
what its alert says."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.slo.capacity import (
    CapacityForecast, capacity_alert, capacity_status, crossing_day, forecast, least_squares, trend_text,
)

NOW = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


def daily(start: date, values: list[float]) -> list[tuple[date, float]]:
    return [(start + timedelta(days=i), v) for i, v in enumerate(values)]


def test_memory_growing_two_percent_a_week_from_62_percent_needs_scaling_in_nine_weeks():
    # 28 days ending today, +2 %/week exactly: the fit is the line itself.
    points = daily(TODAY - timedelta(days=27), [0.62 - 0.02 / 7 * (27 - i) for i in range(28)])
    result = forecast(daily=points, current=0.62, threshold=0.8, lead=timedelta(days=14), now=NOW)
    assert result.per_week == pytest.approx(0.02)
    assert result.trend == "+2%/week"
    # (0.80 - 0.62) / (0.02 / 7) = 63 days from today
    assert result.scaling_needed_by == TODAY + timedelta(days=63)
    assert result.alert is False


def test_a_crossing_within_the_lead_time_alerts():
    points = daily(TODAY - timedelta(days=13), [0.70 + 0.01 * i for i in range(14)])  # +7 %/week, 0.83 today
    result = forecast(daily=points, current=0.79, threshold=0.8, lead=timedelta(days=14), now=NOW)
    assert result.alert is True
    assert result.scaling_needed_by <= TODAY + timedelta(days=14)


@pytest.mark.parametrize(
    ("values", "current", "expected_day", "trend"),
    [
        ([0.45] * 14, 0.45, None, "Stable"),                                   # flat: never
        ([0.60 - 0.01 * i for i in range(14)], 0.47, None, "-7%/week"),        # falling: never
        ([0.5 + 0.0005 * i for i in range(14)], 0.85, TODAY, "Stable"),         # already above the threshold
    ],
)
def test_flat_falling_and_already_crossed_trends(values, current, expected_day, trend):
    result = forecast(daily=daily(TODAY - timedelta(days=13), values), current=current, threshold=0.8,
                      lead=timedelta(days=14), now=NOW)
    assert result.scaling_needed_by == expected_day
    assert result.trend == trend
    assert result.alert is (expected_day is not None)


def test_least_squares_of_noisy_points_matches_the_hand_computed_fit():
    # x = 0,1,2,3; y = 1,3,2,4: dx = -1.5,-.5,.5,1.5, dy = -1.5,.5,-.5,1.5: slope = 4/5 = 0.8, intercept 2.5 - 0.8*1.5 = 1.3
    trend = least_squares(daily(date(2026, 4, 1), [1, 3, 2, 4]))
    assert trend.slope_per_day == pytest.approx(0.8)
    assert trend.intercept == pytest.approx(1.3)
    assert trend.value_on(date(2026, 4, 5)) == pytest.approx(1.3 + 0.8 * 4)


def test_one_day_of_data_gives_no_trend():
    assert least_squares(daily(TODAY, [0.5])) is None
    result = forecast(daily=daily(TODAY, [0.5]), current=0.5, threshold=0.8, lead=timedelta(days=14), now=NOW)
    assert (result.per_week, result.trend, result.scaling_needed_by) == (None, "Stable", None)


def test_the_crossing_day_never_lies_in_the_past():
    trend = least_squares(daily(TODAY - timedelta(days=30), [0.1, 0.2]))  # would have crossed long ago
    assert crossing_day(trend, threshold=0.8, today=TODAY, current=0.5) == TODAY


@pytest.mark.parametrize(("per_week", "text"), [(0.0, "Stable"), (0.004, "Stable"), (0.02, "+2%/week"), (-0.013, "-1%/week"), (0.006, "+0.6%/week")])
def test_trend_text_reads_like_the_dashboard(per_week, text):
    assert trend_text(per_week) == text


@pytest.mark.parametrize(
    ("f", "summary", "description"),
    [
        (CapacityForecast(0.79, 0.07, "+7%/week", 0.8, TODAY + timedelta(days=2), True),
         "checkout memory reaches 80% by 2026-04-30", "current 79.0%, trend +7%/week"),
        (CapacityForecast(0.91234, 0.003, "Stable", 0.855, TODAY, True),
         "checkout memory reaches 85.5% by 2026-04-28", "current 91.2%, trend Stable"),
        (CapacityForecast(0.6, None, "Stable", 0.6, TODAY, True),
         "checkout memory reaches 60% by 2026-04-28", "current 60.0%, trend Stable"),
    ],
)
def test_a_capacity_alert_names_the_threshold_the_day_and_the_current_trend(f, summary, description):
    wanted = capacity_alert(capacity_status(service="checkout", resource="memory", forecast=f, weeks=4, now=NOW))
    assert (wanted.service, wanted.subject, wanted.tier) == ("checkout", "memory", "capacity")
    assert (wanted.summary, wanted.description) == (summary, description)


def test_the_capacity_row_is_in_percent_rounded_to_a_thousandth():
    f = CapacityForecast(0.623456, 0.0123456, "+1%/week", 0.8, TODAY + timedelta(days=100), False)
    assert capacity_status(service="api", resource="cpu", forecast=f, weeks=4, now=NOW) == {
        "service": "api", "resource": "cpu", "current_percent": 62.346, "trend_percent_per_week": 1.235,
        "trend": "+1%/week", "threshold_percent": 80.0, "scaling_needed_by": TODAY + timedelta(days=100),
        "headroom_percent": 17.654, "alert": False, "weeks": 4, "evaluated_at": NOW,
    }
    no_trend = CapacityForecast(0.5, None, "Stable", 0.8, None, False)
    assert capacity_status(service="api", resource="cpu", forecast=no_trend, weeks=4, now=NOW)["trend_percent_per_week"] is None


def test_a_forecast_within_the_lead_time_becomes_this_alert():
    points = daily(TODAY - timedelta(days=13), [0.70 + 0.01 * i for i in range(14)])
    f = forecast(daily=points, current=0.79, threshold=0.8, lead=timedelta(days=14), now=NOW)
    wanted = capacity_alert(capacity_status(service="api", resource="cpu", forecast=f, weeks=4, now=NOW))
    assert (wanted.summary, wanted.description) == ("api cpu reaches 80% by 2026-04-28", "current 79.0%, trend +7%/week")
