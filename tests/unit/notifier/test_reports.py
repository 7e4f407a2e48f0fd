"""What a scheduled report becomes in the notifier: which recipients are addresses (and of which
kind) and which are people, and the message and webhook body that name the report and link to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.notifier.reports import address_kind, address_method, recipient_source_id, report_notice, webhook_body
from shared.events import ReportPublished


def report(url: str | None = "https://console.example/operations/reports/daily-check/2026-11-02") -> ReportPublished:
    return ReportPublished(
        event_id=ReportPublished.id_for(kind="daily_check", period="2026-11-02"), occurred_at=datetime(2026, 11, 2, 14, tzinfo=UTC),
        source="incidents", kind="daily_check", period="2026-11-02", title="Daily operations check 2026-11-02",
        summary="7 of 10 checks pass. Failing: Error budgets. No data: Runbooks current.", url=url,
        recipients=("ops@example.com", "erin"))


@pytest.mark.parametrize(("recipient", "kind"), [
    ("ops@example.com", "email"), ("slack:#ops", "slack"), ("https://hooks.slack.com/services/T/B/x", "slack"),
    ("https://ops.example/hooks/vigil", "webhook"), ("tgram://bot/chat", "apprise"), ("erin", None), ("Erin Smith", None),
])
def test_an_address_says_its_kind_and_a_name_is_a_person(recipient, kind):
    assert address_kind(recipient) == kind
    method = address_method(recipient)
    assert (method.kind if method else None) == kind


def test_an_address_keeps_its_method_id_and_each_recipient_its_own_deliveries():
    assert address_method("ops@example.com").id == address_method(" ops@example.com ").id != address_method("b@example.com").id
    r = report()
    assert recipient_source_id(r, "erin") == recipient_source_id(r, "erin") != recipient_source_id(r, "ops@example.com")


def test_the_message_names_the_report_says_what_needs_someone_and_links_to_its_page():
    notice = report_notice(report(), person="erin")
    assert notice.subject == "Daily operations check 2026-11-02"
    assert "Failing: Error budgets." in notice.summary
    assert notice.links == (("Open the report", "https://console.example/operations/reports/daily-check/2026-11-02"),)
    assert report_notice(report(url=None), person="erin").links == ()
    assert report_notice(report(url="javascript:alert(1)"), person="erin").links == ()
    body = json.loads(webhook_body(report(), notice, delivery_id="d1"))
    assert body["type"] == "report.v1" and body["period"] == "2026-11-02" and body["url"].endswith("/2026-11-02")
