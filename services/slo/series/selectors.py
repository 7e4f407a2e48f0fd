"""PURE: PromQL series selectors — `metric{label="v", other=~"a|b", x!="", y!~"z.*"}` — parsed
and matched against a series' labels with Prometheus' semantics: regexes are anchored (fully
match), a missing label is the empty string, and a selector must not match every series.

Only selectors: no functions, ranges, offsets or aggregations (`openslo.py` takes those apart).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
OPS = ("=~", "!~", "!=", "=")  # longest first
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "`": "`"}


class SelectorError(ValueError):
    """Text that is not a series selector; the message says where and why."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: Op
    value: str

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(f"(?:{self.value})", re.DOTALL))
            except re.error as exc:
                raise SelectorError(f"label {self.label}: invalid regular expression {self.value!r}: {exc}") from None

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = self._regex.fullmatch(value) is not None  # type: ignore[attr-defined]
        return hit if self.op == "=~" else not hit

    def text(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.label}{self.op}"{escaped}"'


@dataclass(frozen=True)
class Selector:
    matchers: tuple[Matcher, ...]

    @property
    def metric(self) -> str | None:
        """The metric name when the selector names one exactly (`__name__="x"` or `x{...}`)."""
        for m in self.matchers:
            if m.label == "__name__" and m.op == "=":
                return m.value
        return None

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a series with these labels (including `__name__`) is selected."""
        return all(m.matches(labels.get(m.label, "")) for m in self.matchers)

    def with_metric(self, name: str) -> Selector:
        """The same label matchers on another metric name (a histogram's `_bucket` series)."""
        rest = tuple(m for m in self.matchers if not (m.label == "__name__" and m.op == "="))
        return Selector((Matcher("__name__", "=", name), *rest))

    def text(self) -> str:
        name = self.metric
        rest = [m.text() for m in self.matchers if not (name is not None and m.label == "__name__" and m.op == "=")]
        return f"{name or ''}{{{', '.join(rest)}}}" if rest or not name else name


def _string(text: str, i: int) -> tuple[str, int]:
    quote = text[i]
    if quote not in "\"'`":
        raise SelectorError(f"expected a quoted value at position {i}: {text!r}")
    out, i = [], i + 1
    while i < len(text):
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\\" and quote != "`":
            if i + 1 >= len(text) or text[i + 1] not in ESCAPES:
                raise SelectorError(f"unknown escape at position {i}: {text!r}")
            out.append(ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    raise SelectorError(f"unterminated string starting at position {i}: {text!r}")


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def parse_selector(text: str) -> Selector:
    """`http_requests_total{job="checkout", code=~"5.."}` (or `{__name__="x", ...}`) as a Selector."""
    i = _skip_space(text, 0)
    matchers: list[Matcher] = []
    name = NAME.match(text, i)
    if name:
        matchers.append(Matcher("__name__", "=", name.group()))
        i = _skip_space(text, name.end())
    if i < len(text) and text[i] == "{":
        i = _skip_space(text, i + 1)
        while i < len(text) and text[i] != "}":
            label = LABEL.match(text, i)
            if not label:
                raise SelectorError(f"expected a label name at position {i}: {text!r}")
            i = _skip_space(text, label.end())
            op = next((o for o in OPS if text.startswith(o, i)), None)
            if op is None:
                raise SelectorError(f"expected =, !=, =~ or !~ after {label.group()!r} at position {i}: {text!r}")
            value, i = _string(text, _skip_space(text, i + len(op)))
            matchers.append(Matcher(label.group(), op, value))  # type: ignore[arg-type]
            i = _skip_space(text, i)
            if i < len(text) and text[i] == ",":
                i = _skip_space(text, i + 1)
            elif i < len(text) and text[i] != "}":
                raise SelectorError(f"expected , or }} at position {i}: {text!r}")
        if i >= len(text):
            raise SelectorError(f"missing }} in {text!r}")
        i = _skip_space(text, i + 1)
    if i != len(text):
        raise SelectorError(f"unexpected {text[i:]!r} in {text!r} (only a series selector is allowed here)")
    if not matchers:
        raise SelectorError(f"an empty selector: {text!r}")
    if all(m.matches("") for m in matchers):
        raise SelectorError(f"{text!r} would select every series: name a metric or a label matcher that needs a value")
    return Selector(tuple(matchers))
