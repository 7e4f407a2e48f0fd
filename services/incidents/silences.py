"""PURE: which alerts are silenced, and which new incidents a maintenance window suppresses.

Matchers are Alertmanager's: `name=value`, `name!=value`, `name=~regex`, `name!~regex` on an
alert's labels. As in Alertmanager:
- a label the alert does not have counts as the empty string, so `team!=db` matches an alert without
  a `team` label and `team=""` matches only alerts without one (or with it empty);
- a regex is anchored at both ends (`service=~api` matches `api`, not `api-gw`), as `^(?:regex)$`
  in Go, where `$` is the very end (so a trailing newline does not match either);
- a silence needs at least one matcher that does not match the empty string, so that no silence
  matches every alert by accident (`alertname=~".*"` alone is refused).

A *silence* (start, end, matchers) holds every new firing alert it matches while it is active; the
alert is recorded as suppressed by it and opens no incident. A *maintenance window* with a scope
(a service and/or matchers) makes a new incident opened from an alert in its scope *suppressed*:
recorded, visible, never paged. A window without a scope is a record only and suppresses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Operator = Literal["=", "!=", "=~", "!~"]
OPERATORS: tuple[Operator, ...] = ("=~", "!~", "!=", "=")  # longest first, for parsing `name!=value`
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VALUE = 1000  # characters of a matcher's value or regex


class InvalidMatcher(ValueError):
    """A matcher (or a silence's set of matchers) that cannot be used; the message says why."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Operator
    value: str
    _pattern: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, name: str, op: str, value: str) -> Matcher:
        """A checked matcher: a label name, a known operator, a regex that compiles."""
        if not LABEL_NAME.match(name or ""):
            raise InvalidMatcher(f"{name!r} is not a label name (letters, digits and _, not starting with a digit)")
        if op not in OPERATORS:
            raise InvalidMatcher(f"{op!r} is not a matcher operator: use =, !=, =~ or !~")
        if len(value) > MAX_VALUE:
            raise InvalidMatcher(f"the value of {name} is longer than {MAX_VALUE} characters")
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = re.compile(f"(?:{value})")  # matched in full (fullmatch), as Alertmanager anchors it
            except re.error as exc:
                raise InvalidMatcher(f"{name}{op}{value!r}: not a valid regular expression ({exc})") from None
        return cls(name, op, value, pattern)  # type: ignore[arg-type]

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")  # a missing label is the empty string
        match self.op:
            case "=":
                return actual == self.value
            case "!=":
                return actual != self.value
            case "=~":
                return self._pattern.fullmatch(actual) is not None  # type: ignore[union-attr]
            case _:
                return self._pattern.fullmatch(actual) is None  # type: ignore[union-attr]

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def matchers_text(items: Iterable[Mapping[str, str]]) -> str:
    """Stored or sent matchers (`name`, `op`, `value`) as Alertmanager writes them: `service="api", env!="prod"`."""
    return ", ".join(f'{i["name"]}{i["op"]}"{i["value"]}"' for i in items)


def parse_matcher(text: str) -> Matcher:
    """`service=api`, `env!=prod`, `service=~"api|web"`, `team!~db.*` (quotes around the value are
    optional and removed)."""
    match = re.match(r"^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$", text, re.DOTALL)
    if match is None:
        raise InvalidMatcher(f"{text!r} is not a matcher: write name=value, name!=value, name=~regex or name!~regex")
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return Matcher.of(name, op, value)


def matchers_of(items: Iterable[Mapping[str, str]]) -> tuple[Matcher, ...]:
    """Matchers from stored or sent dicts (`name`, `op`, `value`)."""
    return tuple(Matcher.of(i["name"], i["op"], i["value"]) for i in items)


def check_silence_matchers(matchers: Sequence[Matcher]) -> None:
    """A silence must say what it silences: at least one matcher, and one that the empty label set
    does not match (Alertmanager's rule), so `env!=prod` alone cannot silence almost everything."""
    if not matchers:
        raise InvalidMatcher("a silence needs at least one matcher")
    if all(m.matches({}) for m in matchers):
        raise InvalidMatcher("at least one matcher must not match an alert without that label "
                             "(e.g. service=\"api\"), so that the silence cannot hold every alert")


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime

    def active_at(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def holds(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active_at(now) and matches_all(self.matchers, labels)


@dataclass(frozen=True)
class MaintenanceScope:
    """A maintenance window as far as paging cares: when, and which alerts it covers."""

    id: int
    activity: str
    starts_at: datetime
    ends_at: datetime
    service: str | None = None
    matchers: tuple[Matcher, ...] = ()

    @property
    def scoped(self) -> bool:
        return self.service is not None or bool(self.matchers)

    def covers(self, labels: Mapping[str, str], now: datetime) -> bool:
        if not self.scoped or not (self.starts_at <= now < self.ends_at):
            return False
        if self.service is not None and labels.get("service") != self.service:
            return False
        return matches_all(self.matchers, labels)


@dataclass(frozen=True)
class Suppressions:
    """The silences and scoped maintenance windows that are active now or later (what a batch of
    alerts is checked against). Of several that apply, the one ending last wins: the alert is then
    released (or the incident's window ends) as late as any of them would."""

    silences: tuple[Silence, ...] = ()
    windows: tuple[MaintenanceScope, ...] = ()

    def silence_for(self, labels: Mapping[str, str], now: datetime, *, besides: Iterable[int] = ()) -> Silence | None:
        skip = set(besides)
        held = [s for s in self.silences if s.id not in skip and s.holds(labels, now)]
        return max(held, key=lambda s: (s.ends_at, -s.id), default=None)

    def window_for(self, labels: Mapping[str, str], now: datetime) -> MaintenanceScope | None:
        covering = [w for w in self.windows if w.covers(labels, now)]
        return max(covering, key=lambda w: (w.ends_at, -w.id), default=None)


NO_SUPPRESSIONS = Suppressions()


def suppressed_text(window: MaintenanceScope) -> str:
    """The timeline entry of an incident opened inside a maintenance window."""
    return (f"suppressed: opened during maintenance window {window.id} ({window.activity}, until "
            f"{window.ends_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC): no pages, no tickets")


def released_text(alertname: str, silence_id: int, why: str) -> str:
    return f"silence {silence_id} {why} while alert {alertname} still fires: it takes the normal path now"
