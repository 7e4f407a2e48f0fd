"""The error-budget policy against a real SLO service, broker and PostgreSQL: the release gate
closes for a service whose budget is exhausted and stays open for a healthy one, and each SLO's
budget state is published on vigil.budgets.v1 once per change."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.events import BudgetStateChanged, Topic, decode
from tests.support import TopicCursor, wait_for

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:6]
STRICT = f"strict-{RUN}"  # frozen while burning, by its own policy
CONFIG = f"""
slos:
  - {{name: error-rate, title: Error rate, indicator: success_ratio, target: 0.999, display: percent_bad}}
error_budget_policy:
  {STRICT}: {{freeze_when: burning}}
"""


@pytest.fixture(scope="module")
def slo_api(running_slo, tmp_path_factory):
    config = tmp_path_factory.mktemp("slo") / "slos.yaml"
    config.write_text(CONFIG)
    with running_slo(slo_config_file=str(config), slo_evaluate_interval_s=0.2) as svc:
        yield svc


def minutes_ago(m: int) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=m)


def event(service: str, at: datetime, *, requests: int = 1000, errors: int = 0, interval_s: int = 60) -> dict:
    return {"event_id": f"{service}-{at.isoformat()}-{errors}", "occurred_at": at.isoformat(), "source": "test",
            "service": service, "interval_start": at.isoformat(), "requests": requests, "errors": errors,
            "interval_s": interval_s}


def push(svc, events: list[dict]) -> None:
    response = svc.client("responder").post("/api/v1/metrics", content=json.dumps(events))
    assert response.status_code == 202, response.text


def gate(svc, service: str, *, total_events: int) -> dict | None:
    """The release gate once the evaluator has seen all `total_events` of the service."""
    viewer = svc.client("viewer")
    detail = viewer.get(f"/api/v1/slos/{service}/error-rate")
    if detail.status_code != 200 or detail.json()["budget"]["total_events"] != total_events:
        return None
    return viewer.get(f"/api/v1/services/{service}/release-gate").json()


async def test_the_release_gate_closes_on_an_exhausted_budget_and_opens_on_a_healthy_one(slo_api):
    exhausted, healthy = f"checkout-{RUN}", f"search-{RUN}"
    # 60 minutes of 1,000 requests: 5 % errors for one (50x the 0.1 % allowed), none for the other.
    push(slo_api, [event(exhausted, minutes_ago(m), errors=50) for m in range(60)]
         + [event(healthy, minutes_ago(m)) for m in range(60)])
    closed = wait_for(lambda: (g := gate(slo_api, exhausted, total_events=60_000)) and not g["allowed"] and g,
                      what="the gate closed", timeout_s=20)
    assert closed["reason"] == (f"{exhausted}:error-rate is exhausted (5000 % of its 30-day budget spent) "
                                "(policy: freeze when exhausted)")
    assert [(s["slo"], s["state"]) for s in closed["slos"]] == [("error-rate", "exhausted")]
    assert closed["policy"] == {"freeze_when": "exhausted"}
    opened = wait_for(lambda: gate(slo_api, healthy, total_events=60_000), what="the healthy gate")
    assert opened["allowed"] is True
    assert opened["reason"].startswith(f"releases allowed: search-{RUN}:error-rate is healthy with 0 % ")

    # A service's own policy: frozen while a burn-rate alert fires, before the budget is spent. Two
    # quiet days of a million requests an hour, then 20 % errors in the last 10 minutes: the 1 h/5 m
    # page rule fires (33x, 200x) with 2,000 bad of the 47,060 allowed (4.2 % of the budget).
    push(slo_api, [event(STRICT, minutes_ago(60 * h), requests=1_000_000, interval_s=3600) for h in range(2, 49)]
         + [event(STRICT, minutes_ago(m), errors=200 if m < 10 else 0) for m in range(60)])
    strict = wait_for(lambda: gate(slo_api, STRICT, total_events=47_060_000), what="the strict gate")
    assert strict["allowed"] is False and strict["policy"] == {"freeze_when": "burning"}
    assert strict["reason"] == f"{STRICT}:error-rate is burning (4.2 % of its 30-day budget spent) (policy: freeze when burning or exhausted)"

    viewer = slo_api.client("viewer")
    unknown = viewer.get(f"/api/v1/services/nothing-{RUN}/release-gate")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert slo_api.client(None).get(f"/api/v1/services/{healthy}/release-gate").status_code == 401


async def test_a_budget_state_is_published_once_per_change(slo_api, kafka_broker, topic_prefix):
    service = f"cart-{RUN}"
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.BUDGETS)
    push(slo_api, [event(service, minutes_ago(m)) for m in range(1, 61)])
    wait_for(lambda: gate(slo_api, service, total_events=60_000), what="the healthy budget evaluated")
    # One minute with every request failing, folded at once: 1,000 bad of 61,000 (16x the allowed).
    push(slo_api, [event(service, minutes_ago(0), errors=1000)])
    wait_for(lambda: (g := gate(slo_api, service, total_events=61_000)) and not g["allowed"], what="exhausted")
    records = await cursor.read(expected=10**6, timeout_s=3, settle_s=0)  # a dozen more ticks: nothing repeats
    events = [e for e in (decode(BudgetStateChanged, r.value) for r in records) if e.service == service]
    assert [(e.slo, e.previous_state, e.state) for e in events] == [
        ("error-rate", None, "healthy"), ("error-rate", "healthy", "exhausted")]
    assert {r.key for r in records if decode(BudgetStateChanged, r.value).service == service} == {f"{service}\x1ferror-rate".encode()}
    assert events[1].remaining_fraction < 0 and events[1].since > events[0].since
