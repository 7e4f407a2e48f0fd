"""Response models of the SLO API. `SloList` (`GET /api/v1/slos`) and `CapacityList`
(`GET /api/v1/capacity`) are what the operations reports read: keep them stable."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class BudgetOut(BaseModel):
    window: Literal["rolling_30d", "calendar_month"]
    start: datetime
    end: datetime
    total_minutes: float = Field(description="The window's error budget in minutes (43.2 for 99.9% over 30 days)")
    consumed_minutes: float
    remaining_minutes: float
    remaining_percent: float = Field(description="100 = untouched, 0 = spent, negative = overspent")
    allowed_bad_events: float | None = Field(description="Occurrence budgets: (1 - target) x events so far")
    bad_events: int | None
    good_events: int
    total_events: int
    sli_percent: float | None = Field(description="Good events (or good minutes) in percent; null without traffic")


class BurnRateOut(BaseModel):
    tier: Literal["page", "ticket"]
    long_window: str = Field(description="e.g. 1h")
    short_window: str
    threshold: float = Field(description="Burn-rate factor both windows must reach, e.g. 14.4")
    long_burn: float
    short_burn: float
    long_window_events: int
    firing: bool
    low_traffic_guarded: bool = Field(description="Would fire, but the long window has fewer events than the guard")


class SloStatus(BaseModel):
    """One row of the operations process's SLO dashboard table, with its budget."""

    id: str = Field(description="<service>:<slo name>")
    service: str
    slo: str
    title: str = Field(description="e.g. Availability, Latency (p99)")
    target: str = Field(description="As the dashboard writes it: 99.9%, < 500ms, < 0.1%")
    target_ratio: float = Field(description="Fraction of good events or minutes, e.g. 0.999")
    budgeting: Literal["occurrences", "timeslices"]
    current: str | None = Field(description="As the dashboard writes it: 99.95%, 320ms, 0.05%; null without traffic")
    current_value: float | None = Field(
        description="percent_good: SLI in % (30 days); percent_bad: error % (30 days); percentile_ms: the quantile over the last 24 h in ms"
    )
    met: bool | None = Field(description="The rolling 30-day SLI reaches the target; null without traffic")
    budget: BudgetOut = Field(description="The rolling 30-day budget")
    calendar_month: BudgetOut
    projected_exhaustion_at: datetime | None = Field(description="When the 30-day budget runs out at the 1-day burn rate")
    firing: list[str] = Field(description="Alert tiers firing now: page, ticket, exhausted")
    evaluated_at: datetime
    burn_rates: list[BurnRateOut] | None = Field(default=None, description="Every burn-rate rule, with ?burn_rates=true")


class SloList(BaseModel):
    items: list[SloStatus]
    evaluated_at: datetime | None


class SloDetail(SloStatus):
    burn_rates: list[BurnRateOut]


class DefinitionOut(BaseModel):
    """One configured SLO, known before any metrics arrive."""

    service: str = Field(description="The service it applies to; * = every service that sends metrics")
    name: str
    title: str
    objective: str = Field(description="As the dashboard writes it: 99.9%, < 500ms, < 0.1%")
    indicator: Literal["success_ratio", "latency_under"]
    target: float
    threshold_ms: float | None
    budgeting: Literal["occurrences", "timeslices"]
    selectors: dict[str, str] = Field(default_factory=dict, description="Series selectors by role (total, bad, good, histogram); "
                                      "empty when the SLO reads Vigil's metrics events")


class DefinitionList(BaseModel):
    items: list[DefinitionOut]


class DayOut(BaseModel):
    day: date = Field(description="Local day in the calendar time zone")
    good_events: int
    total_events: int
    bad_minutes: int | None = Field(description="Time-slice SLOs only")
    sli_percent: float | None
    budget_consumed_minutes: float
    budget_remaining_percent: float = Field(description="Of the calendar month's budget, at the end of the day")


class SloHistory(BaseModel):
    id: str
    days: list[DayOut]


class CapacityOut(BaseModel):
    """One row of the monthly review's capacity table."""

    service: str
    resource: Literal["cpu", "memory", "storage", "network"]
    current_percent: float = Field(description="Mean utilisation of the latest hour with data")
    trend_percent_per_week: float | None = Field(description="Least-squares slope of the daily means; null with < 2 days")
    trend: str = Field(description="Stable, +2%/week, -1%/week")
    threshold_percent: float
    scaling_needed_by: date | None = Field(description="When the trend crosses the threshold; null if it never does")
    headroom_percent: float = Field(description="threshold - current")
    alert: bool = Field(description="scaling_needed_by is closer than the configured lead time (or already crossed)")
    weeks: int
    evaluated_at: datetime


class CapacityList(BaseModel):
    items: list[CapacityOut]
    evaluated_at: datetime | None


class PushAccepted(BaseModel):
    accepted: int
    topic: str


class GateSlo(BaseModel):
    slo: str
    state: Literal["healthy", "burning", "exhausted"] = Field(
        description="exhausted: the budget-exhausted alert fires; burning: a page or ticket burn-rate alert fires")
    spent_percent: float = Field(description="Of the rolling 30-day budget; over 100 once overspent")
    remaining_percent: float
    firing: list[str]


class ReleaseGateOut(BaseModel):
    """Whether the service's error-budget policy allows releases now (deploy tooling's freeze signal)."""

    service: str
    allowed: bool
    reason: str = Field(description="e.g. 'checkout:availability is exhausted (104 % of its 30-day budget spent) (policy: freeze when exhausted)'")
    policy: dict = Field(description="The policy in force for the service (error_budget_policy in VIGIL_SLO_CONFIG_FILE)")
    slos: list[GateSlo] = Field(description="Every evaluated SLO of the service, the worst first")
    evaluated_at: datetime | None
