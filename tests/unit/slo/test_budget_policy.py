"""The error-budget policy's pure core: budget states from evaluated statuses, the release gate's
decision and reason, the policy in force per service, and state changes published once each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.slo.budget_policy import (
    DEFAULT_POLICY,
    ErrorBudgetPolicy,
    StoredState,
    budget_state,
    policy_for,
    release_gate,
    state_changes,
)
from services.slo.definitions import SloDefinitionError
from services.slo.definitions_file import parse_budget_policies
from shared.events import BudgetStateChanged, decode, encode

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def status(slo: str, remaining_percent: float, *firing: str, service: str = "checkout") -> dict:
    return {"service": service, "slo": slo, "firing": list(firing), "budget": {"remaining_percent": remaining_percent}}


@pytest.mark.parametrize(("firing", "state"), [
    ((), "healthy"), (("ticket",), "burning"), (("page",), "burning"), (("page", "ticket"), "burning"),
    (("exhausted",), "exhausted"), (("exhausted", "page"), "exhausted"),
])
def test_the_budget_state_follows_the_alerts_that_fire(firing, state):
    assert budget_state(status("availability", 50, *firing)) == state


def test_an_exhausted_budget_freezes_releases_by_default_naming_the_slo_and_what_was_spent():
    gate = release_gate(service="checkout", policy=DEFAULT_POLICY,
                        statuses=[status("latency-p99", 80), status("availability", -4, "exhausted", "page")])
    assert not gate.allowed
    assert gate.reason == ("checkout:availability is exhausted (104 % of its 30-day budget spent) "
                           "(policy: freeze when exhausted)")
    assert [s["slo"] for s in gate.slos] == ["availability", "latency-p99"]  # the worst first


def test_a_burning_budget_does_not_freeze_under_the_default_policy():
    gate = release_gate(service="checkout", policy=DEFAULT_POLICY,
                        statuses=[status("availability", 70, "page"), status("error-rate", 90)])
    assert gate.allowed
    assert gate.reason == ("releases allowed: checkout:availability is burning with 30 % of its 30-day budget spent "
                           "(policy: freeze when exhausted)")


def test_a_policy_that_freezes_when_burning_holds_releases_while_a_burn_rate_alert_fires():
    policy = ErrorBudgetPolicy(freeze_when="burning")
    assert not release_gate(service="checkout", policy=policy, statuses=[status("availability", 70, "ticket")]).allowed
    assert release_gate(service="checkout", policy=policy, statuses=[status("availability", 70)]).allowed


def test_a_policy_that_never_freezes_allows_releases_with_an_exhausted_budget():
    gate = release_gate(service="checkout", policy=ErrorBudgetPolicy(freeze_when="never"),
                        statuses=[status("availability", -20, "exhausted")])
    assert gate.allowed and "policy: never freeze" in gate.reason


def test_every_frozen_slo_is_named_in_the_reason():
    gate = release_gate(service="checkout", policy=DEFAULT_POLICY,
                        statuses=[status("availability", -1, "exhausted"), status("error-rate", -50, "exhausted")])
    assert gate.reason.startswith("checkout:error-rate is exhausted (150 % ")
    assert "; checkout:availability is exhausted (101 % " in gate.reason


def test_the_policy_in_force_is_the_services_own_then_the_wildcard_then_the_default():
    own, general = ErrorBudgetPolicy(freeze_when="burning"), ErrorBudgetPolicy(freeze_when="never")
    assert policy_for("checkout", {"checkout": own, "*": general}) is own
    assert policy_for("search", {"checkout": own, "*": general}) is general
    assert policy_for("search", {"checkout": own}) == DEFAULT_POLICY


def test_the_policies_are_read_from_the_slo_config_file():
    text = """
slos:
  - {name: availability, title: Availability, indicator: success_ratio, target: 0.999}
error_budget_policy:
  checkout: {freeze_when: burning}
  "*": {freeze_when: never}
"""
    assert parse_budget_policies(text) == {"checkout": ErrorBudgetPolicy(freeze_when="burning"),
                                           "*": ErrorBudgetPolicy(freeze_when="never")}
    assert parse_budget_policies("slos:\n  - {name: a, title: A, indicator: success_ratio, target: 0.9}\n") == {}


def test_an_unknown_policy_state_is_refused_at_start():
    with pytest.raises(SloDefinitionError, match="freeze_when"):
        parse_budget_policies("slos: []\nerror_budget_policy:\n  checkout: {freeze_when: sometimes}\n")


def test_each_slo_publishes_its_first_state_then_only_changes():
    statuses = [status("availability", 40, "page"), status("error-rate", 90)]
    first = state_changes(statuses=statuses, stored=[], now=NOW)
    assert [(e.slo, e.state, e.previous_state) for e in first] == [("availability", "burning", None), ("error-rate", "healthy", None)]
    stored = [StoredState(e.service, e.slo, e.state, e.since) for e in first]
    assert state_changes(statuses=statuses, stored=stored, now=NOW) == []
    later = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    [changed] = state_changes(statuses=[status("availability", -3, "exhausted"), status("error-rate", 90)], stored=stored, now=later)
    assert (changed.state, changed.previous_state, changed.remaining_fraction, changed.since) == ("exhausted", "burning", -0.03, later)


def test_the_budget_event_is_keyed_by_service_and_slo_and_its_id_is_stable():
    [e] = state_changes(statuses=[status("availability", 40, "page")], stored=[], now=NOW)
    [again] = state_changes(statuses=[status("availability", 40, "page")], stored=[], now=NOW)
    assert e.event_id == again.event_id
    key, value, _headers = encode(e, ce_source="/vigil/slo")
    assert key == b"checkout\x1favailability"
    assert decode(BudgetStateChanged, value) == e
