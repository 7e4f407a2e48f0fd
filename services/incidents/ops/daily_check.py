"""PURE: the automated part of the daily operations check (the process's 1.1 and 1.2), from plain data
with `now` passed in.

Honest checks: each check says what it looked at. A check passes only on data that shows things are
fine. Without data it says so — `no_data` (the source answered and had nothing: no SLO of that kind,
no runbook recorded, no alert ever received) — or `not_checked` (Vigil has no source for it: the
peer has no URL, the SLO service has no capacity data), or `unknown` (the peer did not answer); `warn`
is data that needs a look without failing. The check as a whole passes only when every check passes,
so a fresh install never reads as healthy. Anomalies list every failure, unreachable peer, coverage
gap and outdated runbook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.incidents.lifecycle import Incident
from services.incidents.ops.reports import PeerResult, slo_rows

MANUAL_CHECKS = [
    ("overnight_alerts", "Review overnight alerts"),
    ("pending_tickets", "Check pending tickets"),
    ("deployment_queue", "Review deployment queue"),
    ("resource_utilization", "Check resource utilization"),
]
PEER_NAMES = {"slo": "SLO service", "escalator": "escalator"}
PEER_SETTINGS = {"slo": "VIGIL_INCIDENTS_SLO_URL", "escalator": "VIGIL_INCIDENTS_ESCALATOR_URL",
                 "ingest": "VIGIL_INCIDENTS_INGEST_URL"}
BUDGET_WATCH_PERCENT = 25.0  # less of the error budget left than this is worth a look


@dataclass(frozen=True)
class Overnight:
    """The alerts that started firing since the last check (`since`), each with its incident's
    state; `alerts_ever`: whether any alert has ever reached Vigil (if not, silence proves nothing)."""

    since: datetime
    alerts: Sequence[dict]  # {"incident_id", "status", "acknowledged"}
    alerts_ever: bool


def _check(key: str, label: str, status: str, detail: str) -> dict:
    return {"key": key, "label": label, "status": status, "detail": detail}


def _peer_status(result: PeerResult) -> str:
    return "not_checked" if result.state == "not_configured" else "unknown"


def _peer_detail(name: str, result: PeerResult) -> str:
    if result.state == "not_configured":
        return f"the {PEER_NAMES[name]} is not configured ({PEER_SETTINGS[name]})"
    return f"{PEER_NAMES[name]} {result.state}" + (f": {result.error}" if result.error else "")


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _is_latency(row: dict) -> bool:
    return "latency" in f"{row.get('title')} {row.get('id')}".lower()


def daily_check(
    *, health: dict[str, PeerResult], open_incidents: list[Incident], slo: PeerResult, capacity: PeerResult,
    gaps: PeerResult, runbooks: list[dict], overnight: Overnight, tickets: Sequence[dict],
    overdue_items: Sequence[dict], now: datetime,
) -> dict:
    """Each check: pass, fail, warn, no_data, not_checked or unknown, with what it saw."""
    anomalies: list[dict] = []

    def anomaly(observation: str, action: str, at: datetime | None = None) -> None:
        anomalies.append({"time": (at or now).isoformat(), "observation": observation, "action": action})

    checks = [_services(health, anomaly), _critical(open_incidents, anomaly)]
    rows = slo_rows(slo)
    measured = [r for r in rows if r["met"] is not None]
    for key, label, wanted, kind in (("error_rates_nominal", "Error rates nominal", False, "error-rate"),
                                     ("latency_within_slo", "Latency within SLO", True, "latency")):
        if slo.state != "ok":
            checks.append(_check(key, label, _peer_status(slo), _peer_detail("slo", slo)))
            continue
        mine = [r for r in rows if _is_latency(r) is wanted]
        with_data = [r for r in mine if r["met"] is not None]
        failing = [r for r in mine if r["met"] is False or r["firing"]]
        for r in failing:
            anomaly(f"SLO {r['id']}: {r['achieved']} against {r['target']}" + (f", firing {', '.join(r['firing'])}" if r["firing"] else ""),
                    "follow the error-budget policy")
        if failing:
            checks.append(_check(key, label, "fail", ", ".join(r["id"] for r in failing)))
        elif not mine:
            checks.append(_check(key, label, "no_data", f"the SLO service has no {kind} SLO"))
        elif not with_data:
            checks.append(_check(key, label, "no_data", f"none of the {len(mine)} {kind} SLOs has measurements yet"))
        else:
            unmeasured = len(mine) - len(with_data)
            checks.append(_check(key, label, "warn" if unmeasured else "pass", f"{len(with_data)} SLOs met"
                                 + (f"; {unmeasured} without data" if unmeasured else "")))
    if slo.state in ("unreachable", "error"):
        anomaly(f"SLO service {slo.state}: {slo.error}", "check the SLO service")
    checks.append(_overnight(overnight))
    checks.append(_pending(tickets, overdue_items))
    checks.append(_budgets(slo, measured))
    checks.append(_utilisation(capacity, anomaly))
    gap_rows = list(gaps.data or []) if gaps.state == "ok" else []
    for g in gap_rows:
        anomaly(f"on-call coverage gap: {g.get('schedule')} {g.get('tier')} {g.get('start_at')} – {g.get('end_at')}",
                "add an override", _time(g.get("start_at")) or now)
    if gaps.state in ("unreachable", "error"):
        anomaly(f"escalator {gaps.state}: {gaps.error}", "check the escalator")
    checks.append(_check("oncall_coverage", "On-call coverage without gaps (8 weeks)",
                         ("fail" if gap_rows else "pass") if gaps.state == "ok" else _peer_status(gaps),
                         (f"{len(gap_rows)} gaps" if gap_rows else "no gap in the next 8 weeks") if gaps.state == "ok"
                         else _peer_detail("escalator", gaps)))
    outdated = [r for r in runbooks if r["outdated"]]
    for r in outdated:
        anomaly(f"runbook {r['name']} outdated: {'; '.join(r['reasons'])}", f"update it ({r.get('owner') or 'no owner'})")
    checks.append(_check("runbooks_current", "Runbooks current",
                         "fail" if outdated else ("pass" if runbooks else "no_data"),
                         ", ".join(r["name"] for r in outdated) or (f"{len(runbooks)} current" if runbooks
                                                                    else "no runbook is recorded")))
    return {"checks": checks, "anomalies": anomalies, "coverage_gaps": gap_rows, "outdated_runbooks": outdated,
            "not_checked": [c["label"] for c in checks if c["status"] in ("no_data", "not_checked", "unknown")],
            "passed": all(c["status"] == "pass" for c in checks)}


def _services(health: dict[str, PeerResult], anomaly) -> dict:
    configured = {n: r for n, r in health.items() if r.state != "not_configured"}
    bad = {n: r for n, r in configured.items() if r.state != "ok"}
    for name, result in bad.items():
        anomaly(f"{name} not ready ({result.state}{': ' + result.error if result.error else ''})", f"investigate {name}")
    unchecked = sorted(set(health) - set(configured))
    detail = ", ".join(f"{n}: {r.state}" for n, r in sorted(configured.items()))
    if unchecked:
        detail += "; not checked (no URL): " + ", ".join(unchecked)
    return _check("services_healthy", "All services healthy", "fail" if bad else ("warn" if unchecked else "pass"), detail)


def _critical(open_incidents: list[Incident], anomaly) -> dict:
    critical = [i for i in open_incidents if i.severity == 1]
    for i in critical:
        anomaly(f"INC-{i.id} (SEV1) is {i.status}", "work the incident", i.detected_at)
    return _check("no_critical_incidents", "No critical alerts (open SEV1 incidents)", "fail" if critical else "pass",
                  ", ".join(f"INC-{i.id}" for i in critical) or "none open")


def _overnight(overnight: Overnight) -> dict:
    label, since = "Overnight alerts handled", overnight.since.isoformat(timespec="minutes")
    if not overnight.alerts_ever:
        return _check("overnight_alerts", label, "no_data",
                      "no alert has ever reached Vigil (is Alertmanager or the SLO service sending?)")
    waiting = sorted({a["incident_id"] for a in overnight.alerts if a["status"] != "resolved" and not a["acknowledged"]})
    incidents = len({a["incident_id"] for a in overnight.alerts})
    detail = f"{len(overnight.alerts)} alerts in {incidents} incidents since {since}"
    if waiting:
        return _check("overnight_alerts", label, "fail", detail + "; not acknowledged: " + ", ".join(f"INC-{i}" for i in waiting))
    return _check("overnight_alerts", label, "pass", detail + ("; all acknowledged or resolved" if overnight.alerts else ""))


def _pending(tickets: Sequence[dict], overdue_items: Sequence[dict]) -> dict:
    incidents = sorted({t["incident_id"] for t in tickets})
    parts = [f"{len(tickets)} tickets on open incidents" + (" (" + ", ".join(f"INC-{i}" for i in incidents) + ")" if tickets else ""),
             f"{len(overdue_items)} action items overdue" + (" (" + ", ".join(f"#{i['id']}" for i in overdue_items) + ")"
                                                             if overdue_items else "")]
    status = "fail" if overdue_items else ("warn" if tickets else "pass")
    return _check("pending_tickets", "Pending tickets and overdue action items", status, "; ".join(parts))


def _budgets(slo: PeerResult, measured: list[dict]) -> dict:
    key, label = "error_budgets", "Error budgets left"
    if slo.state != "ok":
        return _check(key, label, _peer_status(slo), _peer_detail("slo", slo))
    known = [r for r in measured if r["budget_remaining_percent"] is not None]
    if not known:
        return _check(key, label, "no_data", "no SLO with measurements and a budget")
    spent = [r for r in known if r["budget_remaining_percent"] <= 0]
    low = [r for r in known if 0 < r["budget_remaining_percent"] < BUDGET_WATCH_PERCENT]
    detail = ", ".join(f"{r['id']} {r['budget_remaining_percent']:g}%" for r in sorted(known, key=lambda r: r["budget_remaining_percent"]))
    return _check(key, label, "fail" if spent else ("warn" if low else "pass"), detail)


def _utilisation(capacity: PeerResult, anomaly) -> dict:
    key, label = "resource_utilization", "Resource utilisation within thresholds"
    if capacity.state != "ok":
        return _check(key, label, _peer_status(capacity), _peer_detail("slo", capacity))
    rows = list((capacity.data or {}).get("items", []))
    if not rows:
        return _check(key, label, "not_checked", "no capacity data from the SLO service")
    alerting = [r for r in rows if r.get("alert")]
    for r in alerting:
        anomaly(f"{r.get('service')} {r.get('resource')} at {r.get('current_percent')}% (threshold {r.get('threshold_percent')}%)"
                + (f", scaling needed by {r['scaling_needed_by']}" if r.get("scaling_needed_by") else ""), "plan capacity")
    watch = [r for r in rows if not r.get("alert") and r.get("scaling_needed_by")]
    detail = ", ".join(f"{r.get('service')} {r.get('resource')} {r.get('current_percent')}%" for r in alerting or watch) \
        or f"{len(rows)} resources within their thresholds"
    return _check(key, label, "fail" if alerting else ("warn" if watch else "pass"), detail)


OVERNIGHT_DEFAULT = timedelta(hours=24)
OVERNIGHT_LONGEST = timedelta(days=4)  # a long weekend; an older last check is not "overnight" any more


def overnight_since(last_check_at: datetime | None, now: datetime) -> datetime:
    """Alerts since the last daily check count as overnight (over a weekend: since Friday's), the
    last 24 hours without one, never more than four days."""
    if last_check_at is None or last_check_at >= now:
        return now - OVERNIGHT_DEFAULT
    return max(last_check_at, now - OVERNIGHT_LONGEST)
