"""PURE: which bucket sums a series feeds, from the SLO definitions that name series selectors.

A service's minute buckets hold one count of requests, one of errors and one latency histogram, so
per service the definitions may name one `total` selector, one `bad` or `good` selector and one
`histogram` selector (several SLOs may share them, e.g. availability and error rate):

- `total` → requests (and errors, when the SLO counts `good`);
- `bad` → errors; `good` → minus errors (errors = total − good, summed over any window);
- `histogram` → the latency histogram: its `<name>_bucket` series, keyed by their `le` label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.slo.definitions import SloDefinition, SloDefinitionError, bucket_key
from services.slo.series.selectors import Selector, parse_selector

Field = Literal["requests", "errors", "latency"]
Role = Literal["total", "bad", "good", "histogram"]


@dataclass(frozen=True)
class Target:
    """One sum of one service's buckets that a series adds its increases to (`sign` −1: subtracts)."""

    service: str
    field: Field
    le: str | None = None
    sign: int = 1


@dataclass(frozen=True)
class Feed:
    service: str
    role: Role
    selector: Selector


def bucket_selector(histogram: Selector) -> Selector:
    """A histogram selector names the histogram (`http_request_duration_seconds{...}`) or its
    bucket series; either way the `_bucket` series are matched."""
    name = histogram.metric
    if name is None or name.endswith("_bucket"):
        return histogram
    return histogram.with_metric(f"{name}_bucket")


def feeds_of(definitions: tuple[SloDefinition, ...]) -> tuple[Feed, ...]:
    """The feeds of every service whose SLOs name selectors; conflicting selectors are an error."""
    chosen: dict[tuple[str, str], tuple[str, str]] = {}  # (service, role) -> (selector text, SLO name)
    for d in definitions:
        for role in ("total", "bad", "good", "histogram"):
            text = getattr(d, role)
            if text is None:
                continue
            known = chosen.setdefault((d.service, role), (text, d.name))
            if known[0] != text:
                raise SloDefinitionError(
                    f"service {d.service!r}: SLOs {known[1]!r} and {d.name!r} name different {role} selectors "
                    f"({known[0]} and {text}); a service's buckets have one {role} count"
                )
    roles = {(s, r) for s, r in chosen}
    for service in {s for s, _ in chosen}:
        if (service, "bad") in roles and (service, "good") in roles:
            raise SloDefinitionError(f"service {service!r}: its SLOs name both bad and good selectors; use one of them")
    feeds = []
    for (service, role), (text, _name) in sorted(chosen.items()):
        selector = parse_selector(text)
        feeds.append(Feed(service, role, bucket_selector(selector) if role == "histogram" else selector))  # type: ignore[arg-type]
    return tuple(feeds)


def targets_for(labels: dict[str, str], feeds: tuple[Feed, ...]) -> tuple[Target, ...]:
    """The bucket sums a series with these labels feeds (none: the series is not an SLI's)."""
    found: list[Target] = []
    for f in feeds:
        if not f.selector.matches(labels):
            continue
        if f.role == "total":
            found.append(Target(f.service, "requests"))
            if any(g.service == f.service and g.role == "good" for g in feeds):
                found.append(Target(f.service, "errors"))
        elif f.role == "bad":
            found.append(Target(f.service, "errors"))
        elif f.role == "good":
            found.append(Target(f.service, "errors", sign=-1))
        else:
            try:
                le = float(labels.get("le", ""))
            except ValueError:
                continue  # not a bucket series (`_count`, `_sum` never match a `_bucket` name anyway)
            if le != le:
                continue  # NaN is no bound
            found.append(Target(f.service, "latency", le=bucket_key(le)))
    return tuple(found)
