"""The pure postmortem rules: the draft from an incident, the workflow, the checklist, due dates;
and how durations read in the Markdown."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.incidents.ops.postmortems import (
    WorkflowRefused, change_status, checklist, default_due, draft_from_incident, is_overdue, tick,
)
from services.incidents.ops.rendering import cell, human_duration

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def incident(**fields) -> dict:
    return {
        "started_at": T0, "resolved_at": T0 + timedelta(minutes=45), "commander": "ana", "root_cause": "disk full",
        "fix_applied": "rotated logs", "contributing_factors": None, "impact_users": "40%", "impact_features": ["checkout"],
        "impact_revenue": None, "impact_text": None, **fields,
    }


def test_the_draft_takes_duration_impact_root_cause_resolution_and_timeline_from_the_incident():
    draft = draft_from_incident(incident(contributing_factors="no disk alert"), [{"at": T0, "text": "opened", "actor": "vigil"}])
    assert draft.duration_s == 45 * 60
    assert draft.impact == "Users affected: 40%\nFeatures impacted: checkout"
    assert (draft.root_cause, draft.resolution) == ("disk full", "rotated logs\nContributing factors: no disk alert")
    assert draft.timeline == [{"at": T0.isoformat(), "text": "opened", "actor": "vigil"}]
    assert draft.summary is None and draft.author == "ana"


def test_a_draft_of_an_incident_without_resolution_fields_leaves_them_empty():
    draft = draft_from_incident(incident(fix_applied=None, root_cause=None, impact_users=None, impact_features=[]), [])
    assert (draft.root_cause, draft.resolution, draft.impact) == (None, None, "")


@pytest.mark.parametrize(
    ("current", "wanted", "summary", "reviewers", "expected"),
    [
        ("draft", "in_review", "what happened", [], "in_review"),
        ("in_review", "published", "what happened", ["kim"], "published"),
        ("in_review", "draft", "what happened", [], "draft"),
        ("draft", "draft", None, [], "draft"),
        ("published", "published", "s", ["kim"], "published"),
    ],
)
def test_the_workflow_allows_draft_review_publish_and_back_to_draft(current, wanted, summary, reviewers, expected):
    assert change_status(current, wanted, summary=summary, reviewers=reviewers) == expected


@pytest.mark.parametrize(
    ("current", "wanted", "summary", "reviewers", "reason"),
    [
        ("draft", "published", "s", ["kim"], "draft → in_review → published"),
        ("draft", "in_review", None, [], "summary"),
        ("draft", "in_review", "   ", [], "summary"),
        ("in_review", "published", "s", [], "reviewer"),
        ("published", "draft", "s", ["kim"], "published"),
    ],
)
def test_the_workflow_refuses_skips_empty_summaries_unreviewed_publishing_and_changing_a_published_one(
    current, wanted, summary, reviewers, reason
):
    with pytest.raises(WorkflowRefused, match=reason):
        change_status(current, wanted, summary=summary, reviewers=reviewers)


def test_the_checklist_derives_action_items_and_scheduling_and_keeps_the_ticks():
    done = {c["key"]: c["done"] for c in checklist({"communication_sent": True}, action_items=2, review_at=T0)}
    assert done == {
        "service_restored": False, "metrics_normalized": False, "user_confirmation": False,
        "postmortem_scheduled": True, "action_items_created": True, "communication_sent": True,
    }
    assert not any(c["done"] for c in checklist({}, action_items=0, review_at=None))


def test_action_items_created_cannot_be_ticked_by_hand():
    with pytest.raises(WorkflowRefused, match="action_items_created"):
        tick({}, {"action_items_created": True})
    assert tick({"service_restored": True}, {"communication_sent": True}) == {"service_restored": True, "communication_sent": True}


@pytest.mark.parametrize(("priority", "days"), [("P1", 7), ("P2", 30), ("P3", 90)])
def test_an_action_item_without_a_due_date_is_due_by_its_priority(priority, days):
    assert default_due(priority, date(2026, 12, 1)) == date(2026, 12, 1) + timedelta(days=days)


@pytest.mark.parametrize(
    ("status", "due_on", "overdue"),
    [("open", date(2026, 11, 30), True), ("in_progress", date(2026, 11, 30), True), ("open", date(2026, 12, 1), False),
     ("done", date(2026, 11, 1), False), ("wont_do", date(2026, 11, 1), False)],
)
def test_an_open_item_due_before_today_is_overdue(status, due_on, overdue):
    assert is_overdue({"status": status, "due_on": due_on}, today=date(2026, 12, 1)) is overdue


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "N/A"), (30, "30 s"), (45 * 60, "45 min"), (89 * 60, "89 min"), (90 * 60, "1.5 hr"), (4 * 3600, "4 hr")],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert human_duration(seconds) == text


def test_a_table_cell_has_no_line_breaks_or_bare_pipes():
    assert cell("a|b\nc") == "a\\|b c" and cell(None) == "—" and cell(["x", "y"]) == "x, y"
