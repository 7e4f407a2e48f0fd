"""PURE: error budgets and burn rates from window counts, and which burn-rate alerts fire.

Counts are per window: good and total events, and for time-slice SLOs bad minutes. Burn rate 1
means spending the budget exactly over the 30-day period; 14.4 spends 2 % of it in one hour.
The alert rules are the SRE Workbook's multi-window, multi-burn-rate ones as Sloth encodes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import NamedTuple

from services.slo.windows import ROLLING_PERIOD, Window, timeslice_budget_minutes


class Counts(NamedTuple):
    """What one window holds for one SLO of one service (a named tuple: the evaluator builds
    dozens per SLO and tick, and a tuple is built faster than a frozen dataclass)."""

    good: int = 0
    total: int = 0
    bad_minutes: int = 0
    minutes: float = 0.0  # the window's length (for time slices: the minutes that could be bad)

    @property
    def bad(self) -> int:
        return self.total - self.good


NO_COUNTS = Counts()


@dataclass(frozen=True)
class Budget:
    total_minutes: float
    consumed_minutes: float
    remaining_minutes: float
    remaining_fraction: float  # 1 = untouched, 0 = spent, negative = overspent
    allowed_bad_events: float | None  # occurrences only
    bad_events: int | None


def error_budget(*, target: float, counts: Counts, window: Window, budgeting: str) -> Budget:
    """The budget of `window`. Time slices: (1 - target) x the window's minutes, spent by bad
    minutes. Occurrences: (1 - target) x the events so far, spent by bad events; its minutes are
    the same fraction of the time-slice budget, so both read in minutes."""
    total_minutes = timeslice_budget_minutes(target, window)
    if budgeting == "timeslices":
        consumed = float(counts.bad_minutes)
        fraction_spent = consumed / total_minutes if total_minutes else 0.0
        allowed, bad = None, None
    else:
        allowed = (1 - target) * counts.total
        bad = counts.bad
        fraction_spent = bad / allowed if allowed else 0.0
        consumed = fraction_spent * total_minutes
    return Budget(
        total_minutes=total_minutes,
        consumed_minutes=consumed,
        remaining_minutes=total_minutes - consumed,
        remaining_fraction=1 - fraction_spent,
        allowed_bad_events=allowed,
        bad_events=bad,
    )


def burn_rate(*, target: float, counts: Counts, budgeting: str) -> float:
    """How fast the window spends budget, relative to spending it evenly over the period."""
    allowed = 1 - target
    if budgeting == "timeslices":
        return (counts.bad_minutes / counts.minutes) / allowed if counts.minutes else 0.0
    return (counts.bad / counts.total) / allowed if counts.total else 0.0


def sli_value(counts: Counts) -> float | None:
    """The good fraction, or None without traffic."""
    return counts.good / counts.total if counts.total else None


@dataclass(frozen=True)
class BurnRule:
    """Alert when both windows burn faster than `factor`: `budget_fraction` of the period's budget
    spent within `long_window` (the short window makes the alert stop soon after the burn does)."""

    tier: str  # page | ticket
    long_window: timedelta
    short_window: timedelta
    budget_fraction: float

    def factor(self, period: timedelta = ROLLING_PERIOD) -> float:
        return self.budget_fraction * (period / self.long_window)

    @cached_property
    def default_factor(self) -> float:
        """`factor()` over the rolling period, computed once per rule."""
        return self.factor()


H = timedelta(hours=1)
BURN_RULES: tuple[BurnRule, ...] = (
    BurnRule("page", 1 * H, timedelta(minutes=5), 0.02),    # 14.4x
    BurnRule("page", 6 * H, timedelta(minutes=30), 0.05),   # 6x
    BurnRule("ticket", 24 * H, 2 * H, 0.10),                # 3x
    BurnRule("ticket", 72 * H, 6 * H, 0.10),                # 1x
)
BURN_WINDOWS: tuple[timedelta, ...] = tuple(sorted({w for r in BURN_RULES for w in (r.long_window, r.short_window)}))


@dataclass(frozen=True)
class RuleResult:
    rule: BurnRule
    long_burn: float
    short_burn: float
    long_events: int
    fires: bool
    guarded: bool  # would fire, but the long window has fewer events than the low-traffic guard


def evaluate_rules(
    *, target: float, budgeting: str, windows: dict[timedelta, Counts], min_events: int,
    rules: tuple[BurnRule, ...] = BURN_RULES,
) -> list[RuleResult]:
    results = []
    for rule in rules:
        long, short = windows.get(rule.long_window, NO_COUNTS), windows.get(rule.short_window, NO_COUNTS)
        long_burn = burn_rate(target=target, counts=long, budgeting=budgeting)
        short_burn = burn_rate(target=target, counts=short, budgeting=budgeting)
        factor = rule.default_factor
        burning = long_burn >= factor and short_burn >= factor
        guarded = burning and long.total < min_events
        results.append(RuleResult(rule, long_burn, short_burn, long.total, burning and not guarded, guarded))
    return results


def firing_tiers(results: list[RuleResult], *, budget: Budget, budget_events: int, min_events: int) -> set[str]:
    """Tiers that fire: `page`/`ticket` from the rules, `exhausted` when the rolling budget is spent
    (also under the low-traffic guard, so a handful of requests cannot exhaust a budget)."""
    tiers = {r.rule.tier for r in results if r.fires}
    if budget.remaining_fraction <= 0 and budget_events >= min_events:
        tiers.add("exhausted")
    return tiers


def projected_exhaustion(*, budget: Budget, burn: float, now: datetime, period: timedelta = ROLLING_PERIOD) -> datetime | None:
    """When the budget runs out if `burn` continues: `now` if already spent, None if not burning."""
    if budget.remaining_fraction <= 0:
        return now
    if burn <= 0:
        return None
    return now + budget.remaining_fraction * period / burn
