"""PURE: the error-budget policy of the escalator — how a service's error-budget state (published by
the SLO service on `vigil.budgets.v1`) changes the escalation policy of that service's incidents when
they open. Decisions as data: `adjustments(...)` says what changes and why, `adjusted(...)` applies
them to the policy snapshot, so the escalation view shows the policy that was in force.

```yaml
budget_policy:          # by the incident's `service` label, or "*"
  checkout:
    exhausted: {medium: page}            # medium tickets become pages while the budget is spent
    burning: {ack_timeout_factor: 0.5}   # acknowledgements lapse twice as fast while it burns
    healthy: {low: business_hours}       # low pages and tickets wait for business hours
```

A service's state is the worst of its SLOs' (exhausted > burning > healthy); an incident without a
`service` label, or of a service the SLO service has said nothing about, keeps the policy as it is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.escalator.policy import (
    LEVELS,
    NEXT_BUSINESS_DAY,
    PolicyConfig,
    SeverityPolicy,
    Step,
)

State = Literal["healthy", "burning", "exhausted"]
RANK: dict[str, int] = {"healthy": 0, "burning": 1, "exhausted": 2}
Change = Literal["page", "business_hours"]
_MODEL = ConfigDict(frozen=True, extra="forbid")


class BudgetRules(BaseModel):
    """What one budget state changes: per severity `page` (ticket steps page the same role instead)
    or `business_hours` (page, notify and ticket steps become one ticket due the next business day);
    `ack_timeout_factor` scales every acknowledgement timeout (0.5: lapses in half the time)."""

    model_config = _MODEL

    critical: Change | None = None
    high: Change | None = None
    medium: Change | None = None
    low: Change | None = None
    ack_timeout_factor: float | None = Field(default=None, gt=0, le=10)


class ServiceBudgetPolicy(BaseModel):
    model_config = _MODEL

    healthy: BudgetRules = BudgetRules()
    burning: BudgetRules = BudgetRules()
    exhausted: BudgetRules = BudgetRules()


@dataclass(frozen=True)
class BudgetOfSlo:
    """The latest state the SLO service published for one SLO of a service."""

    slo: str
    state: State
    remaining_fraction: float


@dataclass(frozen=True)
class Adjustment:
    """One change to the policy of `level` (None: every severity), with the sentence that says why."""

    level: str | None
    change: Literal["page", "business_hours", "ack_timeout_factor"]
    factor: float | None
    reason: str


def service_state(budgets: Iterable[BudgetOfSlo]) -> BudgetOfSlo | None:
    """The worst SLO of a service (the least budget left among equals); None: nothing known."""
    return max(budgets, key=lambda b: (RANK[b.state], -b.remaining_fraction, b.slo), default=None)


def policy_for(service: str | None, policies: Mapping[str, ServiceBudgetPolicy]) -> ServiceBudgetPolicy | None:
    if service is None:
        return None
    return policies.get(service) or policies.get("*")


def _why(service: str, worst: BudgetOfSlo) -> str:
    state = {"exhausted": "is exhausted", "burning": "is burning fast", "healthy": "is healthy"}[worst.state]
    return f"{service}'s error budget {state} ({worst.slo}: {worst.remaining_fraction * 100:.0f} % left)"


def adjustments(*, service: str | None, policy: ServiceBudgetPolicy | None, budgets: Iterable[BudgetOfSlo]) -> list[Adjustment]:
    """What the service's budget policy changes for an incident opening now."""
    worst = service_state(budgets)
    if service is None or policy is None or worst is None:
        return []
    rules: BudgetRules = getattr(policy, worst.state)
    why = _why(service, worst)
    out = [Adjustment(level, change, None, f"{level} → {'page' if change == 'page' else 'business hours'}: {why}")
           for level in LEVELS if (change := getattr(rules, level)) is not None]
    if rules.ack_timeout_factor is not None and rules.ack_timeout_factor != 1:
        out.append(Adjustment(None, "ack_timeout_factor", rules.ack_timeout_factor,
                              f"ack timeout × {rules.ack_timeout_factor:g}: {why}"))
    return out


def _paging(policy: SeverityPolicy) -> SeverityPolicy:
    steps = tuple(Step(after=s.after, action="page", role=s.role) if s.action == "ticket" else s for s in policy.steps)
    return policy.model_copy(update={"steps": steps})


def _business_hours(policy: SeverityPolicy) -> SeverityPolicy:
    first = policy.steps[0]
    step = Step(after=first.after, action="ticket", role=first.role, ticket_due=NEXT_BUSINESS_DAY)
    return SeverityPolicy(steps=(step,), ack_timeout=policy.ack_timeout)


def _scaled(policy: SeverityPolicy, factor: float) -> SeverityPolicy:
    if policy.ack_timeout is None:
        return policy
    seconds = max(round(policy.ack_timeout.total_seconds() * factor), 1)
    return policy.model_copy(update={"ack_timeout": timedelta(seconds=seconds)})


def adjusted(policy: PolicyConfig, changes: Iterable[Adjustment]) -> PolicyConfig:
    """`policy` with `changes` applied (a new snapshot; `policy` is left as it is)."""
    levels = {level: getattr(policy, level) for level in LEVELS}
    for c in changes:
        for level in ([c.level] if c.level else LEVELS):
            if c.change == "page":
                levels[level] = _paging(levels[level])
            elif c.change == "business_hours":
                levels[level] = _business_hours(levels[level])
            else:
                levels[level] = _scaled(levels[level], c.factor or 1)
    return policy.model_copy(update=levels)
