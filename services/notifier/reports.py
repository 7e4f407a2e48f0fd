"""PURE: what a scheduled operations report (`ReportPublished`) becomes. A recipient is a person the
notifier knows (their non-paging rules decide how) or an address, which becomes a contact method of
its own (`address_method`): an e-mail address, `slack:#channel` or a Slack incoming-webhook URL, an
https webhook URL (the body is `report.v1`, signed as person `reports` with the method id here), or
an Apprise URL (any other `scheme://`). The message names the report, says what needs attention and
links to its console page."""

from __future__ import annotations

import hashlib
import json

from services.notifier.messages import Notice, one_line, web_url
from shared.events import ContactKind, ContactMethod, ReportPublished, deterministic_id

ADDRESS_PERSON = "reports"  # the "person" of deliveries to an address (throttling, webhook secrets)
SLACK_WEBHOOKS = ("https://hooks.slack.com/",)


def address_kind(recipient: str) -> ContactKind | None:
    """The contact kind of an address, or None when `recipient` names a person."""
    text = recipient.strip()
    if text.startswith("slack:") or text.startswith(SLACK_WEBHOOKS):
        return "slack"
    if text.startswith(("https://", "http://")):
        return "webhook"
    if "://" in text:
        return "apprise"
    if "@" in text and " " not in text:
        return "email"
    return None


def address_method(recipient: str) -> ContactMethod | None:
    """The contact method an address is, with an id stable per address; None for a person's name."""
    kind = address_kind(recipient)
    if kind is None:
        return None
    digest = hashlib.sha1(recipient.strip().encode(), usedforsecurity=False).hexdigest()[:10]
    return ContactMethod(id=f"report-{digest}", kind=kind, address=recipient.strip(), label="report recipient")


def recipient_source_id(report: ReportPublished, recipient: str) -> str:
    """The id deliveries of one report to one recipient derive from: the same on every redelivery."""
    return deterministic_id("report-delivery", report.event_id, recipient.strip())


# What the link of each kind asks the reader to do (the title and summary say why).
LINK_TEXT = {"handoff_due": "Complete the handoff", "handoff_ack": "Read and acknowledge the handoff",
             "handoff_unacknowledged": "Open the handoff"}


def report_notice(report: ReportPublished, *, person: str) -> Notice:
    heading = one_line(report.title, limit=150)
    link = web_url(report.url)
    label = LINK_TEXT.get(report.kind, "Open the report")
    return Notice(kind="report", person=person, subject=heading, heading=heading,
                  summary=one_line(report.summary, limit=600), links=((label, link),) if link else ())


def webhook_body(report: ReportPublished, notice: Notice, *, delivery_id: str) -> str:
    """The webhook body of a report (`report.v1`)."""
    return json.dumps({
        "type": "report.v1", "delivery_id": delivery_id, "report_kind": report.kind, "period": report.period,
        "title": report.title, "summary": report.summary, "url": web_url(report.url), "subject": notice.subject,
    })
