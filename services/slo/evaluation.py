"""PURE: one SLO of one service evaluated at `now` — its dashboard row, budgets, burn rates and the
alert tiers that should be firing — from window counts the evaluator read; and every SLO of every
service at once (`evaluate_counts`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from services.slo.buckets import quantile
from services.slo.budget import (
    BURN_WINDOWS, Budget, Counts, error_budget, evaluate_rules, firing_tiers, projected_exhaustion,
    sli_value, burn_rate,
)
from services.slo.definitions import SloDefinition, percent
from services.slo.windows import Window, calendar_month, rolling

DAY = timedelta(days=1)
SHORT_WINDOWS = tuple(w for w in BURN_WINDOWS if w <= timedelta(hours=6))  # read from minute buckets
LONG_WINDOWS = tuple(w for w in BURN_WINDOWS if w > timedelta(hours=6))    # read from hour buckets


@dataclass(frozen=True)
class EvaluatorConfig:
    """What the evaluator's ticks work with (from the settings)."""

    definitions: tuple[SloDefinition, ...]
    zone: str
    min_events: int
    capacity_threshold: float
    capacity_weeks: int
    capacity_lead: timedelta
    retention: timedelta
    late_window: timedelta


@dataclass(frozen=True)
class WindowCounts:
    """Counts of one SLO of one service: per burn-rate window, the rolling 30 days, the calendar month."""

    burn: dict[timedelta, Counts]
    rolling_30d: Counts
    month: Counts


@dataclass(frozen=True)
class Evaluation:
    service: str
    definition: SloDefinition
    status: dict  # JSON-ready, the shape of schemas.SloDetail
    tiers: set[str]


@lru_cache(maxsize=64)
def _duration(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _budget_out(budget: Budget, counts: Counts, window: Window, definition: SloDefinition) -> dict:
    if definition.budgeting == "timeslices":
        elapsed = max(window.elapsed_minutes, 1.0)
        sli = 1 - counts.bad_minutes / elapsed if counts.total else None
    else:
        sli = sli_value(counts)
    return {
        "window": window.name, "start": window.start, "end": window.end,
        "total_minutes": round(budget.total_minutes, 4), "consumed_minutes": round(budget.consumed_minutes, 4),
        "remaining_minutes": round(budget.remaining_minutes, 4),
        "remaining_percent": round(budget.remaining_fraction * 100, 4),
        "allowed_bad_events": budget.allowed_bad_events, "bad_events": budget.bad_events,
        "good_events": counts.good, "total_events": counts.total,
        "sli_percent": round(sli * 100, 6) if sli is not None else None,
    }


def current_text(definition: SloDefinition, sli: float | None, quantile_s: float | None) -> tuple[str | None, float | None]:
    """The dashboard's "Current" column and its number."""
    if definition.display == "percentile_ms":
        if quantile_s is None:
            return None, None
        ms = round(quantile_s * 1000, 3)
        return f"{ms:g}ms", ms
    if sli is None:
        return None, None
    if definition.display == "percent_bad":
        return percent(1 - sli), round((1 - sli) * 100, 6)
    return percent(sli), round(sli * 100, 6)


@lru_cache(maxsize=64)
def _rule_fields(rule) -> tuple[str, str, str, float]:
    """The parts of a rule's status entry that do not depend on the counts (once per rule)."""
    return rule.tier, _duration(rule.long_window), _duration(rule.short_window), round(rule.factor(), 4)


@lru_cache(maxsize=16)
def _windows(now: datetime, zone: str) -> tuple[Window, Window]:
    """The rolling 30 days and the calendar month of `now` (the same for every SLO of a tick)."""
    return rolling(now), calendar_month(now, zone)


def evaluate_slo(
    *, service: str, definition: SloDefinition, counts: WindowCounts, now: datetime, zone: str, min_events: int,
    quantile_s: float | None = None,
) -> Evaluation:
    """`quantile_s`: for percentile displays, the latency quantile `definition.target` of the last day."""
    window_30d, month = _windows(now, zone)
    budget = error_budget(target=definition.target, counts=counts.rolling_30d, window=window_30d, budgeting=definition.budgeting)
    month_budget = error_budget(target=definition.target, counts=counts.month, window=month, budgeting=definition.budgeting)
    results = evaluate_rules(target=definition.target, budgeting=definition.budgeting, windows=counts.burn, min_events=min_events)
    tiers = firing_tiers(results, budget=budget, budget_events=counts.rolling_30d.total, min_events=min_events)
    day_burn = burn_rate(target=definition.target, counts=counts.burn.get(DAY, Counts()), budgeting=definition.budgeting)
    budget_30d = _budget_out(budget, counts.rolling_30d, window_30d, definition)
    sli = budget_30d["sli_percent"] / 100 if budget_30d["sli_percent"] is not None else None
    text, value = current_text(definition, sli, quantile_s)
    status = {
        "id": f"{service}:{definition.name}", "service": service, "slo": definition.name, "title": definition.title,
        "target": definition.objective_text(), "target_ratio": definition.target, "budgeting": definition.budgeting,
        "current": text, "current_value": value, "met": (sli >= definition.target) if sli is not None else None,
        "budget": budget_30d, "calendar_month": _budget_out(month_budget, counts.month, month, definition),
        "projected_exhaustion_at": projected_exhaustion(budget=budget, burn=day_burn, now=now) if counts.rolling_30d.total else None,
        "firing": sorted(tiers), "evaluated_at": now,
        "burn_rates": [
            {
                "tier": tier, "long_window": long_window, "short_window": short_window,
                "threshold": threshold, "long_burn": round(r.long_burn, 4), "short_burn": round(r.short_burn, 4),
                "long_window_events": r.long_events, "firing": r.fires, "low_traffic_guarded": r.guarded,
            }
            for r in results for tier, long_window, short_window, threshold in (_rule_fields(r.rule),)
        ],
    }
    return Evaluation(service=service, definition=definition, status=status, tiers=tiers)


def evaluate_counts(counts: dict, histograms: dict, cfg: EvaluatorConfig, now: datetime) -> list[Evaluation]:
    """Every SLO of every service, from {service: {definition index: WindowCounts}} and
    {service: cumulative latency histogram of the last day}."""
    evaluations = []
    for svc, per_def in counts.items():
        for i, wc in per_def.items():
            d = cfg.definitions[i]
            q = quantile(d.target, histograms.get(svc, {})) if d.display == "percentile_ms" else None
            evaluations.append(evaluate_slo(service=svc, definition=d, counts=wc, now=now, zone=cfg.zone,
                                            min_events=cfg.min_events, quantile_s=q))
    return evaluations
