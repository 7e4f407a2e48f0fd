"""The severity table (operations process 2.2 and 1.3) and the SEV4 response deadline on the
business calendar: the close of business on the day the escalator's ticket falls due."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.incidents.lifecycle import Incident, durations
from services.incidents.severities import BY_SEVERITY, SEVERITIES, severity_table
from services.incidents.severity import response_deadline
from shared.business_calendar import BusinessCalendar

BERLIN = ZoneInfo("Europe/Berlin")
GERMANY = BusinessCalendar(zone="Europe/Berlin", country="DE")
NEW_YORK = BusinessCalendar(zone="America/New_York", country="US", opens=time(8), closes=time(18))


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize("detected, due", [
    # Friday afternoon, during hours: Monday's close (17:00 CET = 16:00 UTC).
    (berlin(2026, 11, 27, 15), berlin(2026, 11, 30, 17)),
    # Friday evening and Saturday: Monday's close too.
    (berlin(2026, 11, 27, 19), berlin(2026, 11, 30, 17)),
    (berlin(2026, 11, 28, 11), berlin(2026, 11, 30, 17)),
    # Monday before opening: that day's close (the ticket is due at Monday's opening).
    (berlin(2026, 11, 30, 7), berlin(2026, 11, 30, 17)),
    # The day before Christmas Eve (Wed): Christmas Day and Boxing Day are holidays in DE, Thursday
    # the 24th is not, so Thursday's close; on Thursday the 24th: Monday the 28th (25th, 26th off, 27th Sunday).
    (berlin(2026, 12, 23, 10), berlin(2026, 12, 24, 17)),
    (berlin(2026, 12, 24, 10), berlin(2026, 12, 28, 17)),
    # Before Easter: Thursday 2027-03-25 → Good Friday and Easter Monday off → Tuesday the 30th,
    # which is in summer time (CEST, UTC+2) while detection was in winter time.
    (berlin(2027, 3, 25, 10), berlin(2027, 3, 30, 17)),
])
def test_sev4_is_due_at_the_close_of_the_next_business_day_in_the_calendar_zone(detected, due):
    assert response_deadline(4, detected, GERMANY) == due.astimezone(UTC)


def test_sev4_across_the_autumn_clock_change_keeps_local_closing_time():
    # Friday 2026-10-23 in Berlin (CEST); Monday 2026-10-26 is after the clocks went back (CET).
    due = response_deadline(4, berlin(2026, 10, 23, 12), GERMANY)
    assert due == datetime(2026, 10, 26, 16, tzinfo=UTC)  # 17:00 CET
    assert due.astimezone(BERLIN).hour == 17


def test_sev4_before_a_us_public_holiday_skips_it_in_new_york():
    # Wednesday before Thanksgiving (2026-11-26), at 20:00 New York = Thursday 01:00 UTC: the
    # next business day is Friday the 27th, closing at 18:00 EST.
    detected = datetime(2026, 11, 26, 1, tzinfo=UTC)
    assert response_deadline(4, detected, NEW_YORK) == datetime(2026, 11, 27, 23, tzinfo=UTC)


def test_sev1_to_sev3_ignore_the_calendar():
    detected = berlin(2026, 11, 28, 3)  # Saturday night
    for sev, minutes in ((1, 5), (2, 15), (3, 60)):
        assert response_deadline(sev, detected, GERMANY) == detected + timedelta(minutes=minutes)


def test_durations_use_the_given_calendar_for_attainment():
    detected = berlin(2026, 12, 24, 10)
    incident = Incident(id=1, status="investigating", severity=4, severity_source="alerts", detected_at=detected,
                        started_at=detected, acknowledged_at=berlin(2026, 12, 28, 9))
    assert durations(incident, now=berlin(2026, 12, 29), calendar=GERMANY).response_target_met is True
    # Without holidays the 25th is a business day: acknowledged on the 28th is late.
    assert durations(incident, now=berlin(2026, 12, 29)).response_target_met is False


def test_the_severity_table_follows_the_operations_process():
    assert [d.label for d in SEVERITIES] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert BY_SEVERITY[1].definition == "Complete outage, all users affected"
    assert BY_SEVERITY[1].examples == ("Site down", "Data loss")
    assert BY_SEVERITY[2].examples == ("Core feature broken",)
    assert BY_SEVERITY[3].definition == "Moderate impact, some users affected"
    assert BY_SEVERITY[4].examples == ("Non-critical bug",)
    assert [(d.level, d.response_target_s, d.escalation) for d in SEVERITIES] == [
        ("critical", 300, "Immediate page"), ("high", 900, "Page if not ack'd"), ("medium", 3600, "Ticket"),
        ("low", None, "Ticket")]
    assert BY_SEVERITY[2].help_text == ("Major impact, most users affected (e.g. core feature broken) — respond within "
                                        "15 minutes; page if not ack'd")


def test_the_api_table_says_when_sev4_is_due_with_the_calendar_in_force():
    rows = {r["label"]: r for r in severity_table(GERMANY)}
    assert rows["SEV1"]["response_due"] == "5 minutes after detection"
    assert rows["SEV4"]["response_due"] == ("close of business (17:00 Europe/Berlin) on the next business day (business "
                                            "hours 09:00-17:00 Mon, Tue, Wed, Thu, Fri; DE public holidays skipped)")
    assert rows["SEV4"]["examples"] == ["Non-critical bug"]


def test_the_incident_service_settings_make_the_calendar_and_refuse_hours_that_cannot_work():
    from pydantic import ValidationError

    from services.incidents.config import IncidentsSettings

    settings = IncidentsSettings(incidents_business_hours="08:00-18:00", incidents_report_zone="Europe/Berlin",
                                 incidents_business_country="DE")
    assert settings.business_calendar() == BusinessCalendar(zone="Europe/Berlin", opens=time(8), closes=time(18), country="DE")
    with pytest.raises(ValueError, match="must be before closes"):
        IncidentsSettings(incidents_business_hours="18:00-08:00").business_calendar()
    with pytest.raises(ValidationError):
        IncidentsSettings(incidents_business_hours="9-17")
