"""PURE: the alerts the SLO service raises — what the burn-rate and budget alerts of an evaluation
say, as `AlertEvent`s with deterministic fingerprints and ids — and the firing/resolved transitions
between what fires now and what fired before. (Capacity alerts are worded in `capacity`.)"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.slo.evaluation import Evaluation
from shared.events import AlertEvent

SOURCE = "slo"
ALERTNAMES = {
    "page": "SLOBurnRatePage", "ticket": "SLOBurnRateTicket", "exhausted": "SLOErrorBudgetExhausted",
    "capacity": "CapacityThresholdSoon",
}
SEVERITY = {"page": "critical", "ticket": "warning", "exhausted": "warning", "capacity": "warning"}
SLO_TIERS = ("page", "ticket", "exhausted")
CAPACITY_TIERS = ("capacity",)


def subject_key(tier: str) -> str:
    """The label naming what an alert of `tier` is about: the SLO, or the resource (capacity)."""
    return "resource" if tier in CAPACITY_TIERS else "slo"


def fingerprint(*, service: str, subject: str, tier: str) -> str:
    """Stable per (service, SLO or resource, tier): the same burn is always the same alert."""
    return hashlib.sha256(f"{SOURCE}\x1f{service}\x1f{subject}\x1f{tier}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Wanted:
    """An alert that should be firing now, with what it says."""

    service: str
    subject: str  # the SLO name or the resource
    tier: str
    summary: str
    description: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(service=self.service, subject=self.subject, tier=self.tier)


def slo_alert(*, service: str, slo: str, title: str, tier: str, status: dict) -> Wanted:
    """What the `tier` alert (page, ticket: burning fast; exhausted) of one SLO says, from its
    evaluated status: the target, the 30-day budget left and the burn rates of the tier's rules."""
    budget = status["budget"]
    burns = ", ".join(f"{b['long_window']}/{b['short_window']}: {b['long_burn']:g}x/{b['short_burn']:g}x"
                      for b in status["burn_rates"] if b["tier"] == tier)
    return Wanted(
        service=service, subject=slo, tier=tier,
        summary=f"{title} SLO of {service}: " + (
            "error budget exhausted" if tier == "exhausted" else f"error budget burning fast ({tier})"),
        description=f"target {status['target']}; {budget['remaining_percent']:.1f}% of the 30-day budget left"
                    + (f"; burn rates {burns}" if burns else ""),
    )


def wanted_alerts(evaluations: Iterable[Evaluation]) -> list[Wanted]:
    """The burn-rate and budget alerts that should fire now: one per tier an evaluation fires."""
    return [slo_alert(service=e.service, slo=e.definition.name, title=e.definition.title, tier=tier, status=e.status)
            for e in evaluations for tier in sorted(e.tiers)]


@dataclass(frozen=True)
class Firing:
    """An alert stored as firing."""

    fingerprint: str
    service: str
    subject: str
    tier: str
    starts_at: datetime


@dataclass(frozen=True)
class Transition:
    fingerprint: str
    service: str
    subject: str
    tier: str
    status: str  # firing | resolved
    starts_at: datetime
    ends_at: datetime | None
    event: AlertEvent


def alert_event(*, service: str, subject: str, tier: str, status: str, starts_at: datetime, ends_at: datetime | None,
                now: datetime, summary: str = "", description: str = "") -> AlertEvent:
    fp = fingerprint(service=service, subject=subject, tier=tier)
    key = subject_key(tier)
    return AlertEvent(
        event_id=AlertEvent.id_for(source=SOURCE, fingerprint=fp, status=status, starts_at=starts_at, ends_at=ends_at),
        occurred_at=now, source=SOURCE, fingerprint=fp, status=status,
        labels={"alertname": ALERTNAMES[tier], "service": service, key: subject, "tier": tier,
                "severity": SEVERITY[tier], "source": SOURCE},
        annotations={k: v for k, v in (("summary", summary), ("description", description)) if v},
        # One group per SLO, not per tier: its page and ticket burn rates and its exhausted budget are
        # one outage, one incident.
        starts_at=starts_at, ends_at=ends_at, group_key=f"{SOURCE}:{service}:{subject}",
        group_labels={"service": service, key: subject},
    )


def transitions(*, wanted: list[Wanted], firing: list[Firing], now: datetime) -> list[Transition]:
    """Fire what is wanted and not firing; resolve what fires and is no longer wanted. An alert that
    keeps firing produces nothing (Alertmanager-style resends are not needed: the incident stays open)."""
    out: list[Transition] = []
    firing_by_fp = {f.fingerprint: f for f in firing}
    wanted_fps = set()
    for w in sorted(wanted, key=lambda w: w.fingerprint):
        wanted_fps.add(w.fingerprint)
        if w.fingerprint in firing_by_fp:
            continue
        event = alert_event(service=w.service, subject=w.subject, tier=w.tier, status="firing", starts_at=now, ends_at=None,
                            now=now, summary=w.summary, description=w.description)
        out.append(Transition(w.fingerprint, w.service, w.subject, w.tier, "firing", now, None, event))
    for f in sorted(firing, key=lambda f: f.fingerprint):
        if f.fingerprint in wanted_fps:
            continue
        event = alert_event(service=f.service, subject=f.subject, tier=f.tier, status="resolved", starts_at=f.starts_at,
                            ends_at=now, now=now, summary=f"{ALERTNAMES[f.tier]} for {f.service} {f.subject} resolved")
        out.append(Transition(f.fingerprint, f.service, f.subject, f.tier, "resolved", f.starts_at, now, event))
    return out
