"""The note a page or ticket carries when the error-budget policy changed its incident's escalation:
the incident's `budget_note` as it is, none without one, and cut to what the event allows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.escalator.firing import policy_note
from shared.events import POLICY_NOTE_MAX, PageRequested

NOTE = "medium → page: checkout's error budget is exhausted (availability: -4 % left)"


def test_an_incident_without_a_budget_note_gives_its_pages_no_note():
    assert policy_note({"id": 1}) is None
    assert policy_note({"id": 1, "budget_note": None}) is None


def test_the_incidents_budget_note_is_carried_as_it_is():
    assert policy_note({"budget_note": NOTE}) == NOTE


def test_a_note_longer_than_the_event_allows_is_cut_and_still_makes_a_valid_page():
    note = policy_note({"budget_note": "x" * (POLICY_NOTE_MAX + 50)})
    assert len(note) == POLICY_NOTE_MAX and note.endswith("…")
    page = dict(event_id="e", occurred_at=datetime(2026, 12, 6, tzinfo=UTC), source="escalator", page_id="p",
                incident_id=1, number="INC-1", severity=3, title="t", target="bob", reason="initial", step=0)
    assert PageRequested(**page, policy_note=note).policy_note == note
    with pytest.raises(ValidationError):
        PageRequested(**page, policy_note="x" * (POLICY_NOTE_MAX + 1))
