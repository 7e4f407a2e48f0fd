"""The OpenSLO v1 subset we read: `kind: SLO` with an inline ratio or threshold indicator.

- `ratioMetric` whose `good`/`bad`/`total` metric sources name Vigil's counters
  (`metricSource.spec.query`: `requests`, `errors` or `good`) → a success-ratio SLO;
- `thresholdMetric` (query `latency`) with objectives `op: lt|lte` and `value` in milliseconds →
  a latency SLO (the value must be a histogram bucket bound);
- `budgetingMethod` Occurrences or Timeslices; one definition per objective.
The time window is always Vigil's (rolling 30 days and the calendar month, both reported).
"""

from __future__ import annotations

from services.slo.definitions import SloDefinition, SloDefinitionError


def _query(source: object) -> str:
    if not isinstance(source, dict):
        return ""
    spec = (source.get("metricSource") or {}).get("spec") or {}
    return str(spec.get("query", "")).strip().lower()


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
        if "ratioMetric" in indicator:
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
