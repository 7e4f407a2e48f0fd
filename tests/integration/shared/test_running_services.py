"""The test fixtures that start services: each is ready, on the module's topic prefix, and tears
down; two services of one module share the prefix (and so see each other's events)."""

from __future__ import annotations

import pytest

from shared.events import Topic
from tests.support import topic_exists

pytestmark = pytest.mark.integration


async def test_every_service_starts_ready_on_the_modules_topics(kafka_broker, topic_prefix, running_ingest, running_incidents,
                                                                running_escalator, running_slo):
    for run in (running_ingest, running_incidents, running_escalator, running_slo):
        with run() as svc:
            assert svc.settings.topic_prefix == topic_prefix
            ready = svc.client(None).get("/readyz").json()
            assert ready["status"] == "ok" and ready["checks"]["background"] == "ok"
    for topic in (Topic.ALERTS, Topic.INCIDENTS, Topic.PAGES, Topic.TICKETS, Topic.METRICS):
        assert await topic_exists(kafka_broker.bootstrap_servers, topic_prefix + topic), topic
    assert topic_prefix.startswith("t") and topic_prefix.endswith(".")


def test_overrides_reach_the_settings_and_roles_the_clients(running_incidents):
    with running_incidents(incidents_report_zone="America/New_York") as svc:
        assert svc.settings.incidents_report_zone == "America/New_York"
        assert svc.client("viewer").get("/api/v1/incidents").status_code == 200
        assert svc.client("viewer").post("/api/v1/incidents", json={"title": "x", "severity": 3}).status_code == 403
        assert svc.client(None).get("/api/v1/incidents").status_code == 401
