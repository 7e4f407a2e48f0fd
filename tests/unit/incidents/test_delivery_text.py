"""The timeline line of a notifier delivery: who was reached through what, what the peer said, how
many attempts it took, and how many other incidents the same message carried."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.incidents.paging import delivery_text
from shared.events import DeliveryUpdated


def delivery(**fields) -> DeliveryUpdated:
    values = dict(event_id="e", occurred_at=datetime(2026, 12, 2, 12, tzinfo=UTC), source="notifier",
                  delivery_id="d", incident_id=12, page_id="p", person="alice", method="email", kind="email",
                  state="sent", attempts=1)
    return DeliveryUpdated(**{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (dict(answer="250 2.0.0 Ok"), "email to alice accepted by SMTP: 250 2.0.0 Ok (attempt 1)"),
        (dict(person="bob", method="slack", kind="slack", state="failed", attempts=5,
              error="HTTP 410 channel_is_archived"),
         "slack to bob failed after 5 attempts: HTTP 410 channel_is_archived"),
        (dict(person="carol", method="webhook", kind="webhook", state="cancelled", attempts=0, error="acknowledged"),
         "webhook to carol cancelled (acknowledged)"),
        (dict(method="hook", kind="webhook", answer="HTTP 204", attempts=3),
         "webhook (hook) to alice accepted by the webhook receiver: HTTP 204 (attempt 3)"),
        (dict(method="phone", kind="apprise", attempts=2), "apprise (phone) to alice accepted by Apprise (attempt 2)"),
        (dict(state="failed", attempts=1, answer="550 5.1.1 no such user"),
         "email to alice failed after 1 attempt: 550 5.1.1 no such user"),
        (dict(state="cancelled", attempts=0), "email to alice cancelled"),
        (dict(answer="250 Ok", bundled_with=11), "email to alice accepted by SMTP: 250 Ok (attempt 1) (with 11 other incidents)"),
        (dict(kind="slack", method="slack", answer="ok", bundled_with=1),
         "slack to alice accepted by Slack: ok (attempt 1) (with 1 other incident)"),
    ],
)
def test_a_delivery_reads_as_one_timeline_line(fields, text):
    assert delivery_text(delivery(**fields)) == text
