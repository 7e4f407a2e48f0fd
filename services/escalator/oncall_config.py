"""PURE: the escalator's configuration document — policies and business hours, on-call schedules,
people and routing — as a YAML file validated at start and the same document through the API.

```yaml
policy:            # services.escalator.policy.PolicyConfig: critical/high/medium/low, business_hours
schedules:
  - name: platform
    primary: {participants: [alice, bob], zone: Europe/Berlin, anchor_date: 2026-01-05, handoff_time: "09:00"}
    backup:  {participants: [carol, dave], zone: Europe/Berlin, anchor_date: 2026-01-05, handoff_time: "09:00"}
people:
  alice: {contact: "alice@example.com"}
default_schedule: platform
routes:            # first match wins: every label given must equal the incident's label
  - {match: {team: db}, schedule: db}
```
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, time
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.escalator.policy import PolicyConfig
from services.escalator.rotation import Override, Rotation, Schedule

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


class Person(BaseModel):
    model_config = _MODEL

    contact: str | None = Field(default=None, description="Where pages go: e-mail, phone, chat handle.")


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
        found = self.people.get(person)
        return found.contact if found else None

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
