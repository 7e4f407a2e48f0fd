"""The escalator's error-budget policy end to end, against a real SLO service, broker and
PostgreSQL: the SLO service publishes its services' budget states on vigil.budgets.v1, the
escalator stores them, and a medium incident of a service whose budget is exhausted pages its
primary (the escalation view says why, and so does the page, for the incident's timeline), while one
of a healthy service is ticketed as configured."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.escalator_support import (
    CONFIG,
    START,
    escalation,
    incident_event,
    new_incident_id,
    pages_cursor,
    pages_of,
    publish,
    run_escalator,
    warm_up,
)
from tests.support import ManualClock, wait_for

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:6]
SPENT, HEALTHY = f"checkout-{RUN}", f"search-{RUN}"
BUDGET_CONFIG = CONFIG + """
budget_policy:
  "*": {exhausted: {medium: page}}
"""
SLOS = """
slos:
  - {name: error-rate, title: Error rate, indicator: success_ratio, target: 0.999, display: percent_bad}
"""


def metrics(service: str, minutes_ago: int, errors: int) -> dict:
    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)
    return {"event_id": f"{service}-{at.isoformat()}", "occurred_at": at.isoformat(), "source": "test", "service": service,
            "interval_start": at.isoformat(), "requests": 1000, "errors": errors}


async def stored_states(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT service, state FROM escalator.budget_state WHERE service = ANY($1::text[])",
                                [SPENT, HEALTHY])
    finally:
        await conn.close()
    return {r["service"]: r["state"] for r in rows}


async def test_a_medium_incident_pages_when_its_services_budget_is_exhausted_and_tickets_when_healthy(
        running_slo, running_escalator, kafka_broker, topic_prefix, database_url, tmp_path):
    clock = ManualClock(START)
    slos = tmp_path / "slos.yaml"
    slos.write_text(SLOS)
    with running_slo(slo_config_file=str(slos), slo_evaluate_interval_s=0.2) as slo, \
            run_escalator(running_escalator, tmp_path, clock=clock, config=BUDGET_CONFIG) as esc:
        api = esc.client("admin")
        await warm_up(kafka_broker, api, clock, prefix=topic_prefix)
        # An hour of 1,000 requests a minute: 5 % errors for one service (50x its budget), none for the other.
        pushed = slo.client("responder").post("/api/v1/metrics", content=json.dumps(
            [metrics(SPENT, m, 50) for m in range(60)] + [metrics(HEALTHY, m, 0) for m in range(60)]))
        assert pushed.status_code == 202, pushed.text
        states = {}
        for _ in range(200):
            states = await stored_states(database_url)
            if states == {SPENT: "exhausted", HEALTHY: "healthy"}:
                break
            await asyncio.sleep(0.1)
        assert states == {SPENT: "exhausted", HEALTHY: "healthy"}, "the escalator stored both budget states"

        cursor = await pages_cursor(kafka_broker, prefix=topic_prefix)
        spent_iid, healthy_iid = new_incident_id(), new_incident_id()
        await publish(kafka_broker, *(replace_labels(incident_event(iid, kind="opened", version=1, severity=3, at=clock()),
                                                     service=service)
                                      for iid, service in ((spent_iid, SPENT), (healthy_iid, HEALTHY))), prefix=topic_prefix)

        [page] = await pages_of(cursor, spent_iid, prefix=topic_prefix, expected=1)
        assert (page.target, page.role, page.reason) == ("bob", "primary", "initial")
        view = escalation(api, spent_iid)
        assert view["budget_note"] == f"medium → page: {SPENT}'s error budget is exhausted (error-rate: -4900 % left)"
        assert page.policy_note == view["budget_note"], "the page carries why, for the incident's timeline"
        assert view["policy"]["medium"]["steps"][0]["action"] == "page"

        view = wait_for(lambda: (v := escalation(api, healthy_iid)).get("timers") and v, what="the healthy incident planned")
        assert [t["action"] for t in view["timers"]] == ["ticket"] and view["budget_note"] is None
        assert await pages_of(cursor, healthy_iid, prefix=topic_prefix, expected=1, timeout_s=1, settle_s=0) == []


def replace_labels(event, **labels):
    return event.model_copy(update={"labels": labels})

