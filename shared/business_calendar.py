"""PURE: business hours and holidays, so low-severity work is due when people are at work (the
escalator) and scheduled reports skip the days nobody works (the incident service).

A `BusinessCalendar` is opening hours (wall-clock times in an IANA zone) on some weekdays, minus the
public holidays of a country (and optionally a subdivision) from the `holidays` package, minus extra
closed days. Every instant going in must be timezone-aware; every instant coming out is aware UTC.

DST rules (the wall clock is the rule, instants are the result):
- An opening or closing time that does not exist on a day, because the clocks spring forward over
  it, becomes the first instant after the gap, i.e. the transition itself: opening at 02:30 on
  2027-03-28 in Europe/Berlin is 03:00 CEST (01:00 UTC).
- A time that occurs twice, because the clocks fall back over it, means its first occurrence
  (`fold=0`).
- A day whose opening and closing both fall into a gap has no open time that day.
Opening hours never cross midnight (`opens < closes`), so each open interval belongs to one local day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from shared.zones import zone_info

MONDAY_TO_FRIDAY = (0, 1, 2, 3, 4)
# Ten years in a row without an open hour is a configuration error, not a reason to loop forever.
SEARCH_DAYS = 3660


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours `opens`–`closes` (local wall clock in `zone`) on `weekdays` (Monday = 0), closed
    on the public holidays of `country`/`subdivision` and on `closed_on`. Raises ValueError when built
    with a zone, country, subdivision or hours that cannot work."""

    zone: str = "UTC"
    weekdays: tuple[int, ...] = MONDAY_TO_FRIDAY
    opens: time = time(9)
    closes: time = time(17)
    country: str | None = None
    subdivision: str | None = None
    closed_on: tuple[date, ...] = ()
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _holidays: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tz", zone_info(self.zone))
        weekdays = tuple(sorted(set(self.weekdays)))
        if not weekdays or any(not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays):
            raise ValueError(f"weekdays must be a non-empty set of 0 (Monday) … 6 (Sunday), got {self.weekdays!r}")
        object.__setattr__(self, "weekdays", weekdays)
        object.__setattr__(self, "closed_on", tuple(sorted(set(self.closed_on))))
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opening hours are wall-clock times in `zone`; give them without a UTC offset")
        if not self.opens < self.closes:
            raise ValueError(f"opens ({self.opens}) must be before closes ({self.closes}); hours cannot cross midnight")
        object.__setattr__(self, "_holidays", _holidays(self.country, self.subdivision))

    # -- days and hours ---------------------------------------------------------------------------

    def is_business_day(self, day: date) -> bool:
        """A configured weekday that is neither a public holiday nor an extra closed day."""
        return day.weekday() in self.weekdays and day not in self._holidays and day not in self.closed_on

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday on `day`, if any (for reasons written into timelines)."""
        return self._holidays.get(day)

    def opening_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """The open interval [opening, closing) of local `day` in UTC, or None when closed all day."""
        if not self.is_business_day(day):
            return None
        opening, closing = _instant(day, self.opens, self._tz), _instant(day, self.closes, self._tz)
        return (opening, closing) if opening < closing else None

    def local_day(self, at: datetime) -> date:
        return _utc(at, "at").astimezone(self._tz).date()

    # -- questions the escalator asks -------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        at = _utc(at, "at")
        hours = self.opening_hours(self.local_day(at))
        return hours is not None and hours[0] <= at < hours[1]

    def next_opening(self, after: datetime) -> datetime:
        """The first opening instant (start of a business day's hours) at or after `after`."""
        after = _utc(after, "after")
        return next(opening for opening, _ in self._hours_from(self.local_day(after)) if opening >= after)

    def due_next_business_day(self, raised_at: datetime) -> datetime:
        """When work raised at `raised_at` is due: the first opening strictly after it. Raised on a
        Friday evening → Monday's opening (or the next business day's after a holiday); raised before
        opening on a business day → that day's opening; raised during hours → the next day's."""
        raised_at = _utc(raised_at, "raised_at")
        return next(opening for opening, _ in self._hours_from(self.local_day(raised_at)) if opening > raised_at)

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """`start` plus `duration` counted only while open. A zero duration gives `start` if open,
        else the next opening; a duration that ends exactly at a closing gives that closing."""
        start = _utc(start, "start")
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative, got {duration}")
        remaining = duration
        for opening, closing in self._hours_from(self.local_day(start)):
            if closing <= start:
                continue
            begin = max(opening, start)
            if begin + remaining <= closing:
                return begin + remaining
            remaining -= closing - begin
        raise AssertionError("unreachable: _hours_from raises before it runs out")

    def _hours_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        closed_since = day
        while (day - closed_since).days < SEARCH_DAYS:
            hours = self.opening_hours(day)
            day += timedelta(days=1)
            if hours is not None:
                closed_since = day
                yield hours
        raise ValueError(f"no business hours in {SEARCH_DAYS} days from {closed_since}: check weekdays and closed days")


def _holidays(country: str | None, subdivision: str | None) -> dict:
    if country is None:
        if subdivision is not None:
            raise ValueError(f"subdivision {subdivision!r} needs a country")
        return {}
    try:
        national = holidays_lib.country_holidays(country)
    except NotImplementedError:
        hint = "use an ISO 3166-1 alpha-2 code such as 'DE'"
        raise ValueError(f"no public holidays known for country {country!r}: {hint}") from None
    if subdivision is None:
        return national
    try:
        return holidays_lib.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        known = ", ".join(national.subdivisions)
        raise ValueError(f"country {country!r} has no subdivision {subdivision!r} (known: {known})") from None


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def local_instant(day: date, wall: time, zone: str) -> datetime:
    """The instant (UTC) of wall-clock `wall` on `day` in `zone`, by the DST rules of the module:
    a time skipped by a spring-forward is the transition, a repeated one its first occurrence."""
    return _instant(day, wall, zone_info(zone))


def _instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The instant (UTC) of wall-clock `wall` on `day` in `tz`, by the DST rules of the module."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first  # exists; for a repeated time fold=0 is its first occurrence
    # Skipped by a spring-forward: the two folds give instants on either side of the transition
    # (PEP 495); find the transition, the first instant whose offset is the one after the gap.
    lo, hi = sorted((first, naive.replace(tzinfo=tz, fold=1).astimezone(UTC)))
    after_offset = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) // 2
        if mid.astimezone(tz).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return hi

