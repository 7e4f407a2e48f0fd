"""A scheduled report from the incident service to people's mailboxes, end to end: the schedule
produces the daily check at 09:00 (a clock the test moves), `ReportPublished` leaves through the
incident service's outbox on vigil.reports.v1, and the notifier mails it — to an address given
directly and to a person by their notify rules — through a real SMTP server, with the link to the
report's console page; a redelivered event sends nothing more."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared.events import ContactMethod, PersonUpdated, ReportPublished
from tests.integration.notifier.test_delivery import publish
from tests.peers import smtp_server
from tests.support import ManualClock

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
TITLE = "Daily operations check 2026-11-02"


async def test_the_daily_check_is_mailed_to_an_address_and_a_person_with_its_link_once(
        running_incidents, running_notifier, kafka_broker, topic_prefix, database_url):
    clock = ManualClock(datetime(2026, 11, 2, 8, 30, tzinfo=NY))
    erin = PersonUpdated(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), source="test", person="erin",
                         revision=1, contact_methods=(ContactMethod(id="email", kind="email", address="erin@example.com"),))
    with smtp_server() as mail, running_notifier(
        notifier_smtp_host="127.0.0.1", notifier_smtp_port=mail.smtp_port, notifier_smtp_security="none",
        notifier_max_idle_s=0.2,
    ), running_incidents(
        clock=clock, incidents_report_zone="America/New_York", incidents_business_country="US",
        incidents_schedule_check_s=0.05, incidents_public_url="https://console.example",
        incidents_report_recipients=["ops@example.com", "erin"], incidents_weekly_review_at="off", incidents_reminders_at="off",
        incidents_monthly_review_at="off",
    ) as incidents:
        await publish(kafka_broker, topic_prefix, erin)
        conn = await asyncpg.connect(database_url)
        try:  # the schedule has planned today's 09:00 before the clock passes it
            for _ in range(200):
                if await conn.fetchval("SELECT count(*) FROM incidents.report_timer WHERE period = '2026-11-02'"):
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        clock.now = datetime(2026, 11, 2, 9, 1, tzinfo=NY)

        sent = mail.store.wait_for(lambda ms: len([m for m in ms if m.subject == TITLE]) >= 2, timeout_s=30)
        mine = [m for m in sent if m.subject == TITLE]
        assert sorted(m.to for m in mine) == ["erin@example.com", "ops@example.com"]
        for message in mine:
            assert "https://console.example/operations/reports/daily-check/2026-11-02" in message.text
            assert "checks pass" in message.text  # the summary: how many pass, and what needs someone
            assert 'href="https://console.example/operations/reports/daily-check/2026-11-02"' in message.html
        [stored] = incidents.client("viewer").get("/api/v1/reports", params={"kind": "daily_check"}).json()
        assert stored["period"] == "2026-11-02" and stored["generated_by"] == "schedule"

        # The same event again (a redelivery): the deliveries exist already, nothing more is sent.
        again = ReportPublished(
            event_id=ReportPublished.id_for(kind="daily_check", period="2026-11-02"), occurred_at=clock(),
            source="test", kind="daily_check", period="2026-11-02", title=TITLE, summary="again",
            recipients=("ops@example.com", "erin"))
        await publish(kafka_broker, topic_prefix, again)
        await asyncio.sleep(1.0)
        assert len([m for m in mail.store.all() if m.subject == TITLE]) == 2
