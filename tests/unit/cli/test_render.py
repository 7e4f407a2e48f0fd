"""How the responder commands print answers on a terminal: aligned columns, local times, ages,
honest empty states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.responder_cli import render

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CET = timezone(timedelta(hours=1), "CET")


def incident(number: int, **fields) -> dict:
    base = {
        "number": f"INC-{number}", "severity_label": "SEV1", "status": "investigating", "acknowledged_by": None,
        "acknowledged_at": None, "detected_at": "2026-12-02T11:55:00+00:00", "title": "checkout is down",
        "response_due_at": "2026-12-02T12:10:00+00:00", "labels": {"service": "checkout", "team": "payments"},
        "impact": {"text": None}, "commander": None, "status_text": None, "resolved_at": None,
    }
    return {**base, **fields}


def test_columns_are_aligned_the_last_runs_on_and_empty_cells_are_a_dash():
    text = render.table(("A", "LONGER", "LAST"), [("x", None, "a long title"), ("yyyy", "", "t")])
    assert text.splitlines() == [
        "A     LONGER  LAST",
        "x     -       a long title",
        "yyyy  -       t",
    ]
    assert render.table(("A",), []) == "A"
    assert render.table(None, []) == ""


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=5), "5s"), (timedelta(minutes=12, seconds=5), "12m"), (timedelta(hours=3), "3h"),
    (timedelta(hours=3, minutes=5), "3h 5m"), (timedelta(days=4, hours=2, minutes=9), "4d 2h"), (timedelta(days=4), "4d"),
    (-timedelta(minutes=3), "3m"),
])
def test_a_span_shows_its_two_largest_units(delta, text):
    assert render.span(delta) == text


def test_times_are_shown_in_the_local_zone():
    assert render.when("2026-12-07T08:15:00Z", CET) == "2026-12-07 09:15"
    assert render.when("2026-12-07T08:15:00+00:00", CET, with_zone=True) == "2026-12-07 09:15 CET"
    assert render.when(None, CET) == "-"
    assert render.relative("2026-12-02T11:00:00Z", NOW) == "1h ago"
    assert render.relative("2026-12-02T12:04:00Z", NOW) == "in 4m"


def test_the_incident_list_shows_who_acknowledged_and_the_age():
    page = {"items": [incident(7, acknowledged_by="kim", status="mitigating"), incident(6, severity_label="SEV3")],
            "next_cursor": None}
    assert render.incident_list(page, NOW, open_only=True).splitlines() == [
        "INCIDENT  SEV   STATUS         ACK BY  AGE  TITLE",
        "INC-7     SEV1  mitigating     kim     5m   checkout is down",
        "INC-6     SEV3  investigating  -       5m   checkout is down",
    ]


def test_an_empty_list_says_so_and_a_cut_list_says_how_to_see_more():
    assert render.incident_list({"items": [], "next_cursor": None}, NOW, open_only=True) == "no open incidents"
    assert render.incident_list({"items": [], "next_cursor": None}, NOW, open_only=False) == "no incidents match"
    cut = render.incident_list({"items": [incident(1)], "next_cursor": "1"}, NOW, open_only=True)
    assert cut.endswith("… more: raise --limit (shown 1)")


def test_an_unacknowledged_incident_shows_its_response_deadline_and_lateness():
    due_soon = render.incident_detail(incident(7), NOW, CET)
    assert "Acknowledged  not yet: response due 2026-12-02 13:10 (in 10m)" in due_soon
    late = render.incident_detail(incident(7), NOW + timedelta(minutes=13), CET)
    assert "(overdue by 3m)" in late
    acked = render.incident_detail(incident(7, acknowledged_by="kim", acknowledged_at="2026-12-02T11:58:00Z"), NOW, CET)
    assert "Acknowledged  by kim at 2026-12-02 12:58" in acked


def test_the_incident_page_has_its_header_labels_alerts_with_runbooks_and_timeline():
    detail = incident(
        7, resolved_at="2026-12-02T11:59:00Z", root_cause="bad deploy", fix_applied="rollback",
        alerts=[{"status": "firing", "alertname": "HighErrorRate", "starts_at": "2026-12-02T11:54:00Z",
                 "labels": {"service": "checkout"}, "annotations": {"runbook_url": "https://runbooks/checkout"}}],
        timeline=[{"at": "2026-12-02T11:55:00Z", "kind": "opened", "text": "declared by kim", "actor": "kim"},
                  {"at": "2026-12-02T11:56:00Z", "kind": "note", "text": "rolling back", "actor": "lee"}],
    )
    text = render.incident_detail(detail, NOW, CET)
    lines = text.splitlines()
    assert lines[0] == "INC-7  SEV1  investigating  checkout is down"
    assert "Labels        service=checkout, team=payments" in lines
    assert "Root cause    bad deploy" in lines and "Fix applied   rollback" in lines
    assert "firing  HighErrorRate  2026-12-02 12:54  service=checkout  https://runbooks/checkout" in lines
    assert lines[-3:] == [
        "WHEN              WHAT    WHO  TEXT",
        "2026-12-02 12:55  opened  kim  declared by kim",
        "2026-12-02 12:56  note    lee  rolling back",
    ]


def test_on_call_shows_both_people_of_a_handoff_overlap_and_names_a_gap():
    entries = [{"schedule": "platform", "at": "2026-12-07T08:15:00Z", "primary": ["alice", "bob"], "backup": ["dave"]},
               {"schedule": "db", "at": "2026-12-07T08:15:00Z", "primary": [], "backup": ["erin"]}]
    assert render.oncall(entries, CET).splitlines() == [
        "On call at 2026-12-07 09:15 CET",
        "SCHEDULE  PRIMARY       BACKUP",
        "platform  alice + bob   dave",
        "db        nobody (gap)  erin",
    ]
    assert "no schedules" in render.oncall([], CET)


def test_overrides_show_a_deliberate_gap_and_an_empty_list_says_so():
    row = {"id": 3, "tier": "primary", "person": "", "start_at": "2026-12-07T08:00:00Z", "end_at": "2026-12-07T16:00:00Z",
           "created_by": "kim"}
    assert render.overrides("platform", [row], CET).splitlines()[1] == \
        "3   primary  nobody (a deliberate gap)  2026-12-07 09:00  2026-12-07 17:00  kim"
    assert render.overrides("platform", [], CET) == "no overrides on platform now or ahead"


def budget(window: str, remaining: float) -> dict:
    return {"window": window, "total_minutes": 43.2, "consumed_minutes": 43.2 - 43.2 * remaining / 100,
            "remaining_minutes": 43.2 * remaining / 100, "remaining_percent": remaining, "total_events": 60000}


SLO = {"id": "checkout:availability", "title": "Availability", "target": "99.9%", "current": "99.95%", "met": True,
       "budget": budget("rolling_30d", 50.0), "calendar_month": budget("calendar_month", 75.0), "firing": [],
       "projected_exhaustion_at": None, "evaluated_at": "2026-12-02T11:59:00Z"}


def test_the_slo_table_shows_budget_left_and_what_fires_and_an_empty_one_says_how_to_get_data():
    rows = [SLO, {**SLO, "id": "pay:availability", "met": None, "current": None, "firing": ["page", "ticket"],
                  "budget": budget("rolling_30d", -12.5)}]
    assert render.slo_list({"items": rows}).splitlines() == [
        "SLO                    TITLE         TARGET  CURRENT  MET      BUDGET LEFT  FIRING",
        "checkout:availability  Availability  99.9%   99.95%   yes      50.0%        -",
        "pay:availability       Availability  99.9%   -        no data  -12.5%       page, ticket",
    ]
    assert "sends metrics" in render.slo_list({"items": [], "evaluated_at": None})


def test_an_slo_shows_both_budgets_and_each_burn_rate_rule():
    detail = {**SLO, "burn_rates": [
        {"tier": "page", "long_window": "1h", "short_window": "5m", "threshold": 14.4, "long_burn": 20.0, "short_burn": 15.5,
         "firing": True, "low_traffic_guarded": False},
        {"tier": "ticket", "long_window": "6h", "short_window": "30m", "threshold": 6, "long_burn": 7.0, "short_burn": 7.0,
         "firing": False, "low_traffic_guarded": True}]}
    lines = render.slo_detail(detail, CET).splitlines()
    assert lines[0] == "checkout:availability  Availability"
    assert "rolling_30d     43.2   21.6   21.6  50.0%   60000" in lines
    assert "calendar_month  43.2   10.8   32.4  75.0%   60000" in lines
    assert "page    1h/5m    14.4       20.00  15.50  FIRING" in lines
    assert "ticket  6h/30m   6          7.00   7.00   guarded" in lines


def test_tokens_show_their_prefix_expiry_last_use_and_state():
    items = [
        {"id": "t1", "name": "laptop", "person": "kim", "role": "responder", "prefix": "vgt_eyJpIjoi", "created_at": "2026-12-01T08:00:00Z",
         "expires_at": None, "last_used_at": "2026-12-02T11:00:00Z", "revoked_at": None},
        {"id": "t2", "name": "ci", "person": "kim", "role": "viewer", "prefix": "vgt_eyJpIjoj", "created_at": "2026-11-01T08:00:00Z",
         "expires_at": "2026-12-01T08:00:00Z", "last_used_at": None, "revoked_at": None},
        {"id": "t3", "name": "old", "person": "kim", "role": "viewer", "prefix": "vgt_eyJpIjok", "created_at": "2026-11-01T08:00:00Z",
         "expires_at": None, "last_used_at": None, "revoked_at": "2026-11-02T08:00:00Z"},
    ]
    lines = render.tokens(items, NOW, CET).splitlines()
    assert lines[1].split() == ["t1", "laptop", "kim", "responder", "vgt_eyJpIjoi", "2026-12-01", "09:00", "never",
                                "2026-12-02", "12:00", "active"]
    assert lines[2].endswith("expired") and lines[3].endswith("revoked")
    assert "vigil tokens create" in render.tokens([], NOW, CET)
