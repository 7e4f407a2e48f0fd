"""An incident's two durations read the same in the postmortem, the incident report and the reviews:
the *duration* from the first alert's start, the *time to resolution* from detection, each named."""

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.encoders import jsonable_encoder

from services.incidents.lifecycle import Incident, durations
from services.incidents.ops.postmortems import checklist, draft_from_incident
from services.incidents.ops.rendering import human_duration, render, span_s

STARTED = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)  # the first alert's startsAt
DETECTED = STARTED + timedelta(seconds=77)  # Alertmanager's group_wait and repeat: Vigil hears of it later
RESOLVED = DETECTED + timedelta(seconds=43)


def incident_row() -> dict:
    incident = Incident(id=7, status="resolved", severity=2, severity_source="alerts", detected_at=DETECTED,
                        started_at=STARTED, commander="ana", acknowledged_at=DETECTED + timedelta(seconds=10),
                        resolved_at=RESOLVED, root_cause="disk full", fix_applied="rotated logs")
    return {**asdict(incident), "impact_users": None, "impact_features": [], "impact_revenue": None, "impact_text": None,
            "status_text": None, "next_update_at": None, "detected_by": "alert"}


def incident_report_markdown(row: dict) -> str:
    d = durations(Incident(**{k: row[k] for k in Incident.__dataclass_fields__}), now=RESOLVED)
    data = jsonable_encoder({
        "incident": row, "number": "INC-7", "timeline": [], "noise": False, "postmortem": None, "action_items": 0,
        "time_to_detect_s": d.time_to_detect.total_seconds(), "time_to_resolve_s": d.time_to_resolve.total_seconds(),
        "response_due_at": d.response_due_at, "response_target_met": d.response_target_met,
    })
    return render("incident_report", {"r": data}, zone="UTC")


def postmortem_markdown(row: dict) -> str:
    draft = draft_from_incident(row, [])
    pm = {**asdict(draft), "incident": "INC-7", "status": "draft", "reviewers": [], "review_at": None, "went_well": [],
          "went_poorly": [], "lessons": [], "action_items": [], "checklist": checklist({}, action_items=0, review_at=None)}
    return render("postmortem", {"pm": pm, "incident": row}, zone="UTC")


def test_the_postmortem_and_the_incident_report_give_both_durations_with_their_bases():
    row = incident_row()
    postmortem, report = postmortem_markdown(row), incident_report_markdown(row)
    duration = "Duration: 2 min (from the first alert's start"
    to_resolve = "Time to resolution: 43 s (from detection"
    assert duration in postmortem and duration in report
    assert to_resolve in postmortem and to_resolve in report
    assert "Time to detection: 1 min 17 s (from the first alert's start)" in report


def test_a_postmortem_of_an_open_incident_says_the_time_to_resolution_is_not_known():
    row = {**incident_row(), "resolved_at": None, "status": "acknowledged"}
    assert "Time to resolution: N/A (from detection" in postmortem_markdown(row)


@pytest.mark.parametrize(("start", "end", "seconds"), [
    (STARTED, RESOLVED, 120.0),
    (STARTED.isoformat(), RESOLVED.isoformat(), 120.0),  # a record's JSON
    (STARTED, None, None),
    (None, RESOLVED, None),
])
def test_span_is_the_seconds_between_two_times_or_none(start, end, seconds):
    assert span_s(start, end) == seconds


@pytest.mark.parametrize(("seconds", "text"), [
    (43, "43 s"), (59.4, "59 s"), (60, "1 min"), (77, "1 min 17 s"), (120, "2 min"), (599, "9 min 59 s"), (600, "10 min"),
])
def test_short_durations_keep_their_seconds(seconds, text):
    assert human_duration(seconds) == text


def test_the_reviews_table_names_its_base_as_the_incident_report_does():
    from services.incidents.ops.rendering import TEMPLATES

    table = (TEMPLATES / "_incidents.md.j2").read_text()
    assert "| Time to resolution |" in table and "| Duration |" not in table
