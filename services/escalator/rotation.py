"""PURE: on-call rotations. Shifts are absolute UTC intervals generated from wall-clock rules — a
handoff at a local time in an IANA zone — so DST never moves a handoff's local time. Overrides
replace whoever is scheduled; a schedule has a primary and a backup rotation. No clock is read here:
every instant is passed in. The rules, with examples, are in docs/oncall.md."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from shared.zones import zone_info

Tier = Literal["primary", "backup"]
_TICK = timedelta(microseconds=1)  # the smallest step of a datetime: [at, at + _TICK) is "at"


@dataclass(frozen=True)
class Rotation:
    """Participants take turns in order, one shift each. The first handoff is on `anchor_date` at
    `handoff_time` on the wall clock of `zone`, to `first` (default: the first participant). A shift
    lasts `shift_days` days plus `shift_hours` hours of wall-clock time; after each handoff the
    outgoing engineer stays on call for `overlap_minutes` together with the incoming one.

    A rotation without participants is allowed (a team being set up, the last person removed): it
    covers nobody, and `coverage_gaps` reports it."""

    name: str
    participants: tuple[str, ...]
    zone: str
    anchor_date: date
    handoff_time: time
    first: str | None = None
    shift_days: int = 7
    shift_hours: int = 0
    overlap_minutes: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "participants", tuple(self.participants))
        where = f"rotation {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("a rotation needs a name")
        for person in self.participants:
            if not isinstance(person, str) or not person.strip():
                raise ValueError(f"{where}: participant names must be non-empty strings, got {person!r}")
        zone_info(self.zone)
        if isinstance(self.anchor_date, datetime) or not isinstance(self.anchor_date, date):
            raise ValueError(f"{where}: anchor_date must be a date (the day of the first handoff), got {self.anchor_date!r}")
        if not isinstance(self.handoff_time, time) or self.handoff_time.tzinfo is not None:
            raise ValueError(f"{where}: handoff_time must be a wall-clock time without tzinfo (the zone is {self.zone!r})")
        if self.first is not None and self.first not in self.participants:
            raise ValueError(f"{where}: first={self.first!r} is not a participant")
        if not all(isinstance(n, int) and n >= 0 for n in (self.shift_days, self.shift_hours, self.overlap_minutes)):
            raise ValueError(f"{where}: shift_days, shift_hours and overlap_minutes must be whole numbers >= 0")
        if self.shift < timedelta(hours=1):
            raise ValueError(f"{where}: a shift must last at least one hour")
        if self.overlap >= self.shift:
            raise ValueError(f"{where}: the overlap ({self.overlap}) must be shorter than a shift ({self.shift})")

    @property
    def shift(self) -> timedelta:
        """The wall-clock length of a shift (its UTC length differs across a DST change)."""
        return timedelta(days=self.shift_days, hours=self.shift_hours)

    @property
    def overlap(self) -> timedelta:
        return timedelta(minutes=self.overlap_minutes)


@dataclass(frozen=True)
class Override:
    """`person` is on call for [start_at, end_at) instead of whoever the rotation schedules there,
    overlaps included. An empty `person` means nobody: a deliberate hole, reported as a gap. Where
    overrides overlap, the one created last wins (equal `created_at`: the later one in the list)."""

    person: str
    start_at: datetime
    end_at: datetime
    created_at: datetime

    def __post_init__(self) -> None:
        for name in ("start_at", "end_at", "created_at"):
            object.__setattr__(self, name, _utc(f"override {name}", getattr(self, name)))
        if not isinstance(self.person, str) or (self.person and not self.person.strip()):
            raise ValueError(f"override person must be a name, or '' for nobody; got {self.person!r}")
        if self.end_at <= self.start_at:
            raise ValueError(f"override for {self.person!r} ends ({self.end_at}) before it starts ({self.start_at})")


@dataclass(frozen=True)
class Schedule:
    """Who is paged: the primary rotation first, the backup when the primary does not respond."""

    primary: Rotation
    backup: Rotation
    primary_overrides: tuple[Override, ...] = ()
    backup_overrides: tuple[Override, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "primary_overrides", tuple(self.primary_overrides))
        object.__setattr__(self, "backup_overrides", tuple(self.backup_overrides))

    def tiers(self) -> tuple[tuple[Tier, Rotation, tuple[Override, ...]], ...]:
        return (("primary", self.primary, self.primary_overrides), ("backup", self.backup, self.backup_overrides))


@dataclass(frozen=True)
class Shift:
    """`person` is on call for [start_at, end_at), UTC. A scheduled shift starts at its handoff and
    ends `overlap` after the next handoff. `number` counts the rotation's shifts from 0 at the
    anchor (stable: a key for handoff notes and calendar events); None for an override."""

    person: str
    start_at: datetime
    end_at: datetime
    number: int | None = None


@dataclass(frozen=True)
class OnCall:
    primary: list[str]
    backup: list[str]


@dataclass(frozen=True)
class Gap:
    """Nobody of `tier` is on call for [start_at, end_at)."""

    tier: Tier
    start_at: datetime
    end_at: datetime


# --- wall clock -> UTC ------------------------------------------------------------------------


def _utc(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC)


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _utc("start", start), _utc("end", end)
    if end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")
    return start, end


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which the clock in `zone` reads `wall` (naive) or later. That is `wall`
    itself when it exists; its first occurrence when fall-back shows it twice (fold=0); and, when
    spring-forward skips it, the instant of the jump (Berlin 02:30 on the spring day -> 03:00)."""
    if wall.tzinfo is not None:
        raise ValueError(f"wall must be a naive wall-clock datetime, got {wall!r}")
    at = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _local(at, zone) == wall:
        return at
    # In a gap, fold=1 reads `wall` with the offset after the jump (an instant before it) and fold=0
    # with the offset before (an instant after it). Transitions are on whole seconds: bisect.
    before = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp()) - 1
    after = int(at.timestamp()) + 1
    while after - before > 1:
        mid = (before + after) // 2
        if _local(datetime.fromtimestamp(mid, UTC), zone) >= wall:
            after = mid
        else:
            before = mid
    return datetime.fromtimestamp(after, UTC)


def _handoffs(rotation: Rotation) -> Callable[[int], datetime]:
    """Handoff k (k >= 0) as a UTC instant: wall clock of the anchor + k shifts, then `wall_to_utc`."""
    zone, first = zone_info(rotation.zone), datetime.combine(rotation.anchor_date, rotation.handoff_time)
    memo: dict[int, datetime] = {}

    def handoff(k: int) -> datetime:
        if k not in memo:
            memo[k] = wall_to_utc(first + k * rotation.shift, zone)
        return memo[k]

    return handoff


def _shift_at(handoff: Callable[[int], datetime], shift: timedelta, at: datetime) -> int:
    """The number of the last handoff at or before `at`; -1 before the first."""
    if at < handoff(0):
        return -1
    k = (at - handoff(0)) // shift  # off by at most a few: UTC offsets differ by hours, not shifts
    while k > 0 and handoff(k) > at:
        k -= 1
    while handoff(k + 1) <= at:
        k += 1
    return k


# --- shifts -------------------------------------------------------------------------------------


def shifts(rotation: Rotation, *, start: datetime, end: datetime) -> list[Shift]:
    """The rotation's scheduled shifts (no overrides) that intersect [start, end), whole, in order.
    Each ends `overlap` after the next handoff, so consecutive shifts share the overlap."""
    start, end = _window(start, end)
    if not rotation.participants:
        return []
    handoff, people = _handoffs(rotation), rotation.participants
    offset = people.index(rotation.first) if rotation.first is not None else 0
    k = max(_shift_at(handoff, rotation.shift, start - rotation.overlap), 0)
    out: list[Shift] = []
    while handoff(k) < end:
        begins, handover = handoff(k), handoff(k + 1)
        if handover > begins:  # a shift that a skipped stretch of wall clock swallows whole is empty
            j = k + 2
            while handoff(j) == handover:  # the incoming shift may be empty too; overlap with the next
                j += 1
            # The overlap never reaches past the incoming shift's own handoff: two people at most.
            ends = min(handover + rotation.overlap, handoff(j))
            if ends > start:
                out.append(Shift(people[(offset + k) % len(people)], begins, ends, k))
        k += 1
    return out


def _painted(overrides: Iterable[Override]) -> list[tuple[datetime, datetime, str]]:
    """Overrides flattened into disjoint (start, end, person) pieces, in order. Each stretch of time
    goes to the override created last (equal created_at: the later in the list)."""
    ranked = [o for _, o in sorted(enumerate(overrides), key=lambda io: (io[1].created_at, io[0]))]
    cuts = sorted({t for o in ranked for t in (o.start_at, o.end_at)})
    pieces: list[tuple[datetime, datetime, str]] = []
    for a, b in zip(cuts, cuts[1:]):
        winner = next((o for o in reversed(ranked) if o.start_at <= a and b <= o.end_at), None)
        if winner is None:
            continue
        if pieces and pieces[-1][1] == a and pieces[-1][2] == winner.person:
            pieces[-1] = (pieces[-1][0], b, winner.person)
        else:
            pieces.append((a, b, winner.person))
    return pieces


def _cut(shift: Shift, pieces: list[tuple[datetime, datetime, str]]) -> list[Shift]:
    """What is left of `shift` outside the override pieces."""
    left, out = shift.start_at, []
    for a, b, _ in pieces:
        if b <= left or a >= shift.end_at:
            continue
        if a > left:
            out.append(Shift(shift.person, left, a, shift.number))
        left = max(left, b)
    if left < shift.end_at:
        out.append(Shift(shift.person, left, shift.end_at, shift.number))
    return out


def effective_shifts(rotation: Rotation, overrides: Iterable[Override], *, start: datetime, end: datetime) -> list[Shift]:
    """Who is really on call in [start, end): the scheduled shifts with the overrides cut out of them,
    plus one shift per override piece (number None). Pieces intersect the window and are not
    clipped to it; an override with nobody leaves a hole. Sorted by start."""
    start, end = _window(start, end)
    pieces = _painted(overrides)
    out = [f for s in shifts(rotation, start=start, end=end) for f in _cut(s, pieces) if f.start_at < end and f.end_at > start]
    out += [Shift(person, a, b) for a, b, person in pieces if person and a < end and b > start]
    return sorted(out, key=lambda s: (s.start_at, s.end_at, s.person))


# --- questions the escalator asks -------------------------------------------------------------


def on_call(rotation: Rotation, overrides: Iterable[Override], *, at: datetime) -> list[str]:
    """Who this rotation pages at `at`: one person, two during a handoff's overlap (outgoing
    first), none in a gap."""
    at = _utc("at", at)
    found = effective_shifts(rotation, overrides, start=at, end=at + _TICK)
    return list(dict.fromkeys(s.person for s in found))


@dataclass(frozen=True)
class OnCallWindow:
    """`on_call` answered for many instants: the effective shifts of [start, end) computed once.
    For `at` inside the window the answer is exactly `on_call(rotation, overrides, at=at)` (a shift
    or override piece covers `at` iff it intersects [at, at + 1 µs), and the pieces are in the same
    order); outside it, `on_call` itself answers."""

    rotation: Rotation
    overrides: tuple[Override, ...]
    start: datetime
    end: datetime
    found: tuple[Shift, ...]

    def on_call(self, at: datetime) -> list[str]:
        at = _utc("at", at)
        if not self.start <= at < self.end:
            return on_call(self.rotation, self.overrides, at=at)
        return list(dict.fromkeys(s.person for s in self.found if s.start_at <= at < s.end_at))


def on_call_window(rotation: Rotation, overrides: Iterable[Override], *, start: datetime, end: datetime) -> OnCallWindow:
    overrides = tuple(overrides)
    start, end = _window(start, end)
    return OnCallWindow(rotation, overrides, start, end, tuple(effective_shifts(rotation, overrides, start=start, end=end)))


def who_is_on_call(schedule: Schedule, *, at: datetime) -> OnCall:
    return OnCall(
        primary=on_call(schedule.primary, schedule.primary_overrides, at=at),
        backup=on_call(schedule.backup, schedule.backup_overrides, at=at),
    )


def coverage_gaps(schedule: Schedule, *, start: datetime, end: datetime) -> list[Gap]:
    """Every stretch of [start, end) in which the primary or the backup has nobody on call: before a
    rotation's first handoff, a rotation without participants, an override with nobody. Clipped to
    the window; sorted by start, primary before backup."""
    start, end = _window(start, end)
    gaps: list[Gap] = []
    for tier, rotation, overrides in schedule.tiers():
        covered = start
        for s in effective_shifts(rotation, overrides, start=start, end=end):
            if s.start_at > covered:
                gaps.append(Gap(tier, covered, s.start_at))
            covered = max(covered, s.end_at)
        if covered < end:
            gaps.append(Gap(tier, covered, end))
    return sorted(gaps, key=lambda g: (g.start_at, g.tier != "primary"))
