"""PURE: the escalation policy (operations process 1.3) and what the escalator does about each
incident event. No I/O: `now`, the incident's state, its pending steps and who is on call are passed
in; the result is data (`PlannedStep`s to store as timers, a `Decision`) that the adapters carry out.

Rules written down here, tested in tests/unit/escalator/test_policy.py:
- Every step of a plan is due at an absolute instant: `started_at + repetition × repeat_after + after`.
- An empty step (no one on call for its role at its due time) does not wait out its delay
  (goalert#4548): it stays in the plan with no targets and the reason "no one on call for <role>",
  so the timeline says why nobody was paged, and its delay is removed: the next step is due at the
  empty step's instant and every later step moves earlier by the same amount. A pass in which no one
  could be reached ends the plan (the next pass would fall on the same instant with the same answers).
- A ticket step is never skipped: without anyone on call it opens unassigned.
- Ids are deterministic per (incident, escalation, step, repetition, target). The escalation is the
  incident version that started the plan, so a replay or a second replica reuses an id, while a
  restart of the escalation (unacknowledged, reopened, severity changed) pages again with new ids.
- A suppressed incident (opened inside a maintenance window's scope) is never paged or ticketed.
- Acknowledgement timeout: acknowledging schedules an `ack_check` at acknowledged_at + ack_timeout.
  When it fires and the incident is still acknowledged and unresolved, the decision asks for the
  acknowledgement to be cleared (`Decision.unacknowledge`); incidents owns the acknowledgement and
  publishes `unacknowledged`, and that event restarts the escalation like any other — one path, so
  the restart never pages twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.business_calendar import MONDAY_TO_FRIDAY, BusinessCalendar
from shared.events import deterministic_id

Role = Literal["primary", "backup"]
Action = Literal["page", "notify", "ticket"]
PlannedAction = Literal["page", "notify", "ticket", "ack_check"]
NEXT_BUSINESS_DAY = "next_business_day"
ACK_CHECK_STEP = -1  # the step number of the acknowledgement-timeout check
LEVELS = ("critical", "high", "medium", "low")  # SEV1 … SEV4

# Who is on call: a fixed list per role, or a function of (role, instant) such as the rotations'.
Targets = Mapping[str, Sequence[str]] | Callable[[str, datetime], Sequence[str]]

_SHORT = re.compile(r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?")
_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _short_duration(value: Any) -> Any:
    """'5m', '15 min', '1h', '1h30m', '2d', '30s' for people writing YAML; anything else goes on to
    pydantic (seconds as a number, ISO 8601 'PT5M', '00:05:00')."""
    if isinstance(value, str):
        match = _SHORT.fullmatch(value.strip().lower())
        if match and any(match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=s)
    return value


def _weekday(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower()[:3] in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES.index(value.strip().lower()[:3])
    return value


Duration = Annotated[timedelta, BeforeValidator(_short_duration)]
Weekday = Annotated[int, BeforeValidator(_weekday), Field(ge=0, le=6)]
_MODEL = ConfigDict(frozen=True, extra="forbid")


# -- configuration ----------------------------------------------------------------------------------


class Step(BaseModel):
    """One escalation step: `action` for `role`, `after` the start of the escalation."""

    model_config = _MODEL

    after: Duration = timedelta(0)
    action: Action
    role: Role = "primary"
    ticket_due: Duration | Literal["next_business_day"] | None = Field(
        default=None, description="Ticket steps only: a duration such as '1h', or 'next_business_day'."
    )
    business_hours_only: bool = Field(default=False, description="Count a ticket_due duration only while open.")

    @model_validator(mode="after")
    def _check(self) -> Step:
        if self.after < timedelta(0):
            raise ValueError(f"`after` must not be negative, got {self.after}")
        if self.action == "ticket":
            if self.ticket_due is None:
                raise ValueError("a ticket step needs `ticket_due`: a duration such as '1h', or 'next_business_day'")
            if isinstance(self.ticket_due, timedelta) and self.ticket_due < timedelta(0):
                raise ValueError(f"`ticket_due` must not be negative, got {self.ticket_due}")
        elif self.ticket_due is not None or self.business_hours_only:
            raise ValueError(f"`ticket_due` and `business_hours_only` apply to ticket steps, not to {self.action}")
        return self


class SeverityPolicy(BaseModel):
    """The steps of one severity, in order; the chain runs `repeat` more times, a pass every
    `repeat_after`; an acknowledgement lapses after `ack_timeout` (None: never)."""

    model_config = _MODEL

    steps: tuple[Step, ...] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=20)
    repeat_after: Duration | None = None
    ack_timeout: Duration | None = None

    @model_validator(mode="after")
    def _check(self) -> SeverityPolicy:
        for number, (earlier, later) in enumerate(zip(self.steps, self.steps[1:]), start=1):
            if later.after < earlier.after:
                raise ValueError(
                    f"steps must be in the order they happen: step {number + 1} (after {later.after}) "
                    f"comes before step {number} (after {earlier.after})"
                )
        if self.repeat:
            if any(s.action == "ticket" for s in self.steps):
                raise ValueError("`repeat` would open a ticket per pass: repeat only chains of page/notify steps")
            if self.repeat_after is None:
                raise ValueError("`repeat` needs `repeat_after`, the time from the start of one pass to the next")
            if self.repeat_after <= self.steps[-1].after:
                last = self.steps[-1].after
                raise ValueError(f"`repeat_after` ({self.repeat_after}) must be longer than the last step's `after` ({last})")
        if self.ack_timeout is not None and self.ack_timeout <= timedelta(0):
            raise ValueError(f"`ack_timeout` must be positive (or null for none), got {self.ack_timeout}")
        return self


class BusinessHours(BaseModel):
    """When people are at work, for 'next business day' tickets. Holidays come from the `holidays`
    package for `country` (ISO 3166-1 alpha-2) and optional `subdivision` (e.g. 'BY')."""

    model_config = _MODEL

    zone: str = "UTC"
    weekdays: tuple[Weekday, ...] = MONDAY_TO_FRIDAY
    opens: time = time(9)
    closes: time = time(17)
    country: str | None = None
    subdivision: str | None = None
    closed_on: tuple[date, ...] = Field(default=(), description="Extra closed days (company holidays).")

    @model_validator(mode="after")
    def _check(self) -> BusinessHours:
        self.calendar()  # a ValueError with the reason becomes the validation error
        return self

    def calendar(self) -> BusinessCalendar:
        return _calendar(self)


@lru_cache(maxsize=64)
def _calendar(hours: BusinessHours) -> BusinessCalendar:
    return BusinessCalendar(
        zone=hours.zone, weekdays=hours.weekdays, opens=hours.opens, closes=hours.closes,
        country=hours.country, subdivision=hours.subdivision, closed_on=hours.closed_on,
    )


# The operations process 1.3, written the way a YAML file would write it.
CRITICAL = SeverityPolicy.model_validate({
    "steps": [{"action": "page", "role": "primary"}, {"after": "5m", "action": "page", "role": "backup"}],
    "repeat": 3, "repeat_after": "10m", "ack_timeout": "30m",
})
HIGH = SeverityPolicy.model_validate({
    "steps": [{"action": "notify", "role": "primary"}, {"after": "15m", "action": "page", "role": "primary"},
              {"after": "30m", "action": "page", "role": "backup"}],
    "ack_timeout": "1h",
})
MEDIUM = SeverityPolicy.model_validate({"steps": [{"action": "ticket", "ticket_due": "1h"}]})
LOW = SeverityPolicy.model_validate({"steps": [{"action": "ticket", "ticket_due": NEXT_BUSINESS_DAY}]})
DEFAULTS = {"critical": CRITICAL, "high": HIGH, "medium": MEDIUM, "low": LOW}


class PolicyConfig(BaseModel):
    """Every severity's policy and the business hours. A severity given in part keeps the defaults
    for the keys it leaves out (`steps` are replaced as a whole). Snapshotted on each incident when
    it opens: `model_dump(mode="json")` and `model_validate` round-trip."""

    model_config = _MODEL

    critical: SeverityPolicy = CRITICAL
    high: SeverityPolicy = HIGH
    medium: SeverityPolicy = MEDIUM
    low: SeverityPolicy = LOW
    business_hours: BusinessHours = BusinessHours()

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            for level, default in DEFAULTS.items():
                if isinstance(data.get(level), Mapping):
                    data[level] = {**default.model_dump(), **data[level]}
        return data

    def for_severity(self, severity: int) -> SeverityPolicy:
        if not 1 <= severity <= 4:
            raise ValueError(f"severity must be 1 (SEV1) to 4 (SEV4), got {severity}")
        return getattr(self, LEVELS[severity - 1])


# -- state in, decisions out ------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentState:
    """What the escalator knows of an incident, from its latest `IncidentEvent` (version, severity,
    status) and the time of its current acknowledgement (None: not acknowledged)."""

    id: int
    version: int
    severity: int
    status: Literal["investigating", "mitigating", "resolved"] = "investigating"
    acknowledged_at: datetime | None = None
    suppressed: bool = False  # opened inside a maintenance window's scope: never paged


@dataclass(frozen=True)
class PlannedStep:
    """One timer: at `due_at` do `action` for `targets` (the people on call for `role` then; none
    for an empty step or an unassigned ticket). Tickets carry their own `ticket_due_at`."""

    incident_id: int
    escalation: int
    step: int
    repetition: int
    role: Role
    action: PlannedAction
    due_at: datetime
    reason: str
    targets: tuple[str, ...] = ()
    ticket_due_at: datetime | None = None

    @cached_property  # a uuid5: computed once per step (frozen: it cannot change)
    def id(self) -> str:
        """The timer's id; for a ticket also the ticket id (one ticket whoever is assigned)."""
        return step_id(self.incident_id, self.step, self.repetition, "", escalation=self.escalation)

    def page_ids(self) -> tuple[tuple[str, str], ...]:
        """(person, page id) for each target: both engineers of a handoff overlap get their own page."""
        return tuple(
            (t, step_id(self.incident_id, self.step, self.repetition, t, escalation=self.escalation)) for t in self.targets
        )


@dataclass(frozen=True)
class Decision:
    """What to do about an event: drop every pending step of the incident (`cancel_all`), then store
    `schedule`; `unacknowledge` (a reason) asks incidents to clear a lapsed acknowledgement."""

    cancel_all: bool = False
    schedule: tuple[PlannedStep, ...] = ()
    unacknowledge: str | None = None
    reason: str = ""


CATCH_UP_AFTER = timedelta(minutes=1)  # a timer later than this fired after a gap, not in the normal run


@dataclass(frozen=True)
class CatchUp:
    """What to do with timers that are due together: fire `fire` (each with the note its pages carry,
    or None), and close `skipped` (timer id -> why) without sending anything."""

    fire: tuple[tuple[PlannedStep, str | None], ...]
    skipped: dict[str, str]


def catch_up(due: Sequence[PlannedStep], *, now: datetime, late_after: timedelta = CATCH_UP_AFTER) -> CatchUp:
    """After a gap (the escalator stopped, or could not reach its database) many page and notify
    steps of one incident are due at once: every missed repeat pass, the backup's step and the
    primary's. Fire, per incident, action and role, only the step due last — what the policy says
    now — and skip the earlier ones, so a person gets one late page instead of a burst; the page says
    how late it is and why. Nobody who was due a page is dropped (one per role), tickets and
    acknowledgement checks fire as they are, and timers that are not late (`late_after`) fire as planned."""
    fire: list[tuple[PlannedStep, str | None]] = []
    skipped: dict[str, str] = {}
    groups: dict[tuple[int, str, str], list[PlannedStep]] = {}
    for step in due:
        if step.action in ("page", "notify"):
            groups.setdefault((step.incident_id, step.action, step.role), []).append(step)
        else:
            fire.append((step, None))
    for steps in groups.values():
        steps.sort(key=lambda s: (s.due_at, s.repetition, s.step))
        latest = steps[-1]
        if now - steps[0].due_at <= late_after:
            fire += [(s, None) for s in steps]
            continue
        earlier = steps[:-1]
        note = f"{_minutes(now - latest.due_at)} late (Vigil could not page at {_hhmm(latest.due_at)})"
        if earlier:
            note += f"; {len(earlier)} earlier {'page' if len(earlier) == 1 else 'pages'} due meanwhile " \
                    "went unsent, so this is one page instead of a burst"
        fire.append((latest, note))
        for step in earlier:
            skipped[step.id] = (f"skipped on catch-up: due {_hhmm(step.due_at)}, {_minutes(now - step.due_at)} late; "
                                f"the {latest.role}'s step due {_hhmm(latest.due_at)} fired instead")
    return CatchUp(tuple(fire), skipped)


def _minutes(late: timedelta) -> str:
    seconds = max(late.total_seconds(), 0)
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def step_id(incident_id: int, step: int, repetition: int, target: str, *, escalation: int) -> str:
    """A page, ticket or timer id that is the same on every replay, replica and restart (uuid5)."""
    return deterministic_id("escalation", str(incident_id), str(escalation), str(step), str(repetition), target)


def plan(
    *, incident: IncidentState, policy: SeverityPolicy, calendar: BusinessCalendar, started_at: datetime,
    targets: Targets,
) -> list[PlannedStep]:
    """Every step of `policy` for `incident` as absolute due times from `started_at`, with the people
    on call at each step's due time. Empty steps fall through (see the module docstring)."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    started_at = started_at.astimezone(UTC)
    who = targets if callable(targets) else (lambda role, _at: targets.get(role, ()))
    steps = policy.steps
    passes = policy.repeat + 1
    out: list[PlannedStep] = []
    pulled = timedelta(0)  # delays removed by empty steps so far
    for repetition in range(passes):
        base = started_at + repetition * (policy.repeat_after or timedelta(0))
        reached = False
        for number, step in enumerate(steps):
            due = base + step.after - pulled
            people = tuple(dict.fromkeys(who(step.role, due)))
            new = dict(incident_id=incident.id, escalation=incident.version, step=number, repetition=repetition,
                       role=step.role, action=step.action, due_at=due, targets=people)
            reason = "repeat" if repetition else ("initial" if number == 0 else "escalation")
            if step.action == "ticket":
                out.append(PlannedStep(**new, reason=reason, ticket_due_at=_ticket_due(step, due, calendar)))
                reached = True
            elif people:
                out.append(PlannedStep(**new, reason=reason))
                reached = True
            else:
                out.append(PlannedStep(**new, reason=f"no one on call for {step.role}"))
                pulled += _delay(policy, number, last_pass=repetition == passes - 1)
        if not reached:
            break
    return out


def decide(
    *, kind: str, incident: IncidentState, planned: Sequence[PlannedStep], config: PolicyConfig, targets: Targets,
    now: datetime, calendar: BusinessCalendar | None = None,
) -> Decision:
    """The escalator's reaction to an incident event `kind` (or to its own `ack_timeout` check
    firing), given the incident's state after it and its pending steps. The policy is the one of the
    incident's current severity in `config` (the snapshot taken when the incident opened). An event
    older than the pending plan, or a replay of the event that started it, changes nothing."""
    policy = config.for_severity(incident.severity)
    latest = max((p.escalation for p in planned), default=0)
    if incident.version < latest:
        return Decision(reason=f"stale: version {incident.version} is older than the plan (version {latest})")
    if kind in ("opened", "unacknowledged", "reopened", "severity_changed", "alerts_firing", "unsuppressed") \
            and incident.version == latest:
        return Decision(reason=f"already applied: the plan of version {latest} is in place")
    if incident.suppressed:
        # As PagerDuty's maintenance: the incident is recorded, nobody is paged or ticketed for it,
        # whatever happens to it (incidents opened before the window keep their escalation).
        return Decision(cancel_all=True, reason=f"{kind}: suppressed by a maintenance window: no pages, no tickets")

    def restart(why: str) -> Decision:
        if incident.status == "resolved":
            return Decision(cancel_all=True, reason=f"{why}; resolved: nothing to escalate")
        if incident.acknowledged_at is not None:
            return Decision(cancel_all=True, schedule=_ack_check(incident, policy, now), reason=f"{why}; acknowledged: no pages")
        steps = plan(incident=incident, policy=policy, calendar=calendar or config.business_hours.calendar(),
                     started_at=now, targets=targets)
        why = f"{why}: SEV{incident.severity} escalation from {_hhmm(now)}"
        return Decision(cancel_all=True, schedule=tuple(steps), reason=why)

    match kind:
        case "opened":
            return restart("opened")
        case "unacknowledged" | "reopened":
            return restart(kind)
        case "severity_changed":
            return restart(f"severity changed to SEV{incident.severity}")
        case "acknowledged":
            check = _ack_check(incident, policy, now)
            return Decision(cancel_all=True, schedule=check, reason="acknowledged: escalation stopped")
        case "resolved":
            return Decision(cancel_all=True, reason="resolved: escalation stopped")
        case "alerts_resolved":
            return Decision(cancel_all=True, reason="every alert resolved: escalation stopped, nobody more is paged "
                            "(the incident waits for a person to resolve it)")
        case "alerts_firing":
            return restart("an alert fired again")
        case "unsuppressed":
            return restart("its maintenance window ended while its alerts fire")
        case "ack_timeout":
            return _ack_timed_out(incident, policy, now)
        case "status_changed" | "commander_assigned":
            return Decision(reason=f"{kind}: escalation unchanged")
    raise ValueError(f"unknown incident event kind {kind!r}")


# -- helpers ------------------------------------------------------------------------------------------


def _delay(policy: SeverityPolicy, number: int, *, last_pass: bool) -> timedelta:
    """How long the chain waits after step `number` before the next step."""
    steps = policy.steps
    if number + 1 < len(steps):
        return steps[number + 1].after - steps[number].after
    if last_pass:
        return timedelta(0)  # nothing follows
    return (policy.repeat_after or timedelta(0)) + steps[0].after - steps[number].after


def _ticket_due(step: Step, raised_at: datetime, calendar: BusinessCalendar) -> datetime:
    if step.ticket_due == NEXT_BUSINESS_DAY:
        return calendar.due_next_business_day(raised_at)
    assert isinstance(step.ticket_due, timedelta)
    if step.business_hours_only:
        return calendar.add_business_time(raised_at, step.ticket_due)
    return raised_at + step.ticket_due


def _ack_check(incident: IncidentState, policy: SeverityPolicy, now: datetime) -> tuple[PlannedStep, ...]:
    if policy.ack_timeout is None or incident.status == "resolved":
        return ()
    # Measured from the acknowledgement; a severity change after it never moves the check into the past.
    due = max((incident.acknowledged_at or now) + policy.ack_timeout, now).astimezone(UTC)
    return (PlannedStep(incident_id=incident.id, escalation=incident.version, step=ACK_CHECK_STEP, repetition=0,
                        role="primary", action="ack_check", due_at=due, reason="acknowledgement timeout check"),)


def _ack_timed_out(incident: IncidentState, policy: SeverityPolicy, now: datetime) -> Decision:
    if incident.status == "resolved" or incident.acknowledged_at is None:
        return Decision(reason="ack check: no longer acknowledged")
    if policy.ack_timeout is None or incident.acknowledged_at + policy.ack_timeout > now:
        return Decision(reason="ack check: the acknowledgement has not lapsed (a later acknowledgement or policy)")
    minutes = int(policy.ack_timeout.total_seconds() // 60)
    return Decision(
        unacknowledge=f"acknowledged at {_hhmm(incident.acknowledged_at)} and not resolved within {minutes} min",
        reason="acknowledgement timed out",
    )


def _hhmm(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
