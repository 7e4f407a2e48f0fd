"""What the SLO pages show, from the SLO service's answers: states worst first, budgets in minutes,
burn-rate rules against their thresholds, capacity crossings, and which SVGs are only pictures."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.console.slo_view import (
    UnsafeSvg, budget_meaning, burn_down_alt, burn_text, capacity_soonest_first, check_svg, count_states, crossing_text,
    minutes_text, percent_text, push_example, remaining_text, rule_state, state_of, waiting_definitions, worst_first,
)
from services.slo.chart import burn_down_svg


def rule(tier="page", long_burn=0.0, short_burn=0.0, threshold=14.4, firing=False, guarded=False) -> dict:
    return {"tier": tier, "long_window": "1h", "short_window": "5m", "threshold": threshold, "long_burn": long_burn,
            "short_burn": short_burn, "long_window_events": 1000, "firing": firing, "low_traffic_guarded": guarded}


def slo(name="api:error-rate", *, events=1000, remaining=80.0, firing=(), rules=()) -> dict:
    service, slo_name = name.split(":")
    return {"id": name, "service": service, "slo": slo_name, "firing": list(firing), "burn_rates": list(rules),
            "budget": {"total_events": events, "remaining_percent": remaining}}


@pytest.mark.parametrize(("case", "expected"), [
    (slo(events=0, remaining=100), "no_data"),
    (slo(), "ok"),
    (slo(remaining=0.0), "exhausted"),
    (slo(remaining=-12.5), "exhausted"),
    (slo(remaining=40, firing=["exhausted"]), "exhausted"),
    (slo(remaining=40, firing=["page"]), "burning"),
    (slo(remaining=40, firing=["ticket"]), "burning"),
    (slo(remaining=40, rules=[rule(long_burn=20, short_burn=30, guarded=True)]), "burning"),
    (slo(remaining=40, rules=[rule(long_burn=20, short_burn=1)]), "ok"),
])
def test_an_slo_is_ok_burning_exhausted_or_without_data(case, expected):
    assert state_of(case) == expected


def test_the_list_puts_exhausted_then_burning_then_no_data_then_ok_and_least_budget_first():
    slos = [slo("a:ok", remaining=90), slo("b:none", events=0, remaining=100), slo("c:burn", remaining=70, firing=["ticket"]),
            slo("d:ok", remaining=30), slo("e:gone", remaining=-5), slo("f:burn", remaining=20, firing=["page"])]
    assert [s["id"] for s in worst_first(slos)] == ["e:gone", "f:burn", "c:burn", "b:none", "d:ok", "a:ok"]
    assert count_states(slos) == {"ok": 2, "no_data": 1, "burning": 2, "exhausted": 1}


@pytest.mark.parametrize(("r", "expected"), [
    (rule(long_burn=15, short_burn=20, firing=True), "firing"),
    (rule(long_burn=15, short_burn=20, guarded=True), "guarded"),
    (rule(long_burn=15, short_burn=2), "over"),
    (rule(long_burn=2, short_burn=15), "over"),
    (rule(long_burn=14.39, short_burn=14.39), "under"),
])
def test_a_burn_rate_rule_fires_only_when_both_windows_reach_the_threshold(r, expected):
    assert rule_state(r) == expected


@pytest.mark.parametrize(("minutes", "text"), [
    (43.2, "43.2 min"), (0, "0 min"), (12.04, "12 min"), (59.94, "59.9 min"), (59.96, "1 h"), (432, "7 h 12 min"),
    (120, "2 h"), (1440, "1 d"), (3060, "2 d 3 h"), (-3.5, "−3.5 min"), (-90, "−1 h 30 min"), (None, "—"),
])
def test_budgets_read_in_minutes_hours_and_days(minutes, text):
    assert minutes_text(minutes) == text


@pytest.mark.parametrize(("minutes", "text"), [(13.2, "13.2 min left"), (0, "0 min left"), (-821, "overspent by 13 h 41 min")])
def test_what_is_left_of_a_budget_says_when_it_is_overspent(minutes, text):
    assert remaining_text(minutes) == text


@pytest.mark.parametrize(("value", "text"), [(50, "50.0 %"), (100, "100 %"), (99.96, "100 %"), (-12.5, "−12.5 %"), (None, "—")])
def test_percentages_have_one_decimal(value, text):
    assert percent_text(value) == text


@pytest.mark.parametrize(("rate", "text"), [(0, "0×"), (0.25, "0.25×"), (1, "1×"), (14.4, "14.4×"), (6, "6×"), (120.4, "120×"), (None, "—")])
def test_burn_rates_read_as_factors(rate, text):
    assert burn_text(rate) == text


def test_a_budget_says_what_the_objective_allows():
    assert budget_meaning("99.9%", {"window": "rolling_30d", "total_minutes": 43.2}) == \
        "99.9% over the rolling 30 days allows 43.2 min of errors"


@pytest.mark.parametrize(("when", "text"), [
    (None, "not at this trend"), ("2026-12-20", "in 14 days (2026-12-20)"), (date(2026, 12, 7), "in 1 day (2026-12-07)"),
    ("2026-12-06", "already crossed (2026-12-06)"), ("2026-11-01", "already crossed (2026-11-01)"),
])
def test_capacity_says_when_the_threshold_is_crossed(when, text):
    assert crossing_text(when, date(2026, 12, 6)) == text


def test_capacity_lists_alerting_resources_first_then_the_soonest_crossing():
    items = [{"resource": "cpu", "alert": False, "scaling_needed_by": None, "headroom_percent": 50},
             {"resource": "disk", "alert": False, "scaling_needed_by": "2027-03-01", "headroom_percent": 30},
             {"resource": "memory", "alert": True, "scaling_needed_by": "2026-12-10", "headroom_percent": 5}]
    assert [c["resource"] for c in capacity_soonest_first(items)] == ["memory", "disk", "cpu"]


def test_named_slos_without_an_evaluated_row_are_waiting_for_metrics():
    definitions = [{"service": "*", "name": "error-rate"}, {"service": "billing", "name": "availability"},
                   {"service": "api", "name": "availability"}]
    assert waiting_definitions(definitions, [slo("api:availability")]) == [{"service": "billing", "name": "availability"}]


def test_the_push_example_posts_one_minute_of_the_service_to_the_slo_url():
    line = push_example(slo_url="http://slo:8083/", service="checkout", now=datetime(2026, 12, 6, 3, 4, 55, tzinfo=UTC))
    assert line.startswith("curl -X POST http://slo:8083/api/v1/metrics ")
    assert '"service": "checkout"' in line and '"interval_start": "2026-12-06T03:04:00Z"' in line


def test_the_chart_alt_text_says_what_is_left_against_an_even_burn():
    detail = {"title": "Availability", "service": "api",
              "calendar_month": {"start": "2026-12-01T00:00:00+00:00", "end": "2027-01-01T00:00:00+00:00"}}
    alt = burn_down_alt(detail, [{"day": "2026-12-16", "budget_remaining_percent": 25.0}], datetime(2026, 12, 16, 12, tzinfo=UTC))
    assert alt == ("Error-budget burn-down of Availability for api, December 2026: 25.0 % of the month's budget left on "
                   "2026-12-16; an even burn would leave 50.0 %.")
    assert burn_down_alt(detail, [], datetime(2026, 12, 16, tzinfo=UTC)).endswith("no data yet this month.")


def test_the_slo_services_own_chart_is_a_picture():
    check_svg(burn_down_svg(title="A <b> & c", days=[(date(2026, 12, 1), 99.0), (date(2026, 12, 2), -30.0)], ideal_days=31).encode())
    check_svg(burn_down_svg(title="empty", days=[], ideal_days=30).encode())


SVG = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">{}</svg>'


@pytest.mark.parametrize("svg", [
    SVG.format("<script>alert(1)</script>"),
    SVG.format('<rect onload="alert(1)"/>'),
    SVG.format('<a href="https://evil.example/"><text>x</text></a>'),
    SVG.format('<image xlink:href="https://evil.example/x.png"/>'),
    SVG.format('<rect fill="url(https://evil.example/x)"/>'),
    SVG.format('<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>'),
    '<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg"><text>&a;</text></svg>',
    "<html><body>not an svg</body></html>",
    "not xml <",
])
def test_an_svg_that_could_run_load_or_expand_anything_is_refused(svg):
    with pytest.raises(UnsafeSvg):
        check_svg(svg.encode())
