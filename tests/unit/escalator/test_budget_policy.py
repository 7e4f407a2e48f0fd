"""The escalator's error-budget policy, pure: which changes a service's budget state makes to the
policy of an incident opening now, why (the sentence the escalation view shows), and the adjusted
policy planned as usual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.escalator.budget_policy import (
    BudgetOfSlo,
    ServiceBudgetPolicy,
    adjusted,
    adjustments,
    policy_for,
    service_state,
)
from services.escalator.oncall_config import load_yaml
from services.escalator.policy import IncidentState, PolicyConfig, plan

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # a Monday night: outside business hours
POLICY = ServiceBudgetPolicy.model_validate({
    "exhausted": {"medium": "page"}, "burning": {"ack_timeout_factor": 0.5}, "healthy": {"low": "business_hours"},
})
EXHAUSTED = [BudgetOfSlo("latency-p99", "healthy", 0.9), BudgetOfSlo("availability", "exhausted", -0.04)]


def planned(config: PolicyConfig, severity: int):
    return plan(incident=IncidentState(id=7, version=1, severity=severity), policy=config.for_severity(severity),
                calendar=config.business_hours.calendar(), started_at=NOW, targets={"primary": ["alice"], "backup": ["bob"]})


def test_a_medium_incident_of_a_service_whose_budget_is_exhausted_pages_instead_of_ticketing():
    changes = adjustments(service="checkout", policy=POLICY, budgets=EXHAUSTED)
    assert [c.reason for c in changes] == ["medium → page: checkout's error budget is exhausted (availability: -4 % left)"]
    [step] = planned(adjusted(PolicyConfig(), changes), 3)
    assert (step.action, step.targets, step.due_at) == ("page", ("alice",), NOW)
    assert [s.action for s in planned(PolicyConfig(), 3)] == ["ticket"]  # the configuration's own is untouched


def test_a_budget_burning_fast_halves_the_acknowledgement_timeout_of_every_severity():
    changes = adjustments(service="checkout", policy=POLICY, budgets=[BudgetOfSlo("availability", "burning", 0.6)])
    assert [c.reason for c in changes] == ["ack timeout × 0.5: checkout's error budget is burning fast (availability: 60 % left)"]
    policy = adjusted(PolicyConfig(), changes)
    assert (policy.critical.ack_timeout, policy.high.ack_timeout) == (timedelta(minutes=15), timedelta(minutes=30))
    assert policy.medium.ack_timeout is None


def test_a_low_incident_of_a_healthy_service_waits_for_business_hours():
    changes = adjustments(service="checkout", policy=POLICY, budgets=[BudgetOfSlo("availability", "healthy", 0.95)])
    paging_low = PolicyConfig.model_validate({"low": {"steps": [{"action": "page"}]}})
    [step] = planned(adjusted(paging_low, changes), 4)
    assert step.action == "ticket"
    assert step.ticket_due_at == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # the next opening, not a page at 3:00


def test_the_worst_slo_decides_the_state_of_a_service():
    assert service_state(EXHAUSTED).slo == "availability"
    assert service_state([BudgetOfSlo("a", "burning", 0.5), BudgetOfSlo("b", "burning", 0.2)]).slo == "b"
    assert service_state([]) is None


@pytest.mark.parametrize(("service", "budgets"), [
    (None, EXHAUSTED),          # the incident has no service label
    ("checkout", []),           # the SLO service has said nothing about it
])
def test_without_a_service_or_a_known_budget_nothing_changes(service, budgets):
    assert adjustments(service=service, policy=POLICY, budgets=budgets) == []


def test_a_state_the_policy_says_nothing_about_changes_nothing():
    assert adjustments(service="checkout", policy=ServiceBudgetPolicy(), budgets=EXHAUSTED) == []


def test_the_services_own_policy_wins_over_the_wildcard():
    general = ServiceBudgetPolicy()
    assert policy_for("checkout", {"checkout": POLICY, "*": general}) is POLICY
    assert policy_for("search", {"checkout": POLICY, "*": general}) is general
    assert policy_for(None, {"*": general}) is None


def test_the_adjusted_snapshot_round_trips_as_the_stored_policy_does():
    changes = adjustments(service="checkout", policy=POLICY, budgets=EXHAUSTED)
    snapshot = adjusted(PolicyConfig(), changes).model_dump(mode="json")
    assert PolicyConfig.model_validate(snapshot).medium.steps[0].action == "page"


def test_the_budget_policy_is_part_of_the_escalator_configuration():
    config = load_yaml("""
schedules:
  - {name: platform, primary: {participants: [alice], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"},
     backup: {participants: [bob], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}}
budget_policy:
  checkout: {exhausted: {medium: page}, burning: {ack_timeout_factor: 0.5}, healthy: {low: business_hours}}
""", where="test")
    assert config.budget_policy == {"checkout": POLICY}
