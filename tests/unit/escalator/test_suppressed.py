"""An incident opened inside a maintenance window's scope (`IncidentEvent.suppressed`) is recorded
and never paged or ticketed, whatever happens to it; incidents opened before keep their escalation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.escalator.policy import IncidentState, PolicyConfig, decide

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
CONFIG = PolicyConfig()
ON_CALL = {"primary": ["ana"], "backup": ["bo"]}


def decide_on(kind: str, incident: IncidentState, now: datetime = T0):
    return decide(kind=kind, incident=incident, planned=[], config=CONFIG, targets=ON_CALL, now=now)


@pytest.mark.parametrize("severity", [1, 2, 3, 4])
def test_a_suppressed_incident_of_any_severity_opens_without_pages_or_tickets_and_says_why(severity):
    decision = decide_on("opened", IncidentState(id=7, version=1, severity=severity, suppressed=True))
    assert decision.schedule == ()
    assert "suppressed by a maintenance window" in decision.reason


@pytest.mark.parametrize("kind", ["unacknowledged", "reopened", "severity_changed", "alerts_firing", "acknowledged"])
def test_nothing_that_happens_to_a_suppressed_incident_pages_anyone(kind):
    incident = IncidentState(id=7, version=3, severity=1, suppressed=True,
                             acknowledged_at=T0 if kind == "acknowledged" else None)
    decision = decide_on(kind, incident, now=T0 + timedelta(minutes=10))
    assert decision.schedule == () and decision.unacknowledge is None
    assert decision.reason.startswith(f"{kind}: suppressed")


def test_the_same_incident_not_suppressed_pages_at_once():
    incident = IncidentState(id=7, version=1, severity=1)
    decision = decide_on("opened", incident)
    assert [s.action for s in decision.schedule if s.due_at == T0] == ["page"]
    assert decide_on("opened", replace(incident, suppressed=True)).schedule == ()


def test_when_its_maintenance_window_ends_while_it_fires_the_incident_is_escalated_from_then():
    incident = IncidentState(id=7, version=4, severity=1)  # its events no longer say suppressed
    decision = decide_on("unsuppressed", incident, now=T0 + timedelta(hours=1))
    assert [s.due_at for s in decision.schedule if s.action == "page"][0] == T0 + timedelta(hours=1)
    assert "maintenance window ended" in decision.reason
