"""PURE: the On-call page's four-week calendar. From the escalator's answers — a schedule's shifts
(overrides applied; an override is a shift with `number` null) and its coverage gaps, all UTC —
build weeks that start on Monday in a display zone, each day with what happens on it in local time:
shifts, handoff overlaps (two engineers on call at once) and gaps. Also who is on call now and
next, and the override form's times read in the page's zone. No I/O; `now` is passed in.

Days are instants, not 24 hours: a day runs from the first instant its local clock reads 00:00 to
the next day's, so the spring-forward day has 23 hours and the fall-back day 25 (zoneinfo), and a
shift shows the local times a person sees on their clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.zones import zone_info

Kind = Literal["shift", "overlap", "gap"]
TIERS = ("primary", "backup")
WEEKS = 4
MAX_PERSON = 200  # what the escalator accepts


@dataclass(frozen=True)
class Shift:
    tier: str
    person: str
    start_at: datetime
    end_at: datetime
    override: bool = False


@dataclass(frozen=True)
class Gap:
    tier: str
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True)
class Overlap:
    """A handoff overlap: the outgoing engineer is still on call while the incoming one already is."""

    tier: str
    outgoing: str
    incoming: str
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True)
class Entry:
    """One shift, overlap or gap as it shows on one day: the whole thing's UTC interval, and the
    local clock times of the part on this day ("24:00" when it goes on into the next day)."""

    kind: Kind
    tier: str
    who: str  # the person; "outgoing → incoming" for an overlap; "" for a gap
    start_at: datetime
    end_at: datetime
    starts: str
    ends: str
    from_before: bool  # began on an earlier day
    goes_on: bool  # ends on a later day
    override: bool = False


@dataclass(frozen=True)
class Day:
    date: date
    entries: tuple[Entry, ...]
    today: bool
    past: bool  # before today: what was, not what will be
    hours: float  # 24, or 23 / 25 on a day the clocks change
    clock_change: str | None  # e.g. "clocks go forward: CET → CEST"

    @property
    def has_gap(self) -> bool:
        return any(e.kind == "gap" for e in self.entries)


@dataclass(frozen=True)
class Calendar:
    zone: str
    start_at: datetime
    end_at: datetime
    weeks: tuple[tuple[Day, ...], ...]


@dataclass(frozen=True)
class TierNow:
    """Who is on call for a tier at `now` (two during a handoff overlap, outgoing first; none in a
    gap) and who takes over next, when."""

    tier: str
    now: tuple[str, ...]
    next_person: str | None
    next_at: datetime | None


class InputError(ValueError):
    """A form field that cannot be used; the message says why, for the person who typed it."""


def _instant(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if at.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return at.astimezone(UTC)


def shifts_of(rows: Iterable[Mapping[str, Any]]) -> list[Shift]:
    """The escalator's shifts (`GET /api/v1/schedules/{name}/shifts`), ordered by start."""
    found = [Shift(tier=r["tier"], person=r["person"], start_at=_instant(r["start_at"]), end_at=_instant(r["end_at"]),
                   override=r.get("number") is None) for r in rows]
    return sorted(found, key=lambda s: (s.start_at, s.end_at, s.tier))


def gaps_of(rows: Iterable[Mapping[str, Any]]) -> list[Gap]:
    """The escalator's coverage gaps (`GET /api/v1/schedules/{name}/gaps`)."""
    return [Gap(tier=r["tier"], start_at=_instant(r["start_at"]), end_at=_instant(r["end_at"])) for r in rows]


def display_zone(schedule: Mapping[str, Any] | None) -> str:
    """The zone a schedule's calendar is shown in: its primary rotation's (where its handoffs are
    on the wall clock), else UTC."""
    zone = ((schedule or {}).get("primary") or {}).get("zone")
    try:
        return zone_info(zone).key if zone else "UTC"
    except ValueError:
        return "UTC"


def handoff_overlaps(shifts: Iterable[Shift]) -> list[Overlap]:
    """Every stretch in which two different people are on call for one tier at once. Overrides cut
    the shifts they cover, so within a tier this happens only after a handoff."""
    out: list[Overlap] = []
    for tier in TIERS:
        ordered = sorted((s for s in shifts if s.tier == tier), key=lambda s: (s.start_at, s.end_at))
        for i, earlier in enumerate(ordered):
            for later in ordered[i + 1:]:
                if later.start_at >= earlier.end_at:
                    break
                if later.person != earlier.person:
                    out.append(Overlap(tier, earlier.person, later.person, later.start_at,
                                       min(earlier.end_at, later.end_at)))
    return sorted(out, key=lambda o: (o.start_at, TIERS.index(o.tier)))


def joined(shifts: Iterable[Shift]) -> list[Shift]:
    """Shifts of one person on one tier that overlap or touch, as one (someone who follows themselves
    — the only participant of a rotation — is on call throughout, not twice)."""
    out: list[Shift] = []
    last: dict[str, int] = {}  # tier -> the index in `out` of its latest shift
    for s in sorted(shifts, key=lambda s: (TIERS.index(s.tier) if s.tier in TIERS else 9, s.start_at, s.end_at)):
        before = out[last[s.tier]] if s.tier in last else None
        if before is not None and (before.person, before.override) == (s.person, s.override) and s.start_at <= before.end_at:
            out[last[s.tier]] = Shift(s.tier, s.person, before.start_at, max(before.end_at, s.end_at), s.override)
        else:
            last[s.tier] = len(out)
            out.append(s)
    return out


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant at which the clock in `zone` reads 00:00 of `day` or later (fold=0 reads a
    skipped midnight with the offset before the jump: the instant of the jump; a repeated one: the
    first)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def window(now: datetime, zone_name: str, *, weeks: int = WEEKS) -> tuple[datetime, datetime]:
    """[Monday 00:00 of the week holding `now`, `weeks` weeks later) in the zone, as UTC instants."""
    zone = zone_info(zone_name)
    today = _instant(now).astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    return day_start(monday, zone), day_start(monday + timedelta(weeks=weeks), zone)


def _clock(at: datetime, zone: ZoneInfo, *, with_zone: bool) -> str:
    local = at.astimezone(zone)
    return f"{local:%H:%M} {local.tzname()}" if with_zone else f"{local:%H:%M}"


def _clock_change(begin: datetime, end: datetime, zone: ZoneInfo) -> str | None:
    before, after = begin.astimezone(zone), (end - timedelta(microseconds=1)).astimezone(zone)
    if before.utcoffset() == after.utcoffset():
        return None
    way = "forward" if after.utcoffset() > before.utcoffset() else "back"
    return f"clocks go {way}: {before.tzname()} → {after.tzname()}"


def _entries(items: list[tuple[Kind, str, str, datetime, datetime, bool]], begin: datetime, end: datetime,
             zone: ZoneInfo, *, with_zone: bool) -> tuple[Entry, ...]:
    out = []
    for kind, tier, who, start_at, end_at, override in items:
        if start_at >= end or end_at <= begin:
            continue
        out.append(Entry(kind=kind, tier=tier, who=who, start_at=start_at, end_at=end_at,
                         starts=_clock(max(start_at, begin), zone, with_zone=with_zone),
                         ends="24:00" if end_at >= end else _clock(end_at, zone, with_zone=with_zone),
                         from_before=start_at < begin, goes_on=end_at > end, override=override))
    order = {"gap": 0, "shift": 1, "overlap": 2}
    return tuple(sorted(out, key=lambda e: (TIERS.index(e.tier) if e.tier in TIERS else 9, max(e.start_at, begin),
                                            order[e.kind])))


def calendar(*, shifts: Iterable[Shift], gaps: Iterable[Gap], zone: str, now: datetime,
             weeks: int = WEEKS) -> Calendar:
    """The weeks from Monday of `now`'s week, each day with the shifts, handoff overlaps and gaps
    that touch it, primary before backup, in order of time."""
    tz = zone_info(zone)
    shifts = list(shifts)
    items: list[tuple[Kind, str, str, datetime, datetime, bool]] = [
        *(("shift", s.tier, s.person, s.start_at, s.end_at, s.override) for s in joined(shifts)),
        *(("overlap", o.tier, f"{o.outgoing} → {o.incoming}", o.start_at, o.end_at, False)
          for o in handoff_overlaps(shifts)),
        *(("gap", g.tier, "", g.start_at, g.end_at, False) for g in gaps),
    ]
    start_at, end_at = window(now, zone, weeks=weeks)
    first = start_at.astimezone(tz).date()
    today = _instant(now).astimezone(tz).date()
    days = []
    for n in range(weeks * 7):
        day = first + timedelta(days=n)
        begin, end = day_start(day, tz), day_start(day + timedelta(days=1), tz)
        change = _clock_change(begin, end, tz)
        days.append(Day(date=day, entries=_entries(items, begin, end, tz, with_zone=change is not None),
                        today=day == today, past=day < today, hours=(end - begin).total_seconds() / 3600, clock_change=change))
    return Calendar(zone=tz.key, start_at=start_at, end_at=end_at,
                    weeks=tuple(tuple(days[w * 7:(w + 1) * 7]) for w in range(weeks)))


def now_and_next(shifts: Iterable[Shift], now: datetime) -> tuple[TierNow, ...]:
    """Per tier: the people whose shift holds `now` (outgoing first), and the first shift that starts
    later with someone else — the next handoff (None when none is in the shifts given)."""
    now = _instant(now)
    out = []
    for tier in TIERS:
        ordered = sorted((s for s in shifts if s.tier == tier), key=lambda s: (s.start_at, s.end_at))
        current = tuple(dict.fromkeys(s.person for s in ordered if s.start_at <= now < s.end_at))
        upcoming = next((s for s in ordered if s.start_at > now and s.person not in current), None)
        out.append(TierNow(tier, current, upcoming.person if upcoming else None, upcoming.start_at if upcoming else None))
    return tuple(out)


def wall_clock(at: Any, zone_name: str) -> str:
    """An instant as the zone's clock shows it, with the zone's abbreviation: "Mon 30 Mar 09:00 CEST"."""
    local = _instant(at).astimezone(zone_info(zone_name))
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def form_defaults(now: datetime, zone_name: str) -> dict[str, str]:
    """What the override form starts with: from the next full hour on the zone's clock, for 8 hours."""
    local = _instant(now).astimezone(zone_info(zone_name)).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    start = local + timedelta(hours=1)
    return {"start": f"{start:%Y-%m-%dT%H:%M}", "end": f"{start + timedelta(hours=8):%Y-%m-%dT%H:%M}", "tier": "primary",
            "person": ""}


def local_instant(text: str, zone_name: str, *, field: str) -> datetime:
    """A wall-clock time typed into the form (`2026-03-29T14:00`, as a datetime-local input sends it,
    or with a space) read in the page's zone, as UTC. A time the clocks skip is refused; one they
    show twice is its first occurrence — the same rule as handoffs (docs/oncall.md)."""
    value = (text or "").strip()
    if not value:
        raise InputError(f"{field}: required (a date and time, e.g. 2026-03-29 14:00)")
    try:
        wall = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise InputError(f"{field}: {value!r} is not a date and time such as 2026-03-29 14:00") from None
    if wall.tzinfo is not None:
        raise InputError(f"{field}: give the time as the clock in {zone_name} shows it, without an offset")
    zone = zone_info(zone_name)
    at = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if at.astimezone(zone).replace(tzinfo=None) != wall:
        raise InputError(f"{field}: {wall:%Y-%m-%d %H:%M} does not exist in {zone_name} (the clocks skip it); "
                         "choose a time after the change")
    return at


def override_request(form: Mapping[str, str], *, zone: str, now: datetime) -> dict[str, str]:
    """The escalator's `NewOverride` body from the page's form (who, tier, from, until in `zone`);
    raises InputError listing every problem."""
    problems: list[str] = []
    person = (form.get("person") or "").strip()
    if not person:
        problems.append("who: required (the name of the person who covers)")
    elif len(person) > MAX_PERSON:
        problems.append(f"who: at most {MAX_PERSON} characters")
    tier = form.get("tier") or "primary"
    if tier not in TIERS:
        problems.append("tier: primary or backup")
    times = {}
    for name, label in (("start", "from"), ("end", "until")):
        try:
            times[name] = local_instant(form.get(name, ""), zone, field=label)
        except InputError as exc:
            problems.append(str(exc))
    if len(times) == 2:
        if times["end"] <= times["start"]:
            problems.append("until: must be after from")
        elif times["end"] <= _instant(now):
            problems.append("until: already past; an override covers time still to come")
    if problems:
        raise InputError("; ".join(problems))
    return {"tier": tier, "person": person, "start_at": times["start"].isoformat(), "end_at": times["end"].isoformat()}
