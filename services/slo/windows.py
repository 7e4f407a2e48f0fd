"""PURE: the time windows an SLO is reported over and the burn-rate windows, as UTC intervals.

Rolling windows end at `now`; the calendar month is the month of `now` in a configured IANA zone,
so its length in minutes follows the zone (a DST month in Europe/Berlin has 743 or 745 hours).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

ROLLING_PERIOD = timedelta(days=30)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC; `end` may lie after `now` (the calendar month), `elapsed_end` does not."""

    name: str
    start: datetime
    end: datetime
    elapsed_end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start) / MINUTE

    @property
    def elapsed_minutes(self) -> float:
        return max((self.elapsed_end - self.start) / MINUTE, 0.0)


def floor_minute(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(second=0, microsecond=0)


def floor_hour(at: datetime) -> datetime:
    return floor_minute(at).replace(minute=0)


def rolling(now: datetime, period: timedelta = ROLLING_PERIOD, *, name: str = "rolling_30d") -> Window:
    now = now.astimezone(UTC)
    return Window(name, now - period, now, now)


def calendar_month(now: datetime, zone: str = "UTC") -> Window:
    """The calendar month containing `now` in `zone`: local midnight of the 1st to the next 1st."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    start_local = datetime(local.year, local.month, 1, tzinfo=tz)
    next_year, next_month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    end_local = datetime(next_year, next_month, 1, tzinfo=tz)
    return Window("calendar_month", start_local.astimezone(UTC), end_local.astimezone(UTC), now.astimezone(UTC))


def timeslice_budget_minutes(target: float, window: Window) -> float:
    """Bad minutes a time-slice SLO may have in the whole window: 43.2 for 99.9 % over 30 days."""
    return (1 - target) * window.minutes


def local_days(start: datetime, end: datetime, zone: str) -> list[tuple[datetime, datetime]]:
    """The local calendar days overlapping [start, end), each as its UTC [start, end) (23, 24 or 25 h)."""
    tz = ZoneInfo(zone)
    day = start.astimezone(tz).date()
    days = []
    while True:
        begin = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        if begin >= end:
            break
        nxt = day + timedelta(days=1)
        finish = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
        days.append((begin, finish))
        day = nxt
    return days
