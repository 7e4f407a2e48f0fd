"""The report schedule's maths: which period each report covers, when it is due (business days,
holidays, DST), the next and the latest due, and catch-up after downtime."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from services.incidents.ops.schedule import (
    KINDS, Produce, ReportSchedule, Reschedule, Rule, Supersede, announcement, due_at, latest_due, next_due, on_claimed,
    parse_rule, period_of,
)
from shared.business_calendar import BusinessCalendar

NY = "America/New_York"


def schedule(zone: str = NY, country: str | None = "US", **rules: str | None) -> ReportSchedule:
    texts = {"daily_check": "09:00", "weekly_review": "mon 10:00", "monthly_review": "10:00", "reminders": "off", **rules}
    return ReportSchedule(zone=zone, calendar=BusinessCalendar(zone=zone, country=country),
                          rules={k: parse_rule(k, texts[k]) for k in KINDS})


def local(text: str, zone: str = NY) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def every_due(s: ReportSchedule, kind: str, start: datetime, end: datetime) -> list:
    out, at = [], start
    while (d := next_due(s, kind, at)) is not None and d.due_at < end:
        out.append(d)
        at = d.due_at
    return out


def test_rules_parse_and_refuse_what_they_cannot_mean():
    assert parse_rule("daily_check", "09:00") == Rule(time(9))
    assert parse_rule("weekly_review", "Fri 16:30") == Rule(time(16, 30), weekday=4)
    assert parse_rule("weekly_review", "10:00") == Rule(time(10), weekday=0)
    assert parse_rule("monthly_review", "off") is None and parse_rule("daily_check", "") is None
    for kind, text in (("daily_check", "25:00"), ("daily_check", "mon 09:00"), ("weekly_review", "xyz 10:00"),
                       ("monthly_review", "9am")):
        with pytest.raises(ValueError):
            parse_rule(kind, text)


def test_daily_checks_of_november_skip_weekends_and_the_two_federal_holidays_and_follow_dst():
    s = schedule()
    dues = every_due(s, "daily_check", local("2026-10-31T12:00"), local("2026-12-01T00:00"))
    days = [d.period.first_day for d in dues]
    assert date(2026, 11, 11) not in days and date(2026, 11, 26) not in days  # Veterans Day, Thanksgiving
    assert all(d.weekday() < 5 for d in days)
    assert len(days) == 21 - 2  # 21 weekdays in November 2026, two of them holidays
    assert all(d.due_at.astimezone(ZoneInfo(NY)).time() == time(9) for d in dues)
    # DST ended on Sunday 1 November: 09:00 was 13:00 UTC on Friday 30 October, 14:00 UTC on Monday.
    assert dues[0].period.label == "2026-11-02" and dues[0].due_at == datetime(2026, 11, 2, 14, tzinfo=UTC)
    assert next_due(s, "daily_check", local("2026-10-30T08:00")).due_at == datetime(2026, 10, 30, 13, tzinfo=UTC)


def test_the_weekly_review_covers_the_week_before_its_monday():
    s = schedule()
    d = next_due(s, "weekly_review", local("2026-11-04T12:00"))
    assert d.period.label == "2026-W45" and d.period.first_day == date(2026, 11, 2)
    assert d.due_at == local("2026-11-09T10:00").astimezone(UTC)
    friday = schedule(weekly_review="fri 16:00")
    # The weekday is in the week after the one reviewed: on Wednesday 4 November, W44 (26 Oct – 1 Nov) is next.
    d = next_due(friday, "weekly_review", local("2026-11-04T12:00"))
    assert d.period.label == "2026-W44" and d.due_at == local("2026-11-06T16:00").astimezone(UTC)


def test_the_monthly_review_is_on_the_first_business_day_of_the_month_after():
    s = schedule()
    assert due_at(s, "monthly_review", period_of("monthly_review", "2026-10", NY)) == local("2026-11-02T10:00").astimezone(UTC)
    # 1 January is a holiday and 2-3 January 2027 a weekend: Monday the 4th.
    assert due_at(s, "monthly_review", period_of("monthly_review", "2026-12", NY)) == local("2027-01-04T10:00").astimezone(UTC)


def test_a_time_the_clocks_skip_is_the_transition():
    berlin = schedule(zone="Europe/Berlin", country=None, weekly_review="sun 02:30")
    d = next_due(berlin, "weekly_review", datetime(2027, 3, 22, tzinfo=UTC))
    assert d.period.label == "2027-W11" and d.due_at == datetime(2027, 3, 28, 1, tzinfo=UTC)  # 03:00 CEST


def test_a_kind_turned_off_is_never_due():
    s = schedule(daily_check="off")
    assert next_due(s, "daily_check", local("2026-11-02T00:00")) is None
    assert latest_due(s, "daily_check", local("2026-11-02T12:00")) is None
    assert s.enabled() == ["weekly_review", "monthly_review"]


def test_catch_up_after_downtime_produces_only_the_latest_period():
    s = schedule()
    # Down from Friday 6 November 08:00 to Tuesday 10 November 12:00: the row planned was Friday's.
    now = local("2026-11-10T12:00")
    decision = on_claimed(s, "daily_check", "2026-11-06", now)
    assert isinstance(decision, Supersede) and decision.latest.period.label == "2026-11-10"
    assert on_claimed(s, "daily_check", "2026-11-10", now) == Produce(decision.latest)
    # Before 09:00 on Wednesday 11 (a holiday) the latest is still Tuesday's.
    assert latest_due(s, "daily_check", local("2026-11-11T23:00")).period.label == "2026-11-10"
    assert on_claimed(schedule(daily_check="off"), "daily_check", "2026-11-06", now) is None


def test_a_row_planned_under_old_rules_moves_later_or_is_dropped():
    now = local("2026-11-06T09:05")
    later = schedule(daily_check="11:00")
    assert on_claimed(later, "daily_check", "2026-11-06", now) == Reschedule("daily_check", "2026-11-06",
                                                                            local("2026-11-06T11:00").astimezone(UTC))
    # Weekly moved from Monday to Friday: W45's row planned for Monday 9 November is due Friday the 13th.
    friday = schedule(weekly_review="fri 10:00")
    assert on_claimed(friday, "weekly_review", "2026-W45", local("2026-11-09T10:05")).due_at == \
        local("2026-11-13T10:00").astimezone(UTC)
    assert on_claimed(schedule(country="US"), "daily_check", "2026-11-11", local("2026-11-11T09:05")) is None  # a holiday


def test_period_labels_read_back():
    for kind, label in (("daily_check", "2026-11-26"), ("weekly_review", "2026-W53"), ("monthly_review", "2026-02")):
        assert period_of(kind, label, NY).label == label


ZONES = st.sampled_from(["UTC", NY, "Europe/Berlin", "Australia/Lord_Howe", "Asia/Tokyo"])
INSTANTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@settings(max_examples=150, deadline=None)
@given(zone=ZONES, now=INSTANTS, at=TIMES, kind=st.sampled_from(KINDS))
def test_next_and_latest_due_bracket_now_and_nothing_falls_between(zone, now, at, kind):
    texts = {"daily_check": at.strftime("%H:%M"), "weekly_review": at.strftime("wed %H:%M"),
             "monthly_review": at.strftime("%H:%M"), "reminders": at.strftime("%H:%M")}
    s = ReportSchedule(zone=zone, calendar=BusinessCalendar(zone=zone, country="DE"),
                       rules={k: parse_rule(k, texts[k]) for k in KINDS})
    latest, following = latest_due(s, kind, now), next_due(s, kind, now)
    assert latest.due_at <= now < following.due_at
    assert next_due(s, kind, latest.due_at - timedelta(microseconds=1)) == latest
    assert next_due(s, kind, latest.due_at) == following  # consecutive: no period is skipped between them
    daily = kind in ("daily_check", "reminders")  # due during the day they are about, business days only
    assert latest.period.end <= following.period.start or daily
    assert following.due_at >= following.period.end or daily
    if daily:
        assert s.calendar.is_business_day(following.period.first_day)


def test_the_announcement_names_what_needs_someone_and_the_reviews_headline():
    checks = [{"label": "Runbooks current", "status": "no_data"}, {"label": "Error budgets left", "status": "fail"},
              {"label": "All services healthy", "status": "warn"}, {"label": "No critical alerts", "status": "pass"},
              {"label": "Resource utilisation", "status": "not_checked"}]
    title, summary = announcement("daily_check", "2026-11-02", {"checks": checks})
    assert title == "Daily operations check 2026-11-02"
    assert summary == ("1 of 5 checks pass. Failing: Error budgets left. To look at: All services healthy. "
                       "No data: Runbooks current. Not checked: Resource utilisation.")
    review = {"incidents": [{}, {}], "severity_summary": [{"label": "SEV1", "count": 0}, {"label": "SEV2", "count": 2}],
              "attainment_percent": 50.0, "action_items": [{"overdue": True}, {"overdue": False}]}
    assert announcement("weekly_review", "2026-W45", review) == (
        "Weekly operations review 2026-W45", "2 incidents (SEV2 2); response targets met 50%; 2 open action items (1 overdue).")
