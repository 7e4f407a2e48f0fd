"""The notifier and a shift notice (vigil.shifts.v1), against the real broker, PostgreSQL and a real
Standard Webhooks receiver: it goes through the person's notify rules as a signed `shift.v1` body,
once however often it is redelivered, and a notice read long after its boundary is dropped."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.senders.webhook import derive_secret
from shared.events import ContactMethod, NotificationStep, PersonUpdated, ShiftNotice
from tests.integration.notifier.test_delivery import publish
from tests.peers import webhook_receiver
from tests.support import ManualClock, wait_for

pytestmark = pytest.mark.integration

WEBHOOK_KEY = "test-webhook-key-0123456789-abcdefghij"


def notice(person: str, *, at: datetime, now: datetime, kind: str = "starting") -> ShiftNotice:
    schedule = f"platform-{uuid.uuid4().hex[:6]}"
    notice_id = ShiftNotice.id_for(schedule=schedule, tier="backup", person=person, kind=kind, at=at)
    return ShiftNotice(event_id=notice_id, occurred_at=now, source="test", notice_id=notice_id, person=person,
                       schedule=schedule, tier="backup", kind=kind, at=at, until=at + timedelta(days=7))


async def test_a_shift_notice_goes_by_the_notify_rules_as_a_signed_shift_body_once(
        running_notifier, kafka_broker, topic_prefix):
    clock = ManualClock(datetime(2026, 12, 7, 7, 45, tzinfo=UTC))
    with webhook_receiver(derive_secret(WEBHOOK_KEY.encode(), "erin", "hook")) as receiver, running_notifier(
        clock=clock, notifier_webhook_key=WEBHOOK_KEY, notifier_max_idle_s=0.2,
    ) as notifier:
        erin = PersonUpdated(
            event_id=str(uuid.uuid4()), occurred_at=clock(), source="test", person="erin", revision=1,
            contact_methods=(ContactMethod(id="email", kind="email", address="erin@example.com"),
                             ContactMethod(id="hook", kind="webhook", address=receiver.url + "/erin")),
            page_rules=(NotificationStep(after_s=0, method="email"),), notify_rules=(NotificationStep(after_s=0, method="hook"),),
        )
        boundary = clock() + timedelta(minutes=15)
        due, stale = notice("erin", at=boundary, now=clock()), notice("erin", at=clock() - timedelta(hours=2), now=clock())
        await publish(kafka_broker, topic_prefix, erin, stale, due, due)

        [received] = receiver.wait_for(1, timeout_s=30)
        body = received.json()
        assert received.headers["webhook-id"] != due.notice_id and body["delivery_id"] == received.headers["webhook-id"]
        assert {k: body[k] for k in ("type", "notice_id", "person", "schedule", "tier", "kind", "at", "until")} == {
            "type": "shift.v1", "notice_id": due.notice_id, "person": "erin", "schedule": due.schedule, "tier": "backup",
            "kind": "starting", "at": "2026-12-07T08:00:00+00:00", "until": "2026-12-14T08:00:00+00:00"}
        assert body["subject"] == f"You are on call for {due.schedule} from 2026-12-07 08:00 UTC"
        assert "the backup on call" in body["summary"]

        api = notifier.client("viewer")
        [delivery] = wait_for(lambda: (d := api.get(f"/api/v1/pages/{due.notice_id}/deliveries").json())
                              and d[0]["state"] == "sent" and d, timeout_s=10, what="the delivery recorded as sent")
        assert (delivery["source"], delivery["method"], delivery["incident_id"]) == ("shift", "hook", 0)
        time.sleep(1.0)  # the redelivered notice and the stale one: nothing more arrives
        assert len(receiver.deliveries) == 1 and receiver.rejected == []
        assert api.get(f"/api/v1/pages/{stale.notice_id}/deliveries").status_code == 404, "a stale notice is dropped"
