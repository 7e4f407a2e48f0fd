"""A working day's data for the browser tests and the screenshots, made through the services' own
APIs (and a real Alertmanager): a critical alert's incident, an acknowledged SEV2, a SEV3 being
mitigated, and two hours of metrics for two services. The same every run (a fresh database), so
screenshots change only when the pages do."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.alertmanager import postable_alert
from tests.integration.console.support import Browser, add_people
from tests.services import TOKENS
from tests.support import wait_for

# name -> (role, password); alice is on call in the escalator's example configuration.
PEOPLE = {"alice": ("responder", "alice-password-1"), "vera": ("viewer", "vera-password-1"),
          "ada": ("admin", "ada-password-01")}
CRITICAL_ALERT = {
    "labels": {"alertname": "CheckoutErrorRate", "severity": "critical", "service": "checkout", "env": "prod",
               "team": "payments"},
    "annotations": {"summary": "Checkout is failing 4 % of payments",
                    "description": "5xx ratio of POST /api/checkout above 2 % for 5 minutes.",
                    "runbook_url": "https://runbooks.example.com/checkout/error-rate",
                    "dashboard": "https://grafana.example.com/d/checkout"},
}
METRIC_MINUTES = 120


def wait_incident(api: httpx.Client, **labels: str) -> dict:
    """The incident an alert with these labels opened (the newest such)."""

    def found():
        items = api.get("/api/v1/incidents", params={"limit": 100, "status": ["investigating", "mitigating", "resolved"]}).json()["items"]
        return next((i for i in items if all(i["labels"].get(k) == v for k, v in labels.items())), None)

    return wait_for(found, timeout_s=30, interval_s=0.05, what=f"the incident of the alert {labels}")


def _declare(api: httpx.Client, title: str, severity: int, **extra) -> str:
    response = api.post("/api/v1/incidents", json={"title": title, "severity": severity, **extra})
    assert response.status_code == 201, response.text
    return response.json()["number"]


def _metrics(service: str, *, now: datetime, errors_per_minute, cpu: float) -> list[dict]:
    minute = now.replace(second=0, microsecond=0)
    events = []
    for m in range(1, METRIC_MINUTES + 1):
        start = minute - timedelta(minutes=m)
        errors = errors_per_minute(m)
        events.append({
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"vigil-browser/{service}/{start.isoformat()}")),
            "occurred_at": start.isoformat(), "source": "browser-seed", "service": service,
            "interval_start": start.isoformat(), "requests": 1200, "errors": errors,
            "latency_buckets": [{"le": 0.1, "count": 1000}, {"le": 0.5, "count": 1195}, {"le": "+Inf", "count": 1200}],
            "utilisation": {"cpu": cpu, "memory": 0.61},
        })
    return events


def seed_slos(slo_url: str) -> None:
    now = datetime.now(UTC)
    with httpx.Client(base_url=slo_url, timeout=30, headers={"Authorization": f"Bearer {TOKENS['admin']}"}) as slo:
        # checkout burns its budget in the last 20 minutes (the critical alert); search is healthy.
        checkout = _metrics("checkout", now=now, errors_per_minute=lambda m: 48 if m <= 20 else 0, cpu=0.72)
        search = _metrics("search", now=now, errors_per_minute=lambda m: 0, cpu=0.35)
        for batch in (checkout, search):
            response = slo.post("/api/v1/metrics", json=batch)
            assert response.status_code == 202, response.text
        wait_for(lambda: len(slo.get("/api/v1/slos").json()["items"]) >= 8, timeout_s=30, what="the SLOs evaluated")


def seed_operations(api: httpx.Client, *, resolved: str, open_number: str) -> dict[str, str]:
    """A postmortem, an overdue action item, a runbook, a handoff, a silence and two reports."""
    today = datetime.now(UTC).date()

    def made(response: httpx.Response) -> dict:
        assert response.status_code in (200, 201), response.text
        return response.json()

    made(api.patch(f"/api/v1/incidents/{resolved}/postmortem", json={"summary": (
        "Orders could not be written for 18 minutes: a deploy doubled the worker pool and every worker opened its own "
        "connections, exhausting orders-db's 500.\n\n## What went well\n\n- The alert fired within a minute.\n\n"
        "## What we change\n\n- A connection budget per service, checked in CI.")}))
    made(api.post("/api/v1/action-items", json={"title": "Alert when a service holds more than 60 % of orders-db's "
                                                           "connections", "owner": "alice", "priority": "P1",
                                                  "due_on": (today - timedelta(days=3)).isoformat(), "incident": resolved}))
    made(api.post("/api/v1/action-items", json={"title": "Connection budget per service, checked in CI", "owner": "ada",
                                                  "priority": "P2", "due_on": (today + timedelta(days=10)).isoformat(),
                                                  "incident": resolved}))
    runbook = made(api.post("/api/v1/runbooks", json={
        "name": "orders-db failover", "owner": "ada", "link": "https://wiki.example.com/runbooks/orders-db-failover",
        "last_updated_on": (today - timedelta(days=40)).isoformat(),
        "next_review_on": (today + timedelta(days=50)).isoformat()}))
    handoff = made(api.post("/api/v1/handoffs", json={"from_person": "ada", "to_person": "alice",
                                            "note": f"{open_number} is still open: watch checkout's error rate.",
                                            "things_to_watch": ["checkout 5xx ratio", "orders-db connections"]}))
    silence = made(api.post("/api/v1/silences", json={
        "matchers": [{"name": "service", "value": "export"}, {"name": "env", "op": "!=", "value": "prod"}],
        "ends_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        "comment": "Migrating the staging warehouse (CHG-1042)."}))
    daily = made(api.post("/api/v1/reports/daily-check", json={}))
    weekly = made(api.post("/api/v1/reports/weekly-review", json={}))
    return {"runbook": str(runbook["id"]), "daily": daily["period"], "weekly": weekly["period"], "silence": str(silence["id"]),
            "handoff": str(handoff["id"])}


def settled_incidents(api: httpx.Client, *, quiet_s: float = 1.5) -> int:
    """How many incidents exist once no new one has opened for `quiet_s` (the SLO service's burn
    alerts open some of their own; waiting for them keeps the seeded numbers the same every run)."""
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < quiet_s:
        count = len(api.get("/api/v1/incidents", params={"limit": 100}).json()["items"])
        if count != seen:
            seen, since = count, time.monotonic()
        time.sleep(0.1)
    return seen


def seed(stack) -> dict[str, str]:
    """Make the data; returns the seeded incidents' numbers by what they show."""
    add_people(stack.database_url, PEOPLE)
    seed_slos(stack.slo.url)
    api = stack.admin_api
    wait_for(lambda: settled_incidents(api) >= 1, timeout_s=30, what="the SLO alerts' incidents")
    # Oldest first: the list shows the newest on top, the critical one.
    resolved = _declare(api, "Orders database ran out of connections", 2, labels={"service": "orders"})
    assert api.post(f"/api/v1/incidents/{resolved}/resolve", json={
        "root_cause": "A deploy doubled the worker pool; each worker opened 20 connections.",
        "contributing_factors": "No per-service connection budget.",
        "fix_applied": "Rolled back; pool size capped at 8 per worker."}).status_code == 200
    minor = _declare(api, "Nightly export to the data warehouse is late", 3, labels={"service": "export"})
    acknowledged = _declare(api, "Search latency above 2 s for EU users", 2, commander="ada",
                            description="Search results take 2–4 s for about a third of EU traffic.",
                            labels={"service": "search", "team": "discovery"})
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=7)
    stack.post_alerts([postable_alert(CRITICAL_ALERT["labels"], starts_at=starts, annotations=CRITICAL_ALERT["annotations"],
                                      generator_url="https://prometheus.example.com/graph?g0.expr=checkout_errors")])
    critical = wait_incident(api, alertname="CheckoutErrorRate")["number"]
    alice = Browser(stack.console.url)
    try:
        assert alice.sign_in("alice", PEOPLE["alice"][1]).status_code == 303
        for number in (acknowledged, minor):
            assert alice.submit("/incidents", f"/incidents/{number}/acknowledge", {"request_id": "seed"}).status_code == 303
        assert alice.submit(f"/incidents/{acknowledged}", f"/incidents/{acknowledged}/notes",
                            {"text": "Rolled back search-api to v2.14.1; p99 recovering."}).status_code == 303
        assert alice.submit(f"/incidents/{minor}", f"/incidents/{minor}/status", {"status": "mitigating"}).status_code == 303
    finally:
        alice.close()
    return {"critical": critical, "acknowledged": acknowledged, "minor": minor, "resolved": resolved,
            **seed_operations(api, resolved=resolved, open_number=critical)}
