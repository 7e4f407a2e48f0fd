"""`vigil records list <kind>`: every kind a table with its own columns, or "no <kind> records"."""

from datetime import UTC, timedelta, timezone

import pytest

from services.record_tables import TABLES, records_table

BERLIN_WINTER = timezone(timedelta(hours=1))
ROWS = {
    "runbooks": {"id": 3, "name": "DB failover", "owner": "kim", "last_updated_on": "2020-01-01", "last_tested_on": "2026-11-02",
                 "last_test_result": "fail", "next_review_on": None, "status": "Outdated",
                 "reasons": ["updated 2526 days ago (max 180)", "last test failed"]},
    "toil": {"id": 4, "task": "restart stuck workers", "month": "2026-12-01", "frequency": "daily", "minutes_per_occurrence": 10,
             "monthly_total_minutes": 300, "monthly_savings_minutes": 300, "automation_effort": None},
    "reliability-gaps": {"id": 5, "gap": "no DB failover test", "priority": "P2", "status": "planned", "owner": None,
                         "target_on": "2027-01-31"},
    "deployments": {"id": 6, "change": "v2.1.5", "service": "api", "deployed_at": "2026-12-06T09:30:00+00:00",
                    "status": "rolled_back", "issues": "5xx on /pay"},
    "maintenance-windows": {"id": 7, "starts_at": "2026-12-07T22:00:00+00:00", "ends_at": "2026-12-07T23:00:00+00:00",
                            "activity": "DB upgrade", "impact": "read-only", "service": "db"},
}


def test_every_kind_has_a_table():
    assert set(TABLES) == set(ROWS)


@pytest.mark.parametrize(("kind", "expected"), [
    ("runbooks", ["ID", "NAME", "DB failover", "2026-11-02 (fail)", "Outdated: updated 2526 days ago (max 180); last test failed"]),
    ("toil", ["MIN/MONTH", "2026-12", "300", "restart stuck workers"]),
    ("reliability-gaps", ["PRIORITY", "P2", "planned", "2027-01-31", "no DB failover test"]),
    ("deployments", ["DEPLOYED", "2026-12-06 10:30", "rolled_back", "v2.1.5", "5xx on /pay"]),  # in the local zone
    ("maintenance-windows", ["STARTS", "2026-12-07 23:00", "2026-12-08 00:00", "DB upgrade", "read-only"]),
])
def test_a_kind_is_a_header_and_one_aligned_line_per_record(kind, expected):
    text = records_table(kind, [ROWS[kind], {**ROWS[kind], "id": 10}], BERLIN_WINTER)
    header, first, second = text.splitlines()
    assert header.startswith("ID") and first.startswith(str(ROWS[kind]["id"])) and second.startswith("10")
    for value in expected:
        assert value in text, (value, text)
    assert not text.lstrip().startswith(("[", "{", "#"))  # neither JSON nor Markdown
    columns = [header.index(name) for name, _ in TABLES[kind][1]]
    assert columns == sorted(columns)  # the columns in order, each under its header


def test_missing_values_are_a_dash():
    line = records_table("reliability-gaps", [ROWS["reliability-gaps"]], UTC).splitlines()[1]
    assert line.split()[3] == "-"  # no owner (ID, PRIORITY, STATUS, OWNER)


@pytest.mark.parametrize(("kind", "sentence"), [
    ("runbooks", "no runbook records"), ("toil", "no toil records"), ("reliability-gaps", "no reliability gap records"),
    ("deployments", "no deployment records"), ("maintenance-windows", "no maintenance window records"),
])
def test_no_records_is_said_in_words_not_brackets(kind, sentence):
    assert records_table(kind, [], UTC) == sentence
