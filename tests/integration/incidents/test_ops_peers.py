"""The reports read the real peers: the SLO service and the escalator, running (uvicorn) against
the same broker and PostgreSQL. The daily check and the weekly review hold what the peers' own APIs
say, with the shared viewer token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.services import TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration

RESPONDER = TOKENS["responder"]


@pytest.fixture(scope="module")
def services(running_slo, running_escalator, running_incidents):
    """The three services on the module's database and topics; the incident service reads its
    peers with the viewer token. Clients: the viewer's, per service."""
    with running_slo(slo_evaluate_interval_s=1, slo_capacity_interval_s=1) as slo, running_escalator() as escalator, \
            running_incidents(incidents_slo_url=slo.url, incidents_escalator_url=escalator.url,
                              incidents_peer_token=TOKENS["viewer"]) as incidents:
        clients = {"slo": slo.client("viewer"), "escalator": escalator.client("viewer"), "incidents": incidents.client("viewer")}
        push_metrics(clients["slo"])
        yield clients


def push_metrics(slo: httpx.Client) -> None:
    """Ten minutes of a service's traffic (1% errors, CPU at 40%), so the SLO service has rows."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    events = [
        {"event_id": str(uuid.uuid4()), "occurred_at": now.isoformat(), "source": "test", "service": "checkout",
         "interval_start": (now - timedelta(minutes=m)).isoformat(), "interval_s": 60, "requests": 1000, "errors": 10,
         "latency_buckets": [{"le": 0.1, "count": 900}, {"le": 0.5, "count": 990}, {"le": "+Inf", "count": 1000}],
         "utilisation": {"cpu": 0.4}}
        for m in range(1, 11)
    ]
    response = slo.post("/api/v1/metrics", json=events, headers={"Authorization": f"Bearer {RESPONDER}"})
    assert response.status_code == 202, response.text
    wait_for(lambda: slo.get("/api/v1/slos").json()["items"], timeout_s=60, what="SLO rows for checkout")


def generate(clients, kind: str) -> dict:
    response = clients["incidents"].post(f"/api/v1/reports/{kind}", json={}, headers={"Authorization": f"Bearer {RESPONDER}"})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_the_daily_check_holds_the_peers_health_slos_and_coverage_gaps(services):
    data = generate(services, "daily-check")
    assert {n: h["state"] for n, h in data["health"].items()} == {
        "incidents": "ok", "slo": "ok", "escalator": "ok", "ingest": "not_configured",
    }
    slos = services["slo"].get("/api/v1/slos").json()["items"]
    assert slos, "the SLO service's default definitions"
    assert [r["id"] for r in data["slo"]["rows"]] == [s["id"] for s in slos]
    assert data["slo"]["state"] == "ok"
    gaps = services["escalator"].get("/api/v1/coverage/gaps", params={"weeks": 8}).json()
    assert data["coverage_gaps"] == gaps
    checks = {c["key"]: c["status"] for c in data["checks"]}
    assert checks["services_healthy"] == "warn"  # ingest has no URL here: not checked, so not a pass
    assert checks["oncall_coverage"] == ("fail" if gaps else "pass")
    def expected(latency: bool) -> str:
        rows = [s for s in slos if ("latency" in f"{s['title']} {s['id']}".lower()) is latency]
        if any(s["met"] is False or s["firing"] for s in rows):
            return "fail"
        if all(s["met"] is None for s in rows):  # also no such SLO at all
            return "no_data"
        return "warn" if any(s["met"] is None for s in rows) else "pass"

    assert checks["latency_within_slo"] == expected(True)
    assert checks["error_rates_nominal"] == expected(False) == "fail"  # 1% errors against 99.9%


def test_the_weekly_review_holds_the_slo_table_and_the_capacity_section(services):
    data = generate(services, "weekly-review")
    assert data["slo"]["state"] == "ok" and data["capacity"]["state"] == "ok"
    capacity = services["slo"].get("/api/v1/capacity").json()["items"]
    # The SLO service re-evaluates capacity on its own tick: the rows agree but for when they were evaluated.
    def unstamped(rows):
        return [{k: v for k, v in r.items() if k != "evaluated_at"} for r in rows]

    assert unstamped(data["capacity"]["rows"]) == unstamped(capacity)
    slos = services["slo"].get("/api/v1/slos").json()["items"]
    assert [(r["title"], r["target"]) for r in data["slo"]["rows"]] == [(s["title"], s["target"]) for s in slos]


def test_the_monthly_review_charts_each_slos_month_from_the_slo_services_history(services):
    report = services["incidents"].post("/api/v1/reports/monthly-review", json={},
                                        headers={"Authorization": f"Bearer {RESPONDER}"})
    assert report.status_code == 201, report.text
    data, markdown = report.json()["data"], report.json()["markdown"]
    slos = services["slo"].get("/api/v1/slos").json()["items"]
    assert [c["id"] for c in data["slo_chart"]] == [s["id"] for s in slos]
    checkout = next(c for c in data["slo_chart"] if c["service"] == "checkout" and c["sli_percent"] is not None)
    service, slo = checkout["id"].split(":", 1)
    history = services["slo"].get(f"/api/v1/slos/{service}/{slo}/history", params={"days": 40}).json()["days"]
    month = [d for d in history if d["day"].startswith(data["period"]["label"])]
    assert checkout["days_with_data"] == len(month) >= 1
    assert checkout["budget_left_percent"] == month[-1]["budget_remaining_percent"]
    first, last = (datetime.fromisoformat(data["period"][k]).date() for k in ("first_day", "last_day"))
    assert len(checkout["sparkline"]) == (last - first).days + 1  # one character a day
    today = datetime.fromisoformat(month[-1]["day"]).day
    assert checkout["sparkline"][today - 1] != "·"
    assert f"`{checkout['sparkline']}`" in markdown
    assert [g["what"] for g in data["growth"]["volume"]] == ["incidents", "alerts"]
    assert "No cost data: Vigil has no source of spend or budget." in markdown
