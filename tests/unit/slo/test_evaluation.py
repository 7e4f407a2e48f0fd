"""One SLO evaluated from window counts, the alerts it raises, and its daily history and chart."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.slo.alerts import Firing, Wanted, alert_event, fingerprint, transitions
from services.slo.budget import Counts
from services.slo.chart import burn_down_svg
from services.slo.definitions import DEFAULT_DEFINITIONS
from services.slo.evaluation import LONG_WINDOWS, SHORT_WINDOWS, WindowCounts, current_text, evaluate_slo
from services.slo.history import daily_history, month_days

NOW = datetime(2026, 4, 15, 12, 0, 30, tzinfo=UTC)
AVAILABILITY, P50, P99, ERROR_RATE = DEFAULT_DEFINITIONS
M = timedelta(minutes=1)


def counts(bad_fraction: float, per_minute: int = 1000, *, month_total: int = 20_000_000, total_30d: int = 40_000_000) -> WindowCounts:
    burn = {}
    for w in (*SHORT_WINDOWS, *LONG_WINDOWS):
        total = int(per_minute * (w / M))
        burn[w] = Counts(good=total - round(total * bad_fraction), total=total, minutes=w / M)
    return WindowCounts(burn=burn, rolling_30d=Counts(good=total_30d - 10_000, total=total_30d),
                        month=Counts(good=month_total - 5_000, total=month_total))


def test_a_steady_two_percent_error_rate_fires_page_and_ticket_and_projects_exhaustion():
    result = evaluate_slo(service="api", definition=ERROR_RATE, counts=counts(0.02), now=NOW, zone="UTC", min_events=100)
    status = result.status
    assert result.tiers == {"page", "ticket"}
    assert [b["firing"] for b in status["burn_rates"]] == [True, True, True, True]
    assert status["burn_rates"][0]["long_burn"] == pytest.approx(20)
    # 10,000 bad of 40,000 allowed: 75 % left; at the 1-day burn of 20x: 0.75 * 30 d / 20 = 1 d 3 h
    assert status["budget"]["remaining_percent"] == pytest.approx(75)
    assert status["projected_exhaustion_at"] == NOW + timedelta(days=1, hours=3)
    assert (status["id"], status["target"], status["current"], status["met"]) == ("api:error-rate", "< 0.1%", "0.025%", True)
    # April has 30 days: the month's budget is 43.2 min; 5,000 of 20,000 allowed bad events spent
    assert status["calendar_month"]["total_minutes"] == pytest.approx(43.2)
    assert status["calendar_month"]["consumed_minutes"] == pytest.approx(10.8)


def test_a_healthy_service_fires_nothing_and_has_no_exhaustion_date():
    healthy = counts(0.0)
    result = evaluate_slo(service="api", definition=ERROR_RATE, counts=healthy, now=NOW, zone="UTC", min_events=100)
    assert result.tiers == set() and result.status["projected_exhaustion_at"] is None


def test_no_traffic_means_no_current_value_and_no_verdict():
    empty = WindowCounts(burn={}, rolling_30d=Counts(), month=Counts())
    status = evaluate_slo(service="idle", definition=AVAILABILITY, counts=empty, now=NOW, zone="UTC", min_events=100).status
    assert (status["current"], status["met"], status["firing"]) == (None, None, [])
    assert status["budget"]["remaining_minutes"] == pytest.approx(43.2)


@pytest.mark.parametrize(
    ("definition", "sli", "quantile_s", "text"),
    [
        (AVAILABILITY, 0.9995, None, "99.95%"),
        (ERROR_RATE, 0.9995, None, "0.05%"),
        (P50, 0.8, 0.085, "85ms"),
        (P99, 0.995, 0.32, "320ms"),
        (P99, 0.995, None, None),
    ],
)
def test_the_current_column_reads_like_the_operations_dashboard(definition, sli, quantile_s, text):
    assert current_text(definition, sli, quantile_s)[0] == text


def test_alert_fingerprints_are_stable_per_slo_and_tier():
    a = fingerprint(service="api", subject="availability", tier="page")
    assert a == fingerprint(service="api", subject="availability", tier="page")
    assert len({a, fingerprint(service="api", subject="availability", tier="ticket"),
                fingerprint(service="web", subject="availability", tier="page")}) == 3


def test_transitions_fire_new_alerts_resolve_stopped_ones_and_leave_continuing_ones():
    started = NOW - timedelta(minutes=10)
    keep = Wanted("api", "error-rate", "page", "s", "d")
    new = Wanted("api", "error-rate", "ticket", "s", "d")
    stopped = Firing(fingerprint(service="web", subject="availability", tier="page"), "web", "availability", "page", started)
    still = Firing(keep.fingerprint, "api", "error-rate", "page", started)
    changes = transitions(wanted=[keep, new], firing=[still, stopped], now=NOW)
    assert [(c.service, c.tier, c.status) for c in changes] == [("api", "ticket", "firing"), ("web", "page", "resolved")]
    fired, resolved = changes[0].event, changes[1].event
    assert fired.labels == {"alertname": "SLOBurnRateTicket", "service": "api", "slo": "error-rate", "tier": "ticket",
                            "severity": "warning", "source": "slo"}
    assert (fired.starts_at, fired.ends_at) == (NOW, None)
    assert (resolved.starts_at, resolved.ends_at, resolved.status) == (started, NOW, "resolved")


def test_the_same_alert_state_always_gets_the_same_event_id():
    a = alert_event(service="api", subject="x", tier="page", status="firing", starts_at=NOW, ends_at=None, now=NOW)
    b = alert_event(service="api", subject="x", tier="page", status="firing", starts_at=NOW, ends_at=None, now=NOW + M)
    assert a.event_id == b.event_id and a.source == "slo"


def hour_rows(start: datetime, hours: int, requests: int, errors: int) -> list[dict]:
    return [{"hour": start + timedelta(hours=h), "requests": requests, "errors": errors, "latency": {}} for h in range(hours)]


def test_daily_history_restarts_the_budget_with_the_month():
    start = datetime(2026, 3, 30, tzinfo=UTC)
    rows = hour_rows(start, 24 * 3, 1000, 1)  # 0.1 % errors: exactly the budget
    days = daily_history(definition=ERROR_RATE, hours=rows, bad_minutes_by_hour={}, start=start,
                         now=datetime(2026, 4, 1, 23, 59, tzinfo=UTC), zone="UTC")
    assert [d["day"] for d in days] == [date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1)]
    assert [d["total_events"] for d in days] == [24_000] * 3
    assert [d["budget_remaining_percent"] for d in days] == [pytest.approx(0)] * 3


def test_time_slice_history_counts_bad_minutes_per_local_day():
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # midnight in Berlin
    bad = {start + timedelta(hours=1): 2, start + timedelta(hours=30): 5}
    days = daily_history(definition=AVAILABILITY, hours=hour_rows(start, 48, 100, 0), bad_minutes_by_hour=bad, start=start,
                         now=datetime(2026, 3, 30, 22, tzinfo=UTC), zone="Europe/Berlin")
    assert [(d["day"], d["bad_minutes"]) for d in days] == [(date(2026, 3, 29), 2), (date(2026, 3, 30), 5)]
    # March in Berlin: 743 h x 60 x 0.001 = 44.58 min; 7 spent by the end of the 30th
    assert days[-1]["budget_consumed_minutes"] == 7
    assert days[-1]["budget_remaining_percent"] == pytest.approx((44.58 - 7) / 44.58 * 100)
    assert month_days(datetime(2026, 3, 30, tzinfo=UTC), "Europe/Berlin") == 31


def test_the_burn_down_chart_is_an_svg_with_the_remaining_budget_line():
    svg = burn_down_svg(title="Availability <api>", days=[(date(2026, 4, 1), 100.0), (date(2026, 4, 2), 80.0)], ideal_days=30)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<polyline" in svg and "80.0% left" in svg and "&lt;api&gt;" in svg
    assert "no data yet" in burn_down_svg(title="x", days=[], ideal_days=30)
