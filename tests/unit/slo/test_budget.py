"""Error budgets, burn rates and the multi-window multi-burn-rate rules, with hand-computed values."""

from datetime import UTC, datetime, timedelta

import pytest

from services.slo.budget import (
    BURN_RULES, BurnRule, Counts, burn_rate, error_budget, evaluate_rules, firing_tiers, projected_exhaustion, sli_value,
)
from services.slo.windows import calendar_month, rolling

NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
M, H = timedelta(minutes=1), timedelta(hours=1)


def test_the_sloth_burn_rate_factors_follow_from_budget_fraction_and_windows():
    assert [round(r.factor(), 6) for r in BURN_RULES] == [14.4, 6.0, 3.0, 1.0]
    assert [r.tier for r in BURN_RULES] == ["page", "page", "ticket", "ticket"]
    assert [(r.long_window, r.short_window) for r in BURN_RULES] == [
        (1 * H, 5 * M), (6 * H, 30 * M), (24 * H, 2 * H), (72 * H, 6 * H),
    ]


@pytest.mark.parametrize(
    ("counts", "budgeting", "expected"),
    [
        (Counts(good=980, total=1000), "occurrences", 20.0),      # 2 % errors / 0.1 % allowed
        (Counts(good=999, total=1000), "occurrences", 1.0),       # exactly on budget
        (Counts(good=0, total=0), "occurrences", 0.0),            # no traffic burns nothing
        (Counts(bad_minutes=3, minutes=60), "timeslices", 50.0),  # 5 % of minutes bad
        (Counts(bad_minutes=0, minutes=0), "timeslices", 0.0),
    ],
)
def test_burn_rate_is_the_bad_fraction_over_the_allowed_fraction(counts, budgeting, expected):
    assert burn_rate(target=0.999, counts=counts, budgeting=budgeting) == pytest.approx(expected)


def test_an_occurrence_budget_of_a_million_requests_allows_a_thousand_bad_ones():
    budget = error_budget(target=0.999, counts=Counts(good=999_750, total=1_000_000), window=rolling(NOW), budgeting="occurrences")
    assert budget.allowed_bad_events == pytest.approx(1000)
    assert budget.bad_events == 250
    assert budget.remaining_fraction == pytest.approx(0.75)
    assert budget.total_minutes == pytest.approx(43.2)
    assert budget.consumed_minutes == pytest.approx(10.8)
    assert budget.remaining_minutes == pytest.approx(32.4)


def test_a_time_slice_budget_is_spent_by_bad_minutes():
    budget = error_budget(target=0.999, counts=Counts(bad_minutes=13), window=rolling(NOW), budgeting="timeslices")
    assert budget.total_minutes == pytest.approx(43.2)
    assert budget.consumed_minutes == 13
    assert budget.remaining_minutes == pytest.approx(30.2)
    assert budget.remaining_fraction == pytest.approx(30.2 / 43.2)
    assert budget.allowed_bad_events is None


def test_the_calendar_month_budget_of_february_is_smaller_than_januarys():
    feb = error_budget(target=0.999, counts=Counts(bad_minutes=20), window=calendar_month(datetime(2026, 2, 5, tzinfo=UTC)), budgeting="timeslices")
    assert feb.total_minutes == pytest.approx(40.32)
    assert feb.remaining_minutes == pytest.approx(20.32)


def test_an_overspent_budget_goes_negative():
    budget = error_budget(target=0.999, counts=Counts(good=997, total=1000), window=rolling(NOW), budgeting="occurrences")
    assert budget.remaining_fraction == pytest.approx(-2.0)


def windows_for(rates: dict[timedelta, tuple[int, int]]) -> dict[timedelta, Counts]:
    return {w: Counts(good=total - bad, total=total, minutes=w / M) for w, (bad, total) in rates.items()}


@pytest.mark.parametrize(
    ("name", "windows", "expected_tiers"),
    [
        ("a 2 % burst over the last hour pages",
         {H: (150, 10_000), 5 * M: (50, 1_000), 6 * H: (150, 60_000), 30 * M: (150, 5_000),
          24 * H: (150, 240_000), 2 * H: (150, 20_000), 72 * H: (150, 720_000)}, {"page"}),
        ("a burst that stopped ten minutes ago does not page (short window clean)",
         {H: (150, 10_000), 5 * M: (0, 1_000), 6 * H: (150, 60_000), 30 * M: (100, 5_000)}, set()),
        ("a slow day-long burn opens a ticket, not a page",
         {H: (4, 1_000), 5 * M: (0, 100), 6 * H: (24, 6_000), 30 * M: (2, 500), 24 * H: (96, 24_000), 2 * H: (8, 2_000),
          72 * H: (100, 72_000), 6 * H + M: (0, 0)}, {"ticket"}),
        ("no traffic, no alert", {}, set()),
    ],
)
def test_multi_window_rules(name, windows, expected_tiers):
    results = evaluate_rules(target=0.999, budgeting="occurrences", windows=windows_for(windows), min_events=100)
    assert {r.rule.tier for r in results if r.fires} == expected_tiers, name


def test_the_low_traffic_guard_stops_a_burn_alert_below_the_event_count():
    windows = windows_for({H: (10, 50), 5 * M: (5, 10), 6 * H: (10, 50), 30 * M: (10, 30)})
    results = evaluate_rules(target=0.999, budgeting="occurrences", windows=windows, min_events=100)
    assert not any(r.fires for r in results)
    assert [r.guarded for r in results[:2]] == [True, True]
    unguarded = evaluate_rules(target=0.999, budgeting="occurrences", windows=windows, min_events=0)
    assert unguarded[0].fires


def test_an_exhausted_budget_fires_its_own_tier_unless_traffic_is_too_low():
    spent = error_budget(target=0.999, counts=Counts(good=900, total=1000), window=rolling(NOW), budgeting="occurrences")
    assert firing_tiers([], budget=spent, budget_events=1000, min_events=100) == {"exhausted"}
    assert firing_tiers([], budget=spent, budget_events=10, min_events=100) == set()


def test_projected_exhaustion_at_twice_the_even_burn_takes_half_the_remaining_period():
    budget = error_budget(target=0.999, counts=Counts(good=999_750, total=1_000_000), window=rolling(NOW), budgeting="occurrences")
    assert projected_exhaustion(budget=budget, burn=2.0, now=NOW) == NOW + timedelta(days=11, hours=6)
    assert projected_exhaustion(budget=budget, burn=0.0, now=NOW) is None
    spent = error_budget(target=0.999, counts=Counts(good=0, total=10), window=rolling(NOW), budgeting="occurrences")
    assert projected_exhaustion(budget=spent, burn=5.0, now=NOW) == NOW


def test_the_sli_is_the_good_fraction_or_none_without_traffic():
    assert sli_value(Counts(good=9995, total=10000)) == pytest.approx(0.9995)
    assert sli_value(Counts()) is None


def test_a_custom_rule_uses_the_same_formula():
    assert BurnRule("page", 2 * H, 10 * M, 0.04).factor() == pytest.approx(14.4)
