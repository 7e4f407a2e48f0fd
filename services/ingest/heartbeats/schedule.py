"""PURE: when a heartbeat monitor expects its next ping.

A monitor is on a period ("every 5 minutes": the next ping is expected one period after the last
one) or on a cron expression in an IANA time zone ("30 2 * * *" in Europe/Berlin: expected at the
next matching wall-clock time after the last ping). Cron times follow what cron itself does across
DST changes (Vixie cron, cronie), so a job that runs exactly as cron runs it is never reported late:

- spring forward: a time that does not exist (02:30 on the day 02:00 jumps to 03:00) is expected at
  the first instant after the gap (03:00), once;
- fall back: a fixed-time job (neither minute nor hour field starts with `*`) runs once in the
  repeated hour, so the second 02:30 is not expected; a wildcard job (`*/15 * * * *`, `0 * * * *`)
  runs in both, so both are expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

MIN_PERIOD_S = 1
MAX_PERIOD_S = 366 * 86400


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Schedule:
    """Exactly one of `period_s` and `cron`; `timezone` is the cron's (IANA name)."""

    period_s: int | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.period_s is None) == (self.cron is None):
            raise ScheduleError("a schedule is a period or a cron expression, not both or neither")
        if self.period_s is not None and not MIN_PERIOD_S <= self.period_s <= MAX_PERIOD_S:
            raise ScheduleError(f"the period is {MIN_PERIOD_S} s to {MAX_PERIOD_S} s")
        if self.cron is not None:
            zone_of(self.timezone)
            if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
                raise ScheduleError(f"{self.cron!r} is not a cron expression of 5 fields (minute hour day month weekday)")

    def check_fires(self) -> None:
        """Raise ScheduleError for a cron expression no date ever matches (`0 0 30 2 *`): its
        monitor could never expect a ping. (Not in __post_init__: rows read back need no search.)"""
        if self.cron is not None:
            try:
                croniter(self.cron, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
            except CroniterBadDateError:
                raise ScheduleError(f"{self.cron!r} matches no date") from None

    def describe(self) -> str:
        if self.period_s is not None:
            return f"every {human_duration(self.period_s)}"
        return f"cron {self.cron!r} ({self.timezone})"


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None


def next_expected(schedule: Schedule, after: datetime) -> datetime:
    """The first time after `after` (a ping, or the monitor's creation) at which a ping is due."""
    if schedule.period_s is not None:
        return after + timedelta(seconds=schedule.period_s)
    zone = zone_of(schedule.timezone)
    fixed_time = not any(field.startswith("*") for field in schedule.cron.split()[:2])
    times = croniter(schedule.cron, after.astimezone(zone))
    while True:
        candidate: datetime = times.get_next(datetime)
        # Compared in UTC: two times of one zone compare by wall clock, fold ignored (02:00 CET would
        # not be after 02:00 CEST).
        if candidate.astimezone(UTC) > after and not (fixed_time and _second_of_repeated_hour(candidate, zone)):
            return candidate.astimezone(UTC)


def _second_of_repeated_hour(moment: datetime, zone: ZoneInfo) -> bool:
    """`moment` is the second occurrence of a wall-clock time that a fall-back repeats."""
    wall = moment.astimezone(zone).replace(tzinfo=None)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset() and moment.utcoffset() == second.utcoffset()


def human_duration(seconds: float) -> str:
    """3600 → "1 h", 90 → "90 s", 300 → "5 min"."""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
