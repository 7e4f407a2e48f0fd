"""The daily check's automated part is honest: it passes what data shows is fine, fails what is not,
and says "no data" or "not checked" — never "pass" — where it had nothing to look at."""

from __future__ import annotations

from datetime import date, timedelta

from services.incidents.ops.daily_check import Overnight, daily_check, overnight_since
from services.incidents.ops.reports import PeerResult, runbook_rows
from tests.unit.incidents.test_ops_reports import NOW, incident, utc

SLOS = PeerResult("ok", {"items": [
    {"id": "api:availability", "service": "api", "title": "Availability", "target": "99.9%", "current": "99.95%", "met": True, "firing": [], "budget": {"remaining_percent": 71.0}},
    {"id": "api:latency-p99", "service": "api", "title": "Latency (p99)", "target": "< 500ms", "current": "620ms", "met": False, "firing": ["ticket"], "budget": {"remaining_percent": -3.0}},
]})
QUIET_NIGHT = Overnight(since=NOW - timedelta(hours=24), alerts=[], alerts_ever=True)
CAPACITY = PeerResult("ok", {"items": [
    {"service": "db", "resource": "storage", "current_percent": 58.0, "threshold_percent": 80.0, "alert": False, "scaling_needed_by": None},
]})


def statuses(result: dict) -> dict[str, str]:
    return {c["key"]: c["status"] for c in result["checks"]}


def check(**given) -> dict:
    inputs = {"health": {"incidents": PeerResult("ok")}, "open_incidents": [], "slo": PeerResult("not_configured"),
              "capacity": PeerResult("not_configured"), "gaps": PeerResult("not_configured"), "runbooks": [],
              "overnight": QUIET_NIGHT, "tickets": [], "overdue_items": [], "now": NOW}
    return daily_check(**{**inputs, **given})


def test_the_daily_check_passes_what_is_fine_fails_what_is_not_and_lists_anomalies():
    result = check(
        health={"incidents": PeerResult("ok"), "slo": PeerResult("ok"), "escalator": PeerResult("unreachable", error="connection refused"),
                "ingest": PeerResult("not_configured")},
        open_incidents=[incident(9, 1, utc(2026, 12, 1, 7)), incident(10, 3, utc(2026, 12, 1, 8))],
        slo=SLOS, capacity=CAPACITY,
        gaps=PeerResult("unreachable", error="connection refused"),
        runbooks=runbook_rows([{"name": "dns", "last_updated_on": None}], today=date(2026, 12, 1), max_age_days=180),
        overnight=Overnight(since=NOW - timedelta(hours=16), alerts=[
            {"incident_id": 9, "status": "investigating", "acknowledged": False},
            {"incident_id": 10, "status": "investigating", "acknowledged": True}], alerts_ever=True),
        tickets=[{"incident_id": 10, "text": "ticket t1 due …"}], overdue_items=[{"id": 4, "title": "alert on disk"}],
    )
    assert statuses(result) == {
        "services_healthy": "fail", "no_critical_incidents": "fail", "error_rates_nominal": "pass",
        "latency_within_slo": "fail", "overnight_alerts": "fail", "pending_tickets": "fail", "error_budgets": "fail",
        "resource_utilization": "pass", "oncall_coverage": "unknown", "runbooks_current": "fail",
    }
    detail = {c["key"]: c["detail"] for c in result["checks"]}
    assert detail["overnight_alerts"].endswith("not acknowledged: INC-9")
    assert detail["pending_tickets"] == "1 tickets on open incidents (INC-10); 1 action items overdue (#4)"
    assert detail["error_budgets"] == "api:latency-p99 -3%, api:availability 71%"
    assert [a["observation"] for a in result["anomalies"]] == [
        "escalator not ready (unreachable: connection refused)",
        "INC-9 (SEV1) is investigating",
        "SLO api:latency-p99: 620ms against < 500ms, firing ticket",
        "escalator unreachable: connection refused",
        "runbook dns outdated: never updated",
    ]
    assert result["passed"] is False


def test_a_fresh_install_passes_nothing_it_could_not_look_at_and_names_it():
    no_url = PeerResult("not_configured")
    result = check(health={"incidents": PeerResult("ok"), "ingest": no_url, "escalator": no_url, "slo": no_url},
                   overnight=Overnight(since=NOW - timedelta(hours=24), alerts=[], alerts_ever=False))
    assert statuses(result) == {
        "services_healthy": "warn", "no_critical_incidents": "pass", "error_rates_nominal": "not_checked",
        "latency_within_slo": "not_checked", "overnight_alerts": "no_data", "pending_tickets": "pass",
        "error_budgets": "not_checked", "resource_utilization": "not_checked", "oncall_coverage": "not_checked",
        "runbooks_current": "no_data",
    }
    detail = {c["key"]: c["detail"] for c in result["checks"]}
    assert detail["runbooks_current"] == "no runbook is recorded"  # was "pass: 0 current"
    assert detail["error_rates_nominal"] == "the SLO service is not configured (VIGIL_INCIDENTS_SLO_URL)"
    assert "no alert has ever reached Vigil" in detail["overnight_alerts"]
    assert detail["services_healthy"] == "incidents: ok; not checked (no URL): escalator, ingest, slo"
    assert result["passed"] is False and "Runbooks current" in result["not_checked"]


def test_an_slo_service_without_slos_or_measurements_or_capacity_data_says_no_data():
    none = check(slo=PeerResult("ok", {"items": []}), capacity=PeerResult("ok", {"items": []}))
    assert statuses(none)["error_rates_nominal"] == "no_data"  # was "pass: no such SLOs"
    assert statuses(none)["latency_within_slo"] == "no_data" and statuses(none)["error_budgets"] == "no_data"
    assert [c["detail"] for c in none["checks"] if c["key"] == "resource_utilization"] == [
        "no capacity data from the SLO service"]
    unmeasured = check(slo=PeerResult("ok", {"items": [
        {"id": "api:availability", "title": "Availability", "met": None, "firing": [], "budget": {"remaining_percent": 100.0}}]}))
    assert statuses(unmeasured)["error_rates_nominal"] == "no_data" and statuses(unmeasured)["error_budgets"] == "no_data"


def test_everything_with_data_and_fine_passes_and_a_thin_budget_or_full_disk_warns_or_fails():
    healthy = check(slo=PeerResult("ok", {"items": [SLOS.data["items"][0], {**SLOS.data["items"][1], "met": True, "firing": [],
                                                                            "budget": {"remaining_percent": 40.0}}]}),
                    capacity=CAPACITY, gaps=PeerResult("ok", []),
                    runbooks=runbook_rows([{"name": "dns", "last_updated_on": date(2026, 11, 1)}], today=date(2026, 12, 1), max_age_days=180))
    assert set(statuses(healthy).values()) == {"pass"} and healthy["passed"] is True
    thin = check(slo=PeerResult("ok", {"items": [{**SLOS.data["items"][0], "budget": {"remaining_percent": 12.0}}]}))
    assert statuses(thin)["error_budgets"] == "warn"
    full = check(capacity=PeerResult("ok", {"items": [{**CAPACITY.data["items"][0], "current_percent": 91.0, "alert": True,
                                                        "scaling_needed_by": "2026-12-20"}]}))
    assert statuses(full)["resource_utilization"] == "fail"
    assert full["anomalies"][0]["observation"] == "db storage at 91.0% (threshold 80.0%), scaling needed by 2026-12-20"


def test_coverage_gaps_fail_the_check_and_are_anomalies_at_their_start():
    gap = {"schedule": "primary", "tier": "primary", "start_at": "2026-12-05T02:00:00+00:00", "end_at": "2026-12-05T03:00:00+00:00"}
    with_gap = check(gaps=PeerResult("ok", [gap]))
    assert statuses(with_gap)["oncall_coverage"] == "fail"
    assert with_gap["anomalies"][0]["time"] == "2026-12-05T02:00:00+00:00" and with_gap["coverage_gaps"] == [gap]


def test_overnight_is_since_the_last_check_within_four_days_or_the_last_day():
    assert overnight_since(None, NOW) == NOW - timedelta(hours=24)
    friday = NOW - timedelta(days=3)
    assert overnight_since(friday, NOW) == friday
    assert overnight_since(NOW - timedelta(days=9), NOW) == NOW - timedelta(days=4)
