"""PURE: when the operations reports are produced on their own, and which period each covers.

The seed's calendar, each rule a wall-clock time in the report zone (or off):
- the daily check of day D at 09:00 on D, on business days only (no check on a weekend or a
  public holiday of the configured country);
- the weekly review of ISO week W on the Monday after it at 10:00 (any weekday can be set);
- the monthly review of month M on the first business day of the month after it at 10:00;
- the reminder digests of day D (ops/reminders.py) at 08:30 on D, on business days only.

A (kind, period) is due once, at `due_at`; the ticker keeps one durable row per (kind, period).
Catch-up after downtime produces only the latest period due (`latest_due`), never every period
missed. DST: a time the clocks skip is the transition, a repeated one its first occurrence
(shared.business_calendar.local_instant)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.incidents.ops.reports import Period, day_period, local_day, month_period, parse_month, week_period
from shared.business_calendar import BusinessCalendar, local_instant

KINDS = ("daily_check", "weekly_review", "monthly_review", "reminders")
DAILY = frozenset({"daily_check", "reminders"})  # one period a day, business days only
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far the search for a due time looks, in periods: a business calendar with no business day in
# ten years is refused by the calendar itself; this only bounds the loops.
SEARCH_PERIODS = 3700
_RULE = re.compile(r"^(?:(?P<day>[a-z]{3})\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})$")


@dataclass(frozen=True)
class Rule:
    """When one kind is produced: at `at` (local wall clock); `weekday` only for the weekly review."""

    at: time
    weekday: int = 0


def parse_rule(kind: str, text: str | None) -> Rule | None:
    """`"09:00"` (daily, monthly), `"mon 10:00"` or `"10:00"` (weekly, Monday by default), or
    `"off"` / empty → None. ValueError naming what is wrong otherwise."""
    if text is None or text.strip().lower() in ("", "off", "none", "false"):
        return None
    match = _RULE.match(text.strip().lower())
    if match is None or int(match["h"]) > 23 or int(match["m"]) > 59:
        raise ValueError(f"{kind}: {text!r} is not HH:MM" + (" or 'mon 10:00'" if kind == "weekly_review" else "") + " or 'off'")
    day = match["day"]
    if day is not None and (kind != "weekly_review" or day not in WEEKDAYS):
        raise ValueError(f"{kind}: {text!r}: a weekday ({', '.join(WEEKDAYS)}) is only for the weekly review")
    return Rule(at=time(int(match["h"]), int(match["m"])), weekday=WEEKDAYS.index(day) if day else 0)


@dataclass(frozen=True)
class ReportSchedule:
    """The rules of the three kinds (None: off) in the report zone, with the business calendar
    (weekends and the public holidays of its country) deciding which days are business days."""

    zone: str
    calendar: BusinessCalendar
    rules: dict[str, Rule | None]

    def enabled(self) -> list[str]:
        return [k for k in KINDS if self.rules.get(k) is not None]


@dataclass(frozen=True)
class Due:
    kind: str
    period: Period
    due_at: datetime  # UTC


def period_of(kind: str, label: str, zone: str) -> Period:
    """The period a stored label names: `2026-12-07`, `2026-W49`, `2026-12`."""
    if kind in DAILY:
        return day_period(date.fromisoformat(label), zone)
    if kind == "weekly_review":
        year, _, week = label.partition("-W")
        return week_period(date.fromisocalendar(int(year), int(week), 1), zone)
    return month_period(*parse_month(label), zone)


def due_at(schedule: ReportSchedule, kind: str, period: Period) -> datetime | None:
    """When `period`'s report of `kind` is produced; None when never (the kind is off, or the
    daily check of a day that is not a business day)."""
    rule = schedule.rules.get(kind)
    if rule is None:
        return None
    if kind in DAILY:
        day = period.first_day
        return local_instant(day, rule.at, schedule.zone) if schedule.calendar.is_business_day(day) else None
    if kind == "weekly_review":
        return local_instant(period.last_day + timedelta(days=1 + rule.weekday), rule.at, schedule.zone)
    day = period.last_day + timedelta(days=1)
    for _ in range(SEARCH_PERIODS):
        if schedule.calendar.is_business_day(day):
            return local_instant(day, rule.at, schedule.zone)
        day += timedelta(days=1)
    raise ValueError(f"no business day in {SEARCH_PERIODS} days after {period.label}")


def _step(kind: str, period: Period, zone: str, direction: int) -> Period:
    if kind in DAILY:
        return day_period(period.first_day + timedelta(days=direction), zone)
    if kind == "weekly_review":
        return week_period(period.first_day + timedelta(days=7 * direction), zone)
    day = period.last_day + timedelta(days=1) if direction > 0 else period.first_day - timedelta(days=1)
    return month_period(day.year, day.month, zone)


def _period_containing(kind: str, day: date, zone: str) -> Period:
    if kind in DAILY:
        return day_period(day, zone)
    if kind == "weekly_review":
        return week_period(day, zone)
    return month_period(day.year, day.month, zone)


def next_due(schedule: ReportSchedule, kind: str, after: datetime) -> Due | None:
    """The first (period, due time) of `kind` strictly after `after`; None when the kind is off."""
    if schedule.rules.get(kind) is None:
        return None
    # A period's report is due after the period starts: begin one period before today's.
    period = _step(kind, _period_containing(kind, local_day(after, schedule.zone), schedule.zone), schedule.zone, -1)
    for _ in range(SEARCH_PERIODS):
        at = due_at(schedule, kind, period)
        if at is not None and at > after:
            return Due(kind, period, at)
        period = _step(kind, period, schedule.zone, +1)
    raise ValueError(f"{kind}: nothing due in {SEARCH_PERIODS} periods after {after.isoformat()}")


def latest_due(schedule: ReportSchedule, kind: str, now: datetime) -> Due | None:
    """The last (period, due time) of `kind` at or before `now`: what catch-up produces."""
    if schedule.rules.get(kind) is None:
        return None
    period = _period_containing(kind, local_day(now, schedule.zone), schedule.zone)
    for _ in range(SEARCH_PERIODS):
        at = due_at(schedule, kind, period)
        if at is not None and at <= now:
            return Due(kind, period, at)
        period = _step(kind, period, schedule.zone, -1)
    return None


@dataclass(frozen=True)
class Produce:
    """Produce the report of `due` (the row claimed, or the latest period that superseded it)."""

    due: Due


@dataclass(frozen=True)
class Supersede:
    """The claimed row's period was missed while the service was down and a later one is due: mark
    it superseded and produce `latest` instead (once: it is keyed by its period too)."""

    kind: str
    period: str
    latest: Due


@dataclass(frozen=True)
class Reschedule:
    """The rules moved this period's report later (a new time or weekday) since its row was planned:
    it is due at `due_at` now."""

    kind: str
    period: str
    due_at: datetime


def on_claimed(schedule: ReportSchedule, kind: str, period: str, now: datetime) -> Produce | Supersede | Reschedule | None:
    """What to do with a claimed due row: produce it; or — when a later period of its kind is due as
    well — supersede it by the latest one; or, when the rules now put it later, move it. None: the
    schedule no longer produces it (the kind was turned off, the day is no longer a business day);
    the row is dropped."""
    at = due_at(schedule, kind, period_of(kind, period, schedule.zone))
    if at is None:
        return None
    if at > now:
        return Reschedule(kind, period, at)
    latest = latest_due(schedule, kind, now)
    if latest is None:  # unreachable: this period itself is due
        return None
    if latest.period.label == period:
        return Produce(latest)
    return Supersede(kind, period, latest)


TITLES = {"daily_check": "Daily operations check", "weekly_review": "Weekly operations review",
          "monthly_review": "Monthly operations review", "reminders": "Reminders"}
_STATUS_WORDS = (("fail", "Failing"), ("warn", "To look at"), ("no_data", "No data"), ("unknown", "Unknown"),
                 ("not_checked", "Not checked"))


def announcement(kind: str, period: str, data: dict) -> tuple[str, str]:
    """(title, summary) of a produced report, as the notifier's message says it: the checks that
    need someone (failing, without data, not checked), or the review's headline numbers."""
    title = f"{TITLES[kind]} {period}"
    if kind == "daily_check":
        checks = data.get("checks", [])
        parts = []
        for status, words in _STATUS_WORDS:
            named = [c["label"] for c in checks if c["status"] == status]
            if named:
                parts.append(f"{words}: {', '.join(named)}")
        passed = sum(c["status"] == "pass" for c in checks)
        head = f"{passed} of {len(checks)} checks pass."
        return title, " ".join([head, *(p + "." for p in parts)])
    incidents = data.get("incidents", [])
    per_sev = ", ".join(f"{s['label']} {s['count']}" for s in data.get("severity_summary", []) if s["count"])
    attainment = data.get("attainment_percent")
    items = data.get("action_items", [])
    summary = (f"{len(incidents)} incidents" + (f" ({per_sev})" if per_sev else "")
               + (f"; response targets met {attainment:g}%" if attainment is not None else "; no response target decided")
               + f"; {len(items)} open action items ({sum(bool(i.get('overdue')) for i in items)} overdue).")
    return title, summary


def report_schedule(settings) -> ReportSchedule:
    """The schedule of the incident service's settings (`IncidentsSettings`); ValueError naming a
    rule, country or subdivision that cannot work."""
    calendar = settings.business_calendar()
    texts = {"daily_check": settings.incidents_daily_check_at, "weekly_review": settings.incidents_weekly_review_at,
             "monthly_review": settings.incidents_monthly_review_at, "reminders": settings.incidents_reminders_at}
    return ReportSchedule(zone=settings.incidents_report_zone, calendar=calendar,
                          rules={kind: parse_rule(kind, text) for kind, text in texts.items()})
