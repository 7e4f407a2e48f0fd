"""The timeline lines of the escalator's pages and tickets, and the one line per incident that says
why the error-budget policy changed its escalation (carried by its pages and tickets as
`policy_note`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.incidents.lifecycle import Entry
from services.incidents.paging import page_entry, policy_entry, ticket_entry
from shared.events import PageRequested, TicketRequested

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
NOTE = "medium → page: checkout's error budget is exhausted (availability: -4 % left)"


def page(**fields) -> PageRequested:
    values = dict(event_id="e", occurred_at=NOW, source="escalator", page_id="p", incident_id=12, number="INC-12",
                  severity=3, title="t", target="bob", reason="initial", step=0)
    return PageRequested(**{**values, **fields})


def ticket(**fields) -> TicketRequested:
    values = dict(event_id="e", occurred_at=NOW, source="escalator", ticket_id="T-1", incident_id=12, number="INC-12",
                  severity=4, title="t", due_at=NOW + timedelta(days=1))
    return TicketRequested(**{**values, **fields})


def test_a_page_says_who_was_paged_and_why():
    assert page_entry(page()) == Entry("page", "paged bob (initial)", "escalator")
    assert page_entry(page(channel="notify", target="ana", reason="escalation")).text == "notified ana (escalation)"


def test_a_ticket_says_its_id_and_due_time():
    assert ticket_entry(ticket()) == Entry("ticket", "ticket T-1 due 2026-12-07T12:00:00+00:00", "escalator")


def test_a_page_or_ticket_without_a_policy_note_adds_no_budget_line():
    assert policy_entry(page()) is None
    assert policy_entry(ticket()) is None


def test_the_budget_policy_line_says_why_the_escalation_changed():
    entry, key = policy_entry(page(policy_note=NOTE))
    assert entry == Entry("budget_policy", f"escalation changed by the error-budget policy: {NOTE}", "escalator")
    assert key == "budget-policy:12"


def test_every_page_and_ticket_of_an_incident_shares_one_budget_line_key():
    keys = {policy_entry(e)[1] for e in (page(policy_note=NOTE), page(page_id="p2", target="ana", policy_note=NOTE),
                                         ticket(policy_note=NOTE))}
    assert keys == {"budget-policy:12"}
    assert policy_entry(page(incident_id=13, policy_note=NOTE))[1] == "budget-policy:13"
