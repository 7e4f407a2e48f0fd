"""Listing incidents by label (`GET /api/v1/incidents?label=name=value`), against the real incident
service and PostgreSQL: one label, several (all must match), with the other filters, and labels that
are not `name=value` refused with 422."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(running_incidents) -> Iterator[httpx.Client]:
    with running_incidents() as svc:
        yield svc.client("admin")


def declare(api: httpx.Client, labels: dict[str, str], severity: int = 2) -> str:
    response = api.post("/api/v1/incidents", json={"title": f"labels {uuid.uuid4().hex[:8]}", "severity": severity,
                                                   "labels": labels})
    assert response.status_code == 201, response.text
    return response.json()["number"]


def listed(api: httpx.Client, *labels: str, **params) -> list[str]:
    response = api.get("/api/v1/incidents", params=[*(("label", item) for item in labels), *params.items(),
                                                    ("limit", 500)])
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


def test_a_label_lists_the_incidents_that_carry_it_with_that_value(api):
    run = uuid.uuid4().hex[:8]
    checkout = declare(api, {"service": f"checkout-{run}", "team": f"payments-{run}"})
    search = declare(api, {"service": f"search-{run}", "team": f"payments-{run}"})
    other = declare(api, {"service": f"checkout-{run}x"})
    assert listed(api, f"service=checkout-{run}") == [checkout]
    assert listed(api, f"team=payments-{run}") == [search, checkout]
    assert other not in listed(api, f"team=payments-{run}")


def test_several_labels_must_all_match(api):
    run = uuid.uuid4().hex[:8]
    both = declare(api, {"service": f"checkout-{run}", "team": f"payments-{run}"})
    declare(api, {"service": f"checkout-{run}", "team": f"growth-{run}"})
    assert listed(api, f"service=checkout-{run}", f"team=payments-{run}") == [both]
    # The same name twice with two values: no incident has both.
    assert listed(api, f"team=payments-{run}", f"team=growth-{run}") == []


def test_labels_combine_with_severity_and_a_value_may_hold_an_equals_sign(api):
    run = uuid.uuid4().hex[:8]
    critical = declare(api, {"query": f"a=b-{run}"}, severity=1)
    declare(api, {"query": f"a=b-{run}"}, severity=3)
    assert listed(api, f"query=a=b-{run}", severity=1) == [critical]
    assert len(listed(api, f"query=a=b-{run}")) == 2


@pytest.mark.parametrize("label", ["service", "=checkout", "service=", "x" * 101 + "=y"])
def test_a_label_that_is_not_name_equals_value_is_refused(api, label):
    response = api.get("/api/v1/incidents", params={"label": label})
    assert response.status_code == 422, response.text
    assert "label" in response.text


def test_the_label_filter_is_described_in_the_openapi_document(api):
    operation = api.get("/openapi.json").json()["paths"]["/api/v1/incidents"]["get"]
    parameter = next(p for p in operation["parameters"] if p["name"] == "label")
    assert "name=value" in parameter["description"] and "label=name=value" in operation["description"]


def test_at_most_twenty_labels(api):
    response = api.get("/api/v1/incidents", params=[("label", f"n{i}=v") for i in range(21)])
    assert response.status_code == 422, response.text
