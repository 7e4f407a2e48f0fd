"""PURE: the error-budget policy — what state each SLO's budget is in (healthy, burning, exhausted),
whether a service may release now (the release gate deploy tooling asks), and which budget states
changed since the last evaluation (the `BudgetStateChanged` events the escalator reads).

The state follows the alerts the evaluator fires, so the low-traffic guard applies to it too: a
budget is `exhausted` while the exhausted alert fires, `burning` while a page or ticket burn-rate
alert fires, `healthy` otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import BudgetState, BudgetStateChanged

FreezeWhen = Literal["exhausted", "burning", "never"]
SEVERITY_ORDER: dict[str, int] = {"healthy": 0, "burning": 1, "exhausted": 2}
WORDING = {
    "exhausted": "freeze when exhausted", "burning": "freeze when burning or exhausted", "never": "never freeze",
}


class ErrorBudgetPolicy(BaseModel):
    """One service's policy (`error_budget_policy` in `VIGIL_SLO_CONFIG_FILE`, by service or `*`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    freeze_when: FreezeWhen = Field(
        default="exhausted",
        description="Releases stop while any SLO of the service is in this state (or worse); never: the gate always opens",
    )


DEFAULT_POLICY = ErrorBudgetPolicy()


def policy_for(service: str, policies: Mapping[str, ErrorBudgetPolicy]) -> ErrorBudgetPolicy:
    """The service's own policy, else the `*` one, else freeze when a budget is exhausted."""
    return policies.get(service) or policies.get("*") or DEFAULT_POLICY


def budget_state(status: Mapping) -> BudgetState:
    """The state of one SLO's budget, from its evaluated status (`firing` tiers)."""
    firing = set(status.get("firing", ()))
    if "exhausted" in firing:
        return "exhausted"
    if firing & {"page", "ticket"}:
        return "burning"
    return "healthy"


def spent_percent(status: Mapping) -> float:
    """How much of the rolling 30-day budget is spent (over 100 once overspent)."""
    return round(100 - status["budget"]["remaining_percent"], 1)


@dataclass(frozen=True)
class ReleaseGate:
    service: str
    allowed: bool
    reason: str
    slos: list[dict]


def _freezes(policy: ErrorBudgetPolicy, state: BudgetState) -> bool:
    if policy.freeze_when == "never":
        return False
    return SEVERITY_ORDER[state] >= SEVERITY_ORDER[policy.freeze_when]


def release_gate(*, service: str, statuses: Iterable[Mapping], policy: ErrorBudgetPolicy) -> ReleaseGate:
    """Whether `policy` lets `service` release now, given its SLOs' evaluated statuses; the reason
    names the SLOs that hold releases back (the worst first), or says why none does."""
    slos = sorted(
        ({"slo": s["slo"], "state": budget_state(s), "spent_percent": spent_percent(s),
          "remaining_percent": s["budget"]["remaining_percent"], "firing": list(s.get("firing", ()))} for s in statuses),
        key=lambda r: (-SEVERITY_ORDER[r["state"]], -r["spent_percent"], r["slo"]),
    )
    policy_text = f"policy: {WORDING[policy.freeze_when]}"
    blocking = [r for r in slos if _freezes(policy, r["state"])]
    if blocking:
        named = "; ".join(f"{service}:{r['slo']} is {r['state']} ({r['spent_percent']:g} % of its 30-day budget spent)"
                          for r in blocking)
        return ReleaseGate(service=service, allowed=False, reason=f"{named} ({policy_text})", slos=slos)
    worst = slos[0] if slos else None
    detail = (f"{service}:{worst['slo']} is {worst['state']} with {worst['spent_percent']:g} % of its 30-day budget spent"
              if worst else f"{service} has no evaluated SLOs")
    return ReleaseGate(service=service, allowed=True, reason=f"releases allowed: {detail} ({policy_text})", slos=slos)


@dataclass(frozen=True)
class StoredState:
    """The budget state last published for one SLO of one service."""

    service: str
    slo: str
    state: BudgetState
    since: datetime


def state_changes(*, statuses: Iterable[Mapping], stored: Iterable[StoredState], now: datetime) -> list[BudgetStateChanged]:
    """One event per SLO whose budget state differs from the one last published (an SLO seen for
    the first time publishes its state too, so a consumer learns every SLO's state once)."""
    known = {(s.service, s.slo): s.state for s in stored}
    events = []
    for s in statuses:
        state = budget_state(s)
        if known.get((s["service"], s["slo"])) == state:
            continue
        events.append(BudgetStateChanged(
            event_id=BudgetStateChanged.id_for(service=s["service"], slo=s["slo"], state=state, since=now),
            occurred_at=now, source="slo", service=s["service"], slo=s["slo"], state=state,
            previous_state=known.get((s["service"], s["slo"])),
            remaining_fraction=round(s["budget"]["remaining_percent"] / 100, 6), since=now,
        ))
    return sorted(events, key=lambda e: (e.service, e.slo))
