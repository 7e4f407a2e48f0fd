"""Hostile input gets a 4xx, never a 500 (issue 17's schemathesis findings, as fixed cases): NUL
characters PostgreSQL refuses, ids beyond 64 bits, non-ASCII digits, NUL in query strings, JSON
nested deeper than the parser goes. And nothing of a refused request is written."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

NUL = "checkout\x00down"
HUGE = str(2**70)


@pytest.fixture(scope="module")
def services(running_incidents, running_escalator, running_slo):
    with running_incidents() as incidents, running_escalator() as escalator, running_slo() as slo:
        yield {"incidents": incidents.client("admin"), "escalator": escalator.client("admin"), "slo": slo.client("admin")}


# (service, method, path, body, the answer's error code): each body is valid for its model, so the
# refusal comes from where the value reaches PostgreSQL (or the id check), not from validation.
@pytest.mark.parametrize(("service", "method", "path", "body", "error"), [
    ("incidents", "POST", "/api/v1/incidents", {"title": NUL, "severity": 3}, "invalid_request"),
    ("incidents", "POST", "/api/v1/handoffs", {"from_person": NUL, "to_person": "bob"}, "invalid_request"),
    ("incidents", "POST", "/api/v1/toil", {"task": NUL, "frequency": "weekly", "minutes_per_occurrence": 5}, "invalid_request"),
    ("incidents", "POST", "/api/v1/reports/daily-check", {"by": NUL}, "invalid_request"),
    ("incidents", "PATCH", "/api/v1/action-items/²", {"status": "done"}, "not_found"),
    ("incidents", "GET", f"/api/v1/incidents/{HUGE}", None, "not_found"),
    ("escalator", "GET", f"/api/v1/incidents/{HUGE}/escalation", None, "not_found"),
    ("escalator", "DELETE", f"/api/v1/schedules/primary/overrides/{HUGE}", None, "invalid_request"),
    ("slo", "GET", "/api/v1/capacity?service=%00x", None, "invalid_request"),
    ("slo", "GET", "/api/v1/slos?service=%00x", None, "invalid_request"),
])
def test_hostile_values_are_refused_with_a_4xx(services, service, method, path, body, error):
    response = services[service].request(method, path, json=body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error"] == error, response.text
    if error == "invalid_request" and body is not None:
        assert "not accepted" in response.json()["message"], response.text  # refused by the database, not the model


def test_json_nested_deeper_than_the_parser_goes_is_a_400(services):
    response = services["slo"].post("/api/v1/metrics", content=b"[" * 100_000 + b"]" * 100_000,
                                    headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text


def test_a_refused_incident_writes_nothing(services):
    before = services["incidents"].get("/api/v1/incidents").json()["items"]
    assert services["incidents"].post("/api/v1/incidents", json={"title": NUL, "severity": 2}).status_code == 422
    assert services["incidents"].get("/api/v1/incidents").json()["items"] == before
