"""The daily reminder digests from the incident service to people's mailboxes, end to end: the
schedule's reminders run at 08:30 on a business day (a clock the test moves), one `ReportPublished`
per person leaves through the outbox, and the notifier mails each person their own digest through a
real SMTP server — once, nothing for someone with nothing due, nothing on a public holiday. An open
incident whose promised next update passed reminds its commander, once per promised time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared.events import ContactMethod, PersonUpdated
from tests.conftest import create_database
from tests.integration.notifier.test_delivery import publish
from tests.peers import smtp_server
from tests.support import ManualClock

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
TUESDAY = date(2026, 11, 10)  # Wednesday 11 November is Veterans Day: the next business day is Thursday


def person(name: str) -> PersonUpdated:
    return PersonUpdated(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), source="test", person=name, revision=1,
                         contact_methods=(ContactMethod(id="email", kind="email", address=f"{name}@example.com"),))


async def seed(conn: asyncpg.Connection) -> None:
    at = datetime(2026, 11, 1, 12, tzinfo=UTC)
    for title, owner, due_on in [("rotate keys", "erin", date(2026, 11, 2)), ("add alert", "erin", date(2026, 11, 12)),
                                 ("later", "erin", date(2026, 11, 20)), ("far away", "zed", date(2026, 12, 30))]:
        await conn.execute("INSERT INTO incidents.action_item (title, owner, priority, due_on, created_at, updated_at) "
                           "VALUES ($1, $2, 'P2', $3, $4, $4)", title, owner, due_on, at)
    incident = await conn.fetchval(
        "INSERT INTO incidents.incident (group_key, title, severity, status, commander, detected_by, started_at, "
        "detected_at, resolved_at) VALUES ('g-reminders', 'checkout down', 2, 'resolved', 'erin', 'alert', $1, $1, $1) "
        "RETURNING id", at)
    await conn.execute("INSERT INTO incidents.postmortem (incident_id, created_at, updated_at) VALUES ($1, $2, $2)",
                       incident, at)
    await conn.execute(  # promised an update at 08:20 New York time: erin is reminded once it passes
        "INSERT INTO incidents.incident (group_key, title, severity, status, commander, detected_by, started_at, "
        "detected_at, next_update_at) VALUES ('g-open', 'api slow', 3, 'investigating', 'erin', 'alert', $1, $1, $2)",
        at, datetime(2026, 11, 10, 8, 20, tzinfo=NY))
    await conn.execute("INSERT INTO incidents.runbook (name, owner, next_review_on, created_at, updated_at) "
                       "VALUES ('db failover', 'fay', '2026-11-01', $1, $1)", at)


async def wait_planned(conn: asyncpg.Connection, period: str) -> None:
    for _ in range(200):
        if await conn.fetchval("SELECT count(*) FROM incidents.report_timer WHERE kind = 'reminders' AND period = $1",
                               period):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the reminders of {period} were never planned")


async def test_each_person_gets_one_digest_of_their_own_once_and_the_commander_one_update_reminder(
        running_incidents, running_notifier, kafka_broker, topic_prefix, postgres_server):
    database = create_database(postgres_server)
    clock = ManualClock(datetime(2026, 11, 10, 8, 0, tzinfo=NY))
    with smtp_server() as mail, running_notifier(
        notifier_smtp_host="127.0.0.1", notifier_smtp_port=mail.smtp_port, notifier_smtp_security="none",
        notifier_max_idle_s=0.2,
    ), running_incidents(
        clock=clock, database_url=database, incidents_report_zone="America/New_York", incidents_business_country="US",
        incidents_schedule_check_s=0.05, incidents_public_url="https://console.example",
        incidents_daily_check_at="off", incidents_weekly_review_at="off", incidents_monthly_review_at="off",
    ):
        for name in ("erin", "fay"):
            await publish(kafka_broker, topic_prefix, person(name))
        conn = await asyncpg.connect(database)
        try:
            await seed(conn)
            await wait_planned(conn, "2026-11-10")
            clock.now = datetime(2026, 11, 10, 8, 31, tzinfo=NY)

            sent = mail.store.wait_for(lambda ms: len(ms) >= 3, timeout_s=30)
            assert sorted((m.to, m.subject) for m in sent) == [
                ("erin@example.com", "Reminders for erin, 2026-11-10"), ("erin@example.com", "Status update due: INC-2 api slow"),
                ("fay@example.com", "Reminders for fay, 2026-11-10")]
            update = next(m for m in sent if m.subject.startswith("Status update due"))
            assert "promised for 2026-11-10 08:20 America/New_York (11 min ago)" in update.text
            assert "https://console.example/incidents/INC-2" in update.text
            sent = [m for m in sent if m is not update]
            erin = next(m for m in sent if m.to == "erin@example.com")
            assert "1 action item overdue: rotate keys (due 2026-11-02)" in erin.text
            assert "1 action item due soon: add alert (due 2026-11-12)" in erin.text  # the next business day
            assert "later" not in erin.text
            assert "1 postmortem to publish" in erin.text and "checkout down" in erin.text
            assert "db failover" not in erin.text
            fay = next(m for m in sent if m.to == "fay@example.com")
            assert "1 runbook to review: db failover" in fay.text
            assert "https://console.example/operations/action-items" in fay.text

            # Veterans Day: no reminders that day; the next run is Thursday's.
            clock.now = datetime(2026, 11, 11, 9, 0, tzinfo=NY)
            await wait_planned(conn, "2026-11-12")
            await asyncio.sleep(1.0)
            assert len(mail.store.all()) == 3  # once per person per day, nothing on the holiday, one update reminder
            assert await conn.fetchval("SELECT count(*) FROM incidents.report_timer WHERE period = '2026-11-11'") == 0
            assert await conn.fetchval(
                "SELECT count(*) FROM incidents.outbox WHERE topic LIKE '%vigil.reports.v1'") == 3  # zed: nothing due
        finally:
            await conn.close()
