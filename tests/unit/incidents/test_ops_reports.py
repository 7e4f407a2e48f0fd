"""The report computations on a seeded dataset whose expected values are worked out by hand in the
comments: periods in zones (a month boundary, DST, "this week" west of UTC), count / MTTR /
response-target attainment per SEV, alerts, carried-over action items, runbooks, toil, the daily
check."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.incidents.lifecycle import Incident
from services.incidents.ops.reports import (
    PeerResult, alert_counts, capacity_growth, capacity_summary, carried_over, day_period, incident_rows, incidents_in,
    local_day, month_over_month, month_period, overall_attainment, parse_month, previous_month, runbook_rows,
    severity_summary, slo_month_chart, slo_rows, sparkline, toil_rows, toil_trend, week_period,
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def incident(iid, sev, detected, *, ack_min=None, resolve_min=None) -> Incident:
    return Incident(
        id=iid, status="resolved" if resolve_min is not None else "investigating", severity=sev, severity_source="alerts",
        detected_at=detected, started_at=detected - timedelta(minutes=2),
        acknowledged_at=detected + timedelta(minutes=ack_min) if ack_min is not None else None,
        resolved_at=detected + timedelta(minutes=resolve_min) if resolve_min is not None else None,
    )


NOW = utc(2026, 12, 1, 9, 0)
# id  SEV detected (UTC)        ack     resolved  target (SEV1 5 min, SEV2 15, SEV3 60, SEV4 end of next weekday)
DATASET = [
    incident(1, 1, utc(2026, 11, 2, 10, 0), ack_min=3, resolve_min=45),     # met,    45 min
    incident(2, 1, utc(2026, 11, 10, 8, 0), ack_min=7, resolve_min=75),     # missed, 75 min
    incident(3, 2, utc(2026, 11, 15, 12, 0), ack_min=10, resolve_min=30),   # met,    30 min
    incident(4, 2, utc(2026, 11, 30, 23, 30), ack_min=20, resolve_min=70),  # missed, 70 min (December in Berlin)
    incident(5, 3, utc(2026, 12, 1, 0, 10)),                                # missed: not acknowledged, 01:10 passed
    incident(6, 3, utc(2026, 11, 20, 14, 0), ack_min=30, resolve_min=120),  # met,   120 min
    incident(7, 4, utc(2026, 11, 27, 10, 0), resolve_min=60),               # Friday: due end of Monday 30th; missed
    incident(8, 2, utc(2026, 12, 1, 8, 55)),                                # pending: due 09:10, now 09:00
]


def summary_of(period):
    rows = severity_summary(incidents_in(DATASET, period), now=NOW)
    return {r.severity: (r.count, r.resolved, r.mttr_s, r.attainment_percent) for r in rows}, rows


def test_november_in_utc_counts_mttr_and_attainment_per_sev():
    by_sev, rows = summary_of(month_period(2026, 11, "UTC"))
    assert by_sev == {
        1: (2, 2, 3600.0, 50.0),   # (45 + 75) / 2 min; 1 of 2 met
        2: (2, 2, 3000.0, 50.0),   # (30 + 70) / 2 min; 1 of 2 met
        3: (1, 1, 7200.0, 100.0),
        4: (1, 1, 3600.0, 0.0),
    }
    assert overall_attainment(rows) == 50.0  # 3 met, 3 missed


def test_the_month_boundary_moves_a_late_evening_incident_into_december_in_berlin():
    by_sev, _ = summary_of(month_period(2026, 11, "Europe/Berlin"))
    assert by_sev[2] == (1, 1, 1800.0, 100.0)  # only INC-3; INC-4 was 00:30 on 1 December in Berlin
    by_sev, rows = summary_of(month_period(2026, 12, "Europe/Berlin"))
    assert by_sev[2] == (2, 1, 4200.0, 0.0)  # INC-4 (missed, 70 min) and INC-8 (pending, open)
    assert by_sev[3] == (1, 0, None, 0.0)    # INC-5 open and missed
    assert [r.target_pending for r in rows] == [0, 1, 0, 0]
    assert by_sev[1] == (0, 0, None, None)


def test_a_month_period_is_local_midnight_to_local_midnight_and_december_ends_in_the_next_year():
    nov = month_period(2026, 11, "Europe/Berlin")
    assert (nov.label, nov.start, nov.end) == ("2026-11", utc(2026, 10, 31, 23), utc(2026, 11, 30, 23))
    dec = month_period(2026, 12, "UTC")
    assert (dec.end, dec.last_day) == (utc(2027, 1, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    ("zone", "label", "start", "end"),
    [
        # 03:00 UTC on Monday 30 November is still Sunday evening in Los Angeles: its week is 23–29 November.
        ("America/Los_Angeles", "2026-W48", utc(2026, 11, 23, 8), utc(2026, 11, 30, 8)),
        ("UTC", "2026-W49", utc(2026, 11, 30), utc(2026, 12, 7)),
        ("Asia/Tokyo", "2026-W49", utc(2026, 11, 29, 15), utc(2026, 12, 6, 15)),
    ],
)
def test_this_week_is_the_iso_week_of_the_local_day(zone, label, start, end):
    week = week_period(local_day(utc(2026, 11, 30, 3), zone), zone)
    assert (week.label, week.start, week.end) == (label, start, end)


def test_this_week_west_of_utc_holds_the_incidents_of_its_local_days():
    week = week_period(local_day(utc(2026, 11, 30, 3), "America/Los_Angeles"), "America/Los_Angeles")
    assert [i.id for i in incidents_in(DATASET, week)] == [7]
    utc_week = week_period(date(2026, 11, 30), "UTC")  # spans the month boundary
    assert [i.id for i in incidents_in(DATASET, utc_week)] == [4, 5, 8]


def test_the_week_dst_ends_in_has_169_hours():
    week = week_period(date(2026, 10, 21), "Europe/Berlin")
    assert week.end - week.start == timedelta(hours=169)
    assert day_period(date(2026, 10, 25), "Europe/Berlin").end - day_period(date(2026, 10, 25), "Europe/Berlin").start == timedelta(hours=25)


@pytest.mark.parametrize(("text", "expected"), [("2026-12", (2026, 12)), ("2027-01", (2027, 1))])
def test_months_are_year_dash_month(text, expected):
    assert parse_month(text) == expected


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "12-2026", "2026/12", "", "2026-00"])
def test_other_month_texts_are_refused(text):
    with pytest.raises(ValueError):
        parse_month(text)


def test_the_incidents_table_shows_durations_so_far_for_open_ones_and_the_noise_mark():
    rows = incident_rows(incidents_in(DATASET, week_period(date(2026, 11, 30), "UTC")), titles={4: "db"}, noise={5}, now=NOW)
    assert [(r["number"], r["duration_s"], r["open"], r["noise"]) for r in rows] == [
        ("INC-4", 4200.0, False, False), ("INC-5", 8 * 3600 + 50 * 60.0, True, True), ("INC-8", 300.0, True, False),
    ]
    assert [r["response_target_met"] for r in rows] == [False, False, None]


def test_alerts_of_noise_incidents_are_false_positives():
    assert alert_counts([False, True, False, True, True]) == {"total": 5, "actionable": 2, "false_positive": 3}
    assert alert_counts([]) == {"total": 0, "actionable": 0, "false_positive": 0}


def test_action_items_open_at_the_end_of_the_week_carry_over_or_are_new():
    week = week_period(date(2026, 11, 30), "UTC")
    items = [
        {"id": 1, "status": "open", "due_on": date(2026, 11, 29), "created_at": utc(2026, 11, 20)},        # old, overdue
        {"id": 2, "status": "in_progress", "due_on": date(2026, 12, 20), "created_at": utc(2026, 12, 2)},  # new
        {"id": 3, "status": "done", "due_on": date(2026, 11, 1), "created_at": utc(2026, 10, 1)},          # closed
        {"id": 4, "status": "open", "due_on": date(2026, 12, 1), "created_at": utc(2026, 12, 8)},          # after the week
    ]
    rows = carried_over(items, week, today=date(2026, 12, 1))
    assert [(r["id"], r["carried_over"], r["overdue"]) for r in rows] == [(1, True, True), (2, False, False)]


def test_runbooks_are_outdated_past_the_age_limit_their_review_date_a_failed_test_or_never_updated():
    today = date(2026, 12, 1)
    rows = runbook_rows([
        {"name": "service restart", "last_updated_on": date(2026, 10, 1), "next_review_on": date(2027, 1, 1)},
        {"name": "db failover", "last_updated_on": date(2026, 5, 1), "next_review_on": None},
        {"name": "rollback", "last_updated_on": date(2026, 11, 1), "next_review_on": date(2026, 11, 30)},
        {"name": "dns", "last_updated_on": None},
        {"name": "cache flush", "last_updated_on": date(2026, 11, 1), "last_test_result": "fail"},
    ], today=today, max_age_days=180)
    assert {r["name"]: (r["status"], r["reasons"]) for r in rows} == {
        "cache flush": ("Outdated", ["last test failed"]),
        "db failover": ("Outdated", ["updated 214 days ago (max 180)"]),
        "dns": ("Outdated", ["never updated"]),
        "rollback": ("Outdated", ["review was due 2026-11-30"]),
        "service restart": ("Current", []),
    }


def test_toil_totals_follow_the_process_examples_and_trend_per_month():
    entries = [
        {"task": "Manual deploy", "frequency": "weekly", "minutes_per_occurrence": 30, "month": date(2026, 11, 1), "monthly_savings_minutes": None},
        {"task": "Log rotation", "frequency": "daily", "minutes_per_occurrence": 15, "month": date(2026, 11, 1), "monthly_savings_minutes": None},
        {"task": "Certificate renewal", "frequency": "monthly", "minutes_per_occurrence": 120, "month": date(2026, 11, 1), "monthly_savings_minutes": 0},
        {"task": "Manual deploy", "frequency": "weekly", "minutes_per_occurrence": 20, "month": date(2026, 12, 1), "monthly_savings_minutes": None},
    ]
    rows = toil_rows(entries)
    assert {(r["task"], r["month"].month): r["monthly_total_minutes"] for r in rows} == {
        ("Manual deploy", 11): 120, ("Log rotation", 11): 450, ("Certificate renewal", 11): 120, ("Manual deploy", 12): 80,
    }
    assert toil_trend(rows) == [
        {"month": "2026-11", "total_minutes": 690, "savings_minutes": 570, "tasks": 3},
        {"month": "2026-12", "total_minutes": 80, "savings_minutes": 80, "tasks": 1},
    ]


SLOS = PeerResult("ok", {"items": [
    {"id": "api:availability", "service": "api", "title": "Availability", "target": "99.9%", "current": "99.95%", "met": True, "firing": [], "budget": {"remaining_percent": 71.0}},
    {"id": "api:latency-p99", "service": "api", "title": "Latency (p99)", "target": "< 500ms", "current": "620ms", "met": False, "firing": ["ticket"], "budget": {"remaining_percent": -3.0}},
]})


def test_slo_rows_and_capacity_come_from_the_slo_service_or_are_empty():
    assert [(r["title"], r["achieved"], r["met"]) for r in slo_rows(SLOS)] == [("Availability", "99.95%", True), ("Latency (p99)", "620ms", False)]
    assert slo_rows(PeerResult("unreachable", error="x")) == []
    capacity = PeerResult("ok", {"items": [
        {"service": "api", "resource": "cpu", "headroom_percent": 35.0, "scaling_needed_by": None},
        {"service": "db", "resource": "storage", "headroom_percent": 22.0, "scaling_needed_by": "2027-03-01"},
    ]})
    assert capacity_summary(capacity)["min_headroom_percent"] == 22.0
    assert capacity_summary(capacity)["scaling_needed_by"] == "2027-03-01"
    assert capacity_summary(PeerResult("not_configured"))["rows"] == []


def test_mtta_and_time_to_detection_per_sev_count_only_incidents_that_have_the_figure():
    by_sev = {r.severity: r for r in severity_summary(incidents_in(DATASET, month_period(2026, 11, "UTC")), now=NOW)}
    assert (by_sev[1].acknowledged, by_sev[1].mtta_s) == (2, 300.0)    # (3 + 7) / 2 min
    assert (by_sev[2].acknowledged, by_sev[2].mtta_s) == (2, 900.0)    # (10 + 20) / 2 min
    assert (by_sev[4].acknowledged, by_sev[4].mtta_s) == (0, None)     # INC-7 never acknowledged: no data
    assert [(r.detection_measured, r.mttd_s) for r in by_sev.values()] == [(2, 120.0), (2, 120.0), (1, 120.0), (1, 120.0)]
    assert by_sev[1].as_dict()["mtta_s"] == 300.0 and by_sev[4].as_dict()["mttd_s"] == 120.0


def test_time_to_detection_leaves_out_incidents_whose_start_nobody_knows():
    alerted = Incident(id=1, status="investigating", severity=2, severity_source="alerts",
                       detected_at=utc(2026, 12, 2, 10, 5), started_at=utc(2026, 12, 2, 10))
    declared = Incident(id=2, status="investigating", severity=2, severity_source="person",
                        detected_at=utc(2026, 12, 2, 11), started_at=utc(2026, 12, 2, 11))
    rows = severity_summary([alerted, declared], now=utc(2026, 12, 2, 12), start_unknown=frozenset({2}))
    assert (rows[1].count, rows[1].detection_measured, rows[1].mttd_s) == (2, 1, 300.0)
    rows = severity_summary([declared], now=utc(2026, 12, 2, 12), start_unknown=frozenset({2}))
    assert (rows[1].detection_measured, rows[1].mttd_s, rows[1].mtta_s) == (0, None, None)


def test_month_over_month_growth_in_percent_and_none_from_nothing():
    assert month_over_month({"incidents": 5, "alerts": 30}, {"incidents": 4}) == [
        {"what": "incidents", "current": 5, "previous": 4, "change_percent": 25.0},
        {"what": "alerts", "current": 30, "previous": 0, "change_percent": None}]
    assert previous_month(month_period(2027, 1, "Europe/Berlin"), "Europe/Berlin").label == "2026-12"


def test_capacity_growth_per_month_from_the_weekly_trend_fastest_first():
    rows = [{"service": "db", "resource": "storage", "current_percent": 58, "trend_percent_per_week": 1.0},
            {"service": "api", "resource": "cpu", "current_percent": 45, "trend_percent_per_week": 2.0},
            {"service": "api", "resource": "memory", "current_percent": 62, "trend_percent_per_week": None}]
    assert [(g["service"], g["resource"], g["growth_percent_per_month"]) for g in capacity_growth(rows)] == [
        ("api", "cpu", 8.7), ("db", "storage", 4.3)]  # 2 and 1 points a week × 4.35 weeks a month


def test_the_slo_chart_has_one_character_a_day_and_says_which_days_have_no_data():
    nov = month_period(2026, 11, "UTC")
    slo = PeerResult("ok", {"items": [
        {"id": "api:availability", "service": "api", "title": "Availability", "target": "99.9%", "budgeting": "occurrences"},
        {"id": "api:uptime", "service": "api", "title": "Uptime", "target": "99%", "budgeting": "timeslices"},
        {"id": "web:availability", "service": "web", "title": "Availability", "target": "99.9%"}]})
    def day(d, good, total, budget, sli=None):
        return {"day": f"2026-11-{d:02d}", "good_events": good, "total_events": total, "sli_percent": sli,
                "budget_remaining_percent": budget}
    histories = {
        "api:availability": PeerResult("ok", {"days": [
            day(30, 900, 1000, 40.0), day(1, 1000, 1000, 100.0), day(2, 999, 1000, 90.0),
            {**day(1, 5, 5, 0.0), "day": "2026-12-01"}]}),  # another month: left out
        "api:uptime": PeerResult("ok", {"days": [day(1, 0, 0, 100.0, sli=100.0), day(2, 0, 0, 50.0, sli=99.0)]}),
        "web:availability": PeerResult("error", error="answered 500"),
    }
    rows = {r["id"]: r for r in slo_month_chart(slo, histories, nov)}
    api = rows["api:availability"]
    assert (api["days_with_data"], api["sli_percent"], api["budget_left_percent"]) == (3, 96.633, 40.0)  # 2899/3000
    assert api["sparkline"] == "█▇" + "·" * 27 + "▄" and len(api["sparkline"]) == 30
    assert rows["api:uptime"]["sli_percent"] == 99.5  # time slices: the days' mean
    assert (rows["web:availability"]["history"], rows["web:availability"]["sparkline"]) == ("error", "·" * 30)
    assert slo_month_chart(PeerResult("not_configured"), {}, nov) == []
    assert sparkline([0.0, 12.5, 100.0, None, 150.0]) == "▁▂█·█"
