"""The OpenSLO v1 subset we read: `kind: SLO` with an inline ratio or threshold indicator.

- `ratioMetric` whose `good`/`bad`/`total` metric sources name Vigil's counters
  (`metricSource.spec.query`: `requests`, `errors` or `good`) → a success-ratio SLO;
- `ratioMetric` with Prometheus queries (`sum(rate(x{...}[5m]))`, `increase(...)`, a bare selector)
  → an SLO on the selectors inside them (`series/promql.py`; the SLO must name its `service`). A
  good/total pair of one histogram's `_bucket` series, `le="<bound>"` over `le="+Inf"`, is a latency
  SLO under that bound. Other PromQL is refused with the query named;
- `thresholdMetric` (query `latency`) with objectives `op: lt|lte` and `value` in milliseconds →
  a latency SLO (the value must be a histogram bucket bound);
- `budgetingMethod` Occurrences or Timeslices; one definition per objective.
The time window is always Vigil's (rolling 30 days and the calendar month, both reported).
"""

from __future__ import annotations

from services.slo.definitions import SloDefinition, SloDefinitionError
from services.slo.series.promql import UnmappableQuery, selector_in
from services.slo.series.selectors import Matcher, Selector, parse_selector

VIGIL_COUNTERS = {"requests", "errors", "good"}


def _raw_query(source: object) -> str:
    if not isinstance(source, dict):
        return ""
    spec = (source.get("metricSource") or {}).get("spec") or {}
    return str(spec.get("query", "")).strip()


def _query(source: object) -> str:
    return _raw_query(source).lower()


def _latency_bound(good: str, total: str) -> tuple[str, float] | None:
    """(histogram selector, bound in seconds) when `good` and `total` are one histogram's buckets:
    `le="<bound>"` over `le="+Inf"`, the other matchers the same."""
    g, t = parse_selector(good), parse_selector(total)
    if g.metric is None or g.metric != t.metric or not g.metric.endswith("_bucket"):
        return None
    g_le = [m for m in g.matchers if m.label == "le"]
    if [m for m in t.matchers if m.label == "le"] != [Matcher("le", "=", "+Inf")] or len(g_le) != 1 or g_le[0].op != "=":
        return None
    rest = {m for m in g.matchers if m.label != "le"}
    if rest != {m for m in t.matchers if m.label != "le"}:
        return None
    try:
        bound = float(g_le[0].value)
    except ValueError:
        return None
    histogram = Selector(tuple(m for m in g.matchers if m.label != "le"))
    return histogram.text(), bound


def _from_prometheus(name: str, ratio: dict, service: str) -> dict:
    """The SloDefinition fields of a ratioMetric over Prometheus queries."""
    if service == "*":
        raise SloDefinitionError(f"OpenSLO SLO {name!r}: a ratioMetric over Prometheus queries needs spec.service")
    try:
        selectors = {part: selector_in(_raw_query(ratio[part])) for part in ("good", "bad", "total") if part in ratio}
    except UnmappableQuery as exc:
        raise SloDefinitionError(f"OpenSLO SLO {name!r}: {exc}") from None
    if "total" not in selectors or ("good" in selectors) == ("bad" in selectors):
        raise SloDefinitionError(f"OpenSLO SLO {name!r}: ratioMetric needs total and one of good or bad")
    if "good" in selectors and (latency := _latency_bound(selectors["good"], selectors["total"])):
        histogram, bound = latency
        return {"indicator": "latency_under", "histogram": histogram, "threshold_ms": bound * 1000, "display": "percentile_ms"}
    return {"indicator": "success_ratio", **selectors}


def from_openslo(doc: dict) -> list[SloDefinition]:
    name = str((doc.get("metadata") or {}).get("name", ""))
    spec = doc.get("spec") or {}
    indicator = ((spec.get("indicator") or {}).get("spec")) or {}
    if not indicator:
        raise SloDefinitionError(f"OpenSLO SLO {name!r}: only an inline `indicator` is supported (not indicatorRef)")
    budgeting = {"occurrences": "occurrences", "timeslices": "timeslices"}.get(str(spec.get("budgetingMethod", "Occurrences")).lower())
    if budgeting is None:
        raise SloDefinitionError(f"OpenSLO SLO {name!r}: budgetingMethod must be Occurrences or Timeslices")
    objectives = spec.get("objectives") or []
    if not objectives:
        raise SloDefinitionError(f"OpenSLO SLO {name!r}: no objectives")
    common = {"service": str(spec.get("service") or "*"), "budgeting": budgeting}
    found = []
    for i, objective in enumerate(objectives):
        suffix = f"-{objective['name']}" if objective.get("name") and len(objectives) > 1 else ("" if len(objectives) == 1 else f"-{i + 1}")
        title = str(objective.get("displayName") or spec.get("description") or name)
        if "ratioMetric" in indicator and not {_query(p) for p in (indicator["ratioMetric"] or {}).values()
                                                if isinstance(p, dict)} <= VIGIL_COUNTERS:
            fields = _from_prometheus(name, indicator["ratioMetric"] or {}, common["service"])
            found.append(SloDefinition(name=f"{name}{suffix}", title=title, target=float(objective["target"]), **fields, **common))
        elif "ratioMetric" in indicator:
            ratio = indicator["ratioMetric"] or {}
            queries = {part: _query(ratio.get(part)) for part in ("good", "bad", "total") if part in ratio}
            if queries.get("total") != "requests" or not (queries.get("good") == "good" or queries.get("bad") == "errors"):
                raise SloDefinitionError(
                    f"OpenSLO SLO {name!r}: ratioMetric must be good=good or bad=errors over total=requests"
                )
            found.append(SloDefinition(name=f"{name}{suffix}", title=title, indicator="success_ratio",
                                       target=float(objective["target"]), **common))
        elif "thresholdMetric" in indicator:
            if _query(indicator["thresholdMetric"]) != "latency" or objective.get("op") not in ("lt", "lte"):
                raise SloDefinitionError(f"OpenSLO SLO {name!r}: thresholdMetric needs query latency and op lt/lte")
            found.append(SloDefinition(name=f"{name}{suffix}", title=title, indicator="latency_under",
                                       target=float(objective["target"]), threshold_ms=float(objective["value"]),
                                       display="percentile_ms", **common))
        else:
            raise SloDefinitionError(f"OpenSLO SLO {name!r}: the indicator needs ratioMetric or thresholdMetric")
    return found
