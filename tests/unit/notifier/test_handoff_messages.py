"""What the handoff flow's messages (ReportPublished kinds handoff_due, handoff_ack,
handoff_unacknowledged) become in the notifier: the title and summary say what to do, and the link
says it too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifier.reports import report_notice, webhook_body
from shared.events import ReportPublished

URL = "https://console.example/operations/handoffs/7"


@pytest.mark.parametrize(("kind", "title", "link"), [
    ("handoff_due", "Complete your on-call handoff to alice (ops)", "Complete the handoff"),
    ("handoff_ack", "Acknowledge the on-call handoff from bob (ops)", "Read and acknowledge the handoff"),
    ("handoff_unacknowledged", "On-call handoff bob → alice (ops) not acknowledged", "Open the handoff"),
])
def test_each_handoff_message_says_what_to_do_and_links_to_the_handoff(kind, title, link):
    message = ReportPublished(
        event_id=ReportPublished.id_for(kind=kind, period="H-7"), occurred_at=datetime(2026, 12, 7, 8, tzinfo=UTC),
        source="incidents", kind=kind, period="H-7", title=title, summary="You hand ops over to alice at 09:00.", url=URL,
        recipients=("bob",))
    notice = report_notice(message, person="bob")
    assert (notice.subject, notice.links) == (title, ((link, URL),))
    assert f'"report_kind": "{kind}"' in webhook_body(message, notice, delivery_id="d-1")
