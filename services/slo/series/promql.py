"""PURE: the series selector inside a PromQL counter query, as OpenSLO `ratioMetric`s write them —
`sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m]))` → the selector. Vigil computes
the increases itself, so the range, the rate and the sum add nothing; any other PromQL (division,
`irate`, `histogram_quantile`, offsets, several selectors, …) cannot be mapped and is refused
with the query named."""

from __future__ import annotations

import re

from services.slo.series.selectors import SelectorError, parse_selector

_SUM = re.compile(r"sum\s*(?:(?:by|without)\s*\([^()]*\)\s*)?\(", re.IGNORECASE)
_SUM_GROUPING_AFTER = re.compile(r"\s*(?:by|without)\s*\([^()]*\)\s*$", re.IGNORECASE)
_COUNTER_FUNCTION = re.compile(r"(rate|increase)\s*\(", re.IGNORECASE)
_RANGE = re.compile(r"\[\s*\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*\s*\]\s*$")
SUPPORTED = ("a series selector, rate(selector[range]) or increase(selector[range]), "
             "optionally inside sum(...), sum by (...) (...) or sum without (...) (...)")


class UnmappableQuery(ValueError):
    """A PromQL query that is not a (summed) rate or increase of one series selector."""


def _closing(text: str, open_at: int) -> int:
    """The index of the parenthesis closing the one at `open_at` (quotes skipped), or -1."""
    depth, i, quote = 0, open_at, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _unwrap(text: str, opening: re.Pattern) -> str | None:
    """The inside of `f(...)` when the whole text is one such call (a trailing `by (...)` allowed)."""
    m = opening.match(text)
    if not m:
        return None
    close = _closing(text, m.end() - 1)
    if close < 0:
        return None
    rest = text[close + 1:]
    if rest.strip() and not (opening is _SUM and _SUM_GROUPING_AFTER.fullmatch(rest)):
        return None
    return text[m.end():close].strip()


def selector_in(query: str) -> str:
    """The selector text inside `query`; UnmappableQuery says why not."""
    text = query.strip()
    inner = _unwrap(text, _SUM)
    if inner is not None:
        text = inner
    inner = _unwrap(text, _COUNTER_FUNCTION)
    if inner is not None:
        ranged = _RANGE.search(inner)
        if not ranged:
            raise UnmappableQuery(f"cannot map the Prometheus query {query!r}: rate()/increase() needs a range like [5m]")
        text = inner[:ranged.start()].strip()
    try:
        return parse_selector(text).text()
    except SelectorError as exc:
        raise UnmappableQuery(f"cannot map the Prometheus query {query!r} onto a series selector ({exc}); "
                              f"Vigil takes {SUPPORTED}") from None
