"""A real Alertmanager speaking PagerDuty Events API v2 (its native `pagerduty_configs`, `url:`
pointed at Vigil's `/v2/enqueue`, a Vigil integration key as `routing_key`): the trigger it sends
opens one incident, its resolve moves that incident on — through ingest, Kafka and the incident
service, with nothing but the URL changed on Alertmanager's side."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from tests.e2e.alertmanager import PagerDutyReceiver, postable_alert, render_config, running_alertmanager
from tests.e2e.test_alertmanager_to_kafka import now_ms
from tests.services import API_TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:10]
INTEGRATION = f"alertmanager-{RUN}"


@pytest.fixture(scope="module")
def vigil(running_ingest, running_incidents, database_url):
    """Ingest with its database (Events v2 on), an integration key for Alertmanager, and the
    incident service on the module's topics."""
    with running_ingest(database_url=database_url, api_tokens=API_TOKENS) as ingest, running_incidents() as incidents:
        made = ingest.client("admin").post("/api/v1/integration-keys", json={
            "name": INTEGRATION, "service": "checkout", "labels": {"team": "payments"}})
        assert made.status_code == 201, made.text
        yield ingest, made.json()["key"], incidents.client("viewer")


@pytest.fixture(scope="module")
def alertmanager(vigil):
    ingest, routing_key, _ = vigil
    config = render_config(
        [PagerDutyReceiver("vigil-pagerduty", f"{ingest.url}/v2/enqueue", routing_key, severity="critical")],
        group_by=["alertname"], group_wait="1s", group_interval="1s", repeat_interval="1h",
    )
    with running_alertmanager(config) as am:
        yield am


async def test_alertmanagers_pagerduty_trigger_opens_one_incident_and_its_resolve_moves_it_to_mitigating(vigil, alertmanager):
    _, _, incidents = vigil
    labels = {"alertname": "VigilE2EPagerDuty", "run": RUN, "instance": "lb1:9100"}
    started = now_ms() - timedelta(seconds=30)

    def incidents_of_run() -> list[dict]:
        return incidents.get("/api/v1/incidents", params={"label": f"integration={INTEGRATION}"}).json()["items"]

    async with httpx.AsyncClient(timeout=10) as http:
        await alertmanager.post_alerts(http, [postable_alert(labels, starts_at=started, annotations={"summary": "lb1 is down"})])
        [opened] = wait_for(incidents_of_run, timeout_s=30, what="the incident Alertmanager's trigger opens")
        assert opened["severity"] == 1 and opened["status"] == "investigating"  # pagerduty severity critical -> SEV1
        assert opened["labels"]["service"] == "checkout" and opened["labels"]["team"] == "payments"
        assert "VigilE2EPagerDuty" in opened["title"]

        await alertmanager.post_alerts(http, [postable_alert(labels, starts_at=started, ends_at=now_ms() - timedelta(seconds=1))])
    moved = wait_for(lambda: [i for i in incidents_of_run() if i["status"] == "mitigating"], timeout_s=30,
                     what="the incident mitigating after Alertmanager's resolve (a SEV1 waits for a person)")
    assert [i["id"] for i in moved] == [opened["id"]]
    assert len(incidents_of_run()) == 1
    alerts = incidents.get(f"/api/v1/incidents/{opened['id']}").json()["alerts"]
    assert [a["status"] for a in alerts] == ["resolved"]
