"""Shift notices end to end, on the real broker, PostgreSQL and a real SMTP server: the escalator with
the example configuration (platform: alice/bob primary, carol/dave backup, handoff Monday 09:00
Berlin, 30 min overlap) announces who starts and who stops being on call 15 minutes ahead, and the
notifier mails each of them once — with two escalator replicas running, and after a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from services.escalator.config import EXAMPLE_CONFIG
from shared.events import Topic
from tests.escalator_support import run_escalator
from tests.peers import smtp_server
from tests.support import ManualClock, TopicCursor, wait_for

pytestmark = pytest.mark.integration

# Monday 7 December 2026, shift 48 of the example rotations (anchor Monday 5 January): alice takes
# over the primary from bob and carol the backup from dave at 09:00 Berlin, 08:00 UTC; bob and dave
# stay on call through the overlap, until 08:30 UTC.
HANDOFF = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
OVERLAP_END = HANDOFF + timedelta(minutes=30)
FAST = {"escalator_shift_notice_interval_s": 0.2}  # the job looks every 200 ms instead of every minute


def mails_to(mail, person: str) -> list:
    return [m for m in mail.store.all() if m.to == f"{person}@example.com"]


async def test_people_are_mailed_once_before_they_start_and_stop_being_on_call(
        running_escalator, running_notifier, kafka_broker, topic_prefix, tmp_path):
    clock = ManualClock(HANDOFF - timedelta(hours=1))
    config = EXAMPLE_CONFIG.read_text()
    with smtp_server() as mail, running_notifier(
        clock=clock, notifier_smtp_host="127.0.0.1", notifier_smtp_port=mail.smtp_port, notifier_smtp_security="none",
        notifier_mail_domain="vigil.test", notifier_max_idle_s=0.2,
    ) as notifier:
        outcomes = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.DELIVERIES)
        with run_escalator(running_escalator, tmp_path, clock=clock, config=config, **FAST):
            time.sleep(1.0)
            assert mail.store.all() == [], "an hour before the handoff nobody is told anything"

            clock.now = HANDOFF - timedelta(minutes=15)
            with run_escalator(running_escalator, tmp_path, clock=clock, config=config, **FAST):  # a second replica
                received = mail.store.wait_for(lambda ms: {m.to for m in ms} >= {"alice@example.com", "carol@example.com"},
                                               timeout_s=60)
                time.sleep(1.0)  # both replicas keep looking: nothing more may come
        assert {m.to for m in received} == {"alice@example.com", "carol@example.com"}
        [alice] = mails_to(mail, "alice")
        assert alice.subject == "You are on call for platform from 2026-12-07 08:00 UTC"
        assert "You are the primary on call for platform from 2026-12-07 08:00 UTC until 2026-12-14 08:30 UTC." in alice.text
        assert "/ack/" not in alice.text and alice.in_reply_to == "", "no incident: no links, no thread"
        [carol] = mails_to(mail, "carol")
        assert "the backup on call" in carol.text

        # A restart (both replicas gone, a new process) during the outgoing people's lead: the incoming
        # people's boundary is still within its lead, and is not announced again.
        clock.now = OVERLAP_END - timedelta(minutes=15)
        with run_escalator(running_escalator, tmp_path, clock=clock, config=config, **FAST):
            mail.store.wait_for(lambda ms: {m.to for m in ms} >= {"bob@example.com", "dave@example.com"}, timeout_s=60)
            time.sleep(1.0)
        [bob] = mails_to(mail, "bob")
        assert bob.subject == "Your on-call shift for platform ends at 2026-12-07 08:30 UTC"
        assert "You stop being the primary on call for platform at 2026-12-07 08:30 UTC." in bob.text
        [dave] = mails_to(mail, "dave")
        assert "the backup on call" in dave.text
        assert len(mail.store.all()) == 4, [(m.to, m.subject) for m in mail.store.all()]

        deliveries = wait_for(lambda: (d := notifier.client("viewer").get("/api/v1/people/alice/deliveries").json())
                              and d[0]["state"] == "sent" and d, timeout_s=10, what="alice's delivery recorded as sent")
        assert [(d["source"], d["title"], d["incident_id"]) for d in deliveries] == [
            ("shift", "On call for platform (primary)", 0)]
    assert await outcomes.read(expected=0, timeout_s=1, settle_s=1) == [], "shift notices have no incident timeline"
