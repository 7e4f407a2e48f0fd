"""PURE: the escalator's configuration document — policies and business hours, on-call schedules,
people and routing — as a YAML file validated at start and the same document through the API.

```yaml
policy:            # services.escalator.policy.PolicyConfig: critical/high/medium/low, business_hours
schedules:
  - name: platform
    primary: {participants: [alice, bob], zone: Europe/Berlin, anchor_date: 2026-01-05, handoff_time: "09:00"}
    backup:  {participants: [carol, dave], zone: Europe/Berlin, anchor_date: 2026-01-05, handoff_time: "09:00"}
people:            # contact methods and personal notification rules, published to the notifier
  alice:
    contact: alice@example.com          # shorthand: the e-mail method "email"
    contact_methods:
      - {id: slack, kind: slack, address: "https://hooks.slack.com/services/${SLACK_ALICE}"}
    page_rules: [{after: 0s, method: slack}, {after: 1m, method: email}]
default_schedule: platform
routes:            # first match wins: every label given must equal the incident's label
  - {match: {team: db}, schedule: db}
budget_policy:     # services.escalator.budget_policy: by the incident's `service` label, or "*"
  checkout: {exhausted: {medium: page}, burning: {ack_timeout_factor: 0.5}, healthy: {low: business_hours}}
```
"""

from __future__ import annotations

import hashlib
import re
from itertools import pairwise
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.escalator.budget_policy import ServiceBudgetPolicy
from services.escalator.policy import Duration, PolicyConfig
from services.escalator.rotation import Override, Rotation, Schedule
from shared.events import ContactMethod, NotificationStep, PersonUpdated, deterministic_id

_MODEL = ConfigDict(frozen=True, extra="forbid")


class ConfigError(ValueError):
    """The document cannot be used; the message names each problem."""


class RotationSpec(BaseModel):
    model_config = _MODEL

    participants: tuple[str, ...] = Field(description="In turn order.")
    zone: str = Field(description="IANA time zone of the handoff's wall clock, e.g. Europe/Berlin.")
    anchor_date: date = Field(description="The day of the first handoff.")
    handoff_time: time = time(9)
    first: str | None = None
    shift_days: int = Field(default=7, ge=0)
    shift_hours: int = Field(default=0, ge=0)
    overlap_minutes: int = Field(default=30, ge=0)

    def rotation(self, name: str) -> Rotation:
        return Rotation(name=name, **self.model_dump())


class ScheduleSpec(BaseModel):
    model_config = _MODEL

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    primary: RotationSpec
    backup: RotationSpec

    @model_validator(mode="after")
    def _rotations_valid(self) -> ScheduleSpec:
        self.primary.rotation(f"{self.name}/primary")  # the rotation's own checks, as validation errors
        self.backup.rotation(f"{self.name}/backup")
        return self


# Deliberately loose: one @, no spaces, a plausible domain. The SMTP server is the judge of the rest.
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_HTTP_URL = re.compile(r"https?://[^/?#\s]+(?:[/?#]\S*)?", re.IGNORECASE)  # a scheme, a host, maybe a path
SHORTHAND_METHOD = "email"  # the id of the e-mail method that `contact: <address>` stands for
MAX_RULE_DELAY = timedelta(days=7)


def is_email(address: str) -> bool:
    return _EMAIL.fullmatch(address) is not None


def address_problem(method: ContactMethod) -> str | None:
    """Why `method.address` cannot be an address of its kind, or None. `${NAME}` placeholders are
    filled in by the notifier later; they may stand for parts of a URL, not for its scheme."""
    address = method.address
    if method.kind == "email":
        return None if is_email(address) else f"{address!r} is not an e-mail address (name@domain)"
    if method.kind in ("webhook", "slack"):
        return None if _HTTP_URL.fullmatch(address) else f"{address!r} is not an http(s) URL"
    return None if _URL.fullmatch(address) else f"{address!r} is not an Apprise URL (scheme://…)"


class RuleStep(BaseModel):
    """One step of a personal notification rule as people write it: `after` the page, use `method`."""

    model_config = _MODEL

    after: Duration = Field(default=timedelta(0), description="A duration such as '0s', '1m', '1h30m'.")
    method: str = Field(min_length=1, max_length=64, description="The id of one of the person's contact methods.")

    @model_validator(mode="after")
    def _check(self) -> RuleStep:
        if not timedelta(0) <= self.after <= MAX_RULE_DELAY:
            raise ValueError(f"`after` must be between 0s and {MAX_RULE_DELAY.days}d, got {self.after}")
        return self

    def step(self) -> NotificationStep:
        return NotificationStep(after_s=int(self.after.total_seconds()), method=self.method)


class Person(BaseModel):
    """How to reach one person: contact methods and, per channel, the order to use them in. Empty
    rules mean the notifier's defaults: a page goes to every method at once, a notification to the
    first method at once."""

    model_config = _MODEL

    contact: str | None = Field(
        default=None, description="Carried on pages. An e-mail address here is also the contact method 'email'."
    )
    contact_methods: tuple[ContactMethod, ...] = ()
    page_rules: tuple[RuleStep, ...] = Field(default=(), description="For pages; empty = every method at once.")
    notify_rules: tuple[RuleStep, ...] = Field(
        default=(), description="For non-paging notifications; empty = the first method at once."
    )

    @property
    def methods(self) -> tuple[ContactMethod, ...]:
        """Every contact method: the `contact` shorthand (when it is an e-mail address) first."""
        if self.contact is not None and is_email(self.contact):
            return (ContactMethod(id=SHORTHAND_METHOD, kind="email", address=self.contact), *self.contact_methods)
        return self.contact_methods

    def email(self) -> str | None:
        """What pages carry as `contact`: the `contact` text, else the first e-mail address."""
        return self.contact or next((m.address for m in self.methods if m.kind == "email"), None)

    @model_validator(mode="after")
    def _check(self) -> Person:
        problems = []
        explicit = [m.id for m in self.contact_methods]
        if SHORTHAND_METHOD in explicit and self.contact is not None and is_email(self.contact):
            problems.append(f"`contact` is already the e-mail method {SHORTHAND_METHOD!r}: "
                            f"drop `contact` or the contact method with id {SHORTHAND_METHOD!r}")
        repeated = sorted({i for i in explicit if explicit.count(i) > 1})
        if repeated:
            problems.append(f"contact method ids must be unique, repeated: {', '.join(repeated)}")
        problems += [f"contact method {m.id!r} ({m.kind}): {why}"
                     for m in self.contact_methods if (why := address_problem(m)) is not None]
        ids = list(dict.fromkeys(m.id for m in self.methods))
        for name, rules in (("page_rules", self.page_rules), ("notify_rules", self.notify_rules)):
            for number, rule in enumerate(rules, start=1):
                if rule.method not in ids:
                    known = f"the contact methods are {', '.join(ids)}" if ids else "there are no contact methods"
                    problems.append(f"{name} step {number} (after {_text(rule.after)}) uses method {rule.method!r}; {known}")
            for number, (earlier, later) in enumerate(pairwise(rules), start=1):
                if later.after < earlier.after:
                    problems.append(f"{name} must be in the order they happen: step {number + 1} "
                                    f"(after {_text(later.after)}) comes before step {number} (after {_text(earlier.after)})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _text(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 and seconds else f"{seconds}s"


class Route(BaseModel):
    model_config = _MODEL

    match: dict[str, str] = Field(min_length=1)
    schedule: str


class OnCallConfig(BaseModel):
    """The whole document. Schedules are looked up by name; an incident is routed when it opens."""

    model_config = _MODEL

    policy: PolicyConfig = PolicyConfig()
    schedules: tuple[ScheduleSpec, ...] = Field(min_length=1)
    people: dict[str, Person] = Field(default_factory=dict)
    default_schedule: str | None = Field(default=None, description="Default: the first schedule.")
    routes: tuple[Route, ...] = ()
    budget_policy: dict[str, ServiceBudgetPolicy] = Field(
        default_factory=dict, description="How a service's error-budget state changes its incidents' policy when they open")

    @model_validator(mode="after")
    def _references(self) -> OnCallConfig:
        names = [s.name for s in self.schedules]
        if len(set(names)) != len(names):
            raise ValueError(f"schedule names must be unique, got {names}")
        for ref in [self.default_schedule, *(r.schedule for r in self.routes)]:
            if ref is not None and ref not in names:
                raise ValueError(f"unknown schedule {ref!r}; the schedules are {names}")
        return self

    def schedule_spec(self, name: str) -> ScheduleSpec | None:
        return next((s for s in self.schedules if s.name == name), None)

    def route(self, labels: Mapping[str, str]) -> str:
        """The schedule that pages for an incident with `labels`."""
        for route in self.routes:
            if all(labels.get(k) == v for k, v in route.match.items()):
                return route.schedule
        return self.default_schedule or self.schedules[0].name

    def contact(self, person: str) -> str | None:
        """What pages to `person` carry as `contact`: `Person.email`."""
        found = self.people.get(person)
        return found.email() if found else None

    def fingerprint(self) -> str:
        """Identifies the content (not the formatting) of the document."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def schedule_of(spec: ScheduleSpec, overrides: list[tuple[str, Override]] = ()) -> Schedule:
    """The pure rotation model of `spec` with its overrides, given as (tier, override) pairs."""
    return Schedule(
        primary=spec.primary.rotation(f"{spec.name}/primary"),
        backup=spec.backup.rotation(f"{spec.name}/backup"),
        primary_overrides=tuple(o for tier, o in overrides if tier == "primary"),
        backup_overrides=tuple(o for tier, o in overrides if tier == "backup"),
    )


def person_updated(name: str, person: Person | None, *, revision: int, now: datetime) -> PersonUpdated:
    """The event saying what `person` is at configuration `revision` (None: `name` left it)."""
    event_id = deterministic_id("person", name, str(revision))
    if person is None:
        return PersonUpdated(event_id=event_id, occurred_at=now, source="escalator", person=name, revision=revision,
                             removed=True)
    return PersonUpdated(
        event_id=event_id, occurred_at=now, source="escalator", person=name, revision=revision,
        contact_methods=person.methods, page_rules=tuple(r.step() for r in person.page_rules),
        notify_rules=tuple(r.step() for r in person.notify_rules),
    )


def people_updates(config: OnCallConfig, *, previous: Iterable[str], revision: int, now: datetime) -> list[PersonUpdated]:
    """One PersonUpdated per person of `config`, then a removal for each of the `previous`
    configuration's people that `config` no longer has."""
    gone = [name for name in dict.fromkeys(previous) if name not in config.people]
    return [*(person_updated(name, person, revision=revision, now=now) for name, person in config.people.items()),
            *(person_updated(name, None, revision=revision, now=now) for name in gone)]


def parse(data: Any, *, where: str = "configuration") -> OnCallConfig:
    try:
        return OnCallConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"invalid {where}:\n" + "\n".join(lines)) from None


def load_yaml(text: str, *, where: str = "configuration") -> OnCallConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a YAML mapping")
    return parse(data, where=where)
