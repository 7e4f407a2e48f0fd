"""Property-based fuzzing of every service's OpenAPI document with schemathesis (issue 17): the
short, derandomized form of `python -m bench.fuzz_openapi` (the same code, a few cases per
operation, the same cases every run). Each generated request, valid or breaking the schema, gets
no 5xx, and an answer whose status, content type and body the document declares. Then the 500s
the fuzzer found, as fixed cases."""

from __future__ import annotations

import pytest

from bench.fuzz_openapi import SERVICES, fuzz, target_of
from tests.services import INGEST_TOKEN

pytestmark = pytest.mark.integration

CASES_PER_OPERATION = 20
# Each service's minimum (today's count): the fuzzing must never check fewer operations.
MINIMUM_OPERATIONS = {"ingest": 21, "incidents": 55, "escalator": 15, "slo": 8}


@pytest.fixture(scope="module")
def services(running_ingest, running_incidents, running_escalator, running_slo, database_url):
    # Ingest with its database: heartbeats, integration keys and Events v2 are fuzzed too.
    with running_ingest(database_url=database_url) as ingest, running_incidents() as incidents, running_escalator() as escalator, \
            running_slo() as slo:
        yield {"ingest": ingest, "incidents": incidents, "escalator": escalator, "slo": slo}


@pytest.mark.parametrize("service", SERVICES)
def test_fuzzed_requests_get_no_server_error_and_the_answers_their_document_declares(services, service):
    target = target_of(service, services[service])
    fuzz([target], cases_per_operation=CASES_PER_OPERATION)
    run = target.run
    assert run.operations >= MINIMUM_OPERATIONS[service]
    assert run.cases >= run.operations  # every operation was called
    failures = "\n\n".join(str(f) for f in run.examples(per_kind=1))
    assert not run.failures, f"{len(run.failures)} of {run.cases} fuzzed requests failed a check:\n\n{failures}"
    print(f"\n{service}: {run.operations} operations, {run.cases} cases, statuses {dict(sorted(run.statuses.items()))}")


# (service, method, path, body, status): each answered 500 before (a year the maths or asyncpg
# cannot hold, a line break icalendar refuses); the override and the incident would have broken
# every later read of their schedule or list.
@pytest.mark.parametrize(("service", "method", "path", "body", "status"), [
    ("escalator", "GET", "/api/v1/people/alice%0Ain%0Dcharge%01/calendar.ics", None, 200),
    ("escalator", "GET", "/api/v1/schedules/platform/shifts?start=0001-01-01T00:07:07Z", None, 422),
    ("escalator", "GET", "/api/v1/oncall?at=9999-12-31T23:59:59Z", None, 422),
    ("escalator", "POST", "/api/v1/schedules/platform/overrides",
     {"person": "x", "start_at": "0001-01-01T00:00:00Z", "end_at": "9999-12-31T23:59:59.999999Z"}, 422),
    ("incidents", "POST", "/api/v1/incidents", {"title": "t", "severity": 3, "started_at": "0001-01-01T00:00:00Z"}, 422),
    ("incidents", "POST", "/api/v1/reports/weekly-review", {"week_of": "9999-12-31"}, 422),
    ("incidents", "POST", "/api/v1/reports/daily-check", {"day": "0001-01-01"}, 422),
    ("incidents", "POST", "/api/v1/reports/monthly-review", {"month": "9999-12"}, 409),
    ("incidents", "POST", "/api/v1/maintenance-windows", {"activity": "a", "starts_at": "9999-12-31T23:30:00Z"}, 422),
])
def test_what_the_fuzzer_found_is_answered_without_a_server_error(services, service, method, path, body, status):
    response = services[service].client("admin").request(method, path, json=body)
    assert response.status_code == status, response.text


def alert(**fields) -> dict:
    return {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "x"},
                                                          "startsAt": "2026-01-01T00:00:00Z", **fields}]}


# A NUL was accepted, then retried for ever by the consumer that stores it (PostgreSQL refuses it),
# holding up that partition's alerts or metrics; a start in year 1 with an offset (no UTC time
# Python can hold) was a 500.
@pytest.mark.parametrize(("service", "path", "body"), [
    ("ingest", "/api/v1/webhooks/alertmanager", alert(labels={"alertname": "x\u0000y"})),
    ("ingest", "/api/v1/webhooks/alertmanager", alert(startsAt="0001-01-01T00:30:00+02:00")),
    ("slo", "/api/v1/metrics", {"event_id": "a\u0000b", "occurred_at": "2026-01-01T00:00:00Z", "source": "s",
                                "service": "checkout", "interval_start": "2026-01-01T00:00:00Z", "requests": 1, "errors": 0}),
])
def test_what_the_services_could_never_carry_is_refused_at_the_door(services, service, path, body):
    client = services[service].client(token=INGEST_TOKEN) if service == "ingest" else services[service].client("admin")
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text


def test_a_report_edit_with_odd_anomalies_and_null_checks_is_stored(services):
    client = services["incidents"].client("admin")
    assert client.post("/api/v1/reports/daily-check", json={"day": "2020-02-02"}).status_code == 201
    anomalies = [{"time": "08:15", "observation": "disk full"}, {"time": "TRUE", "observation": "a | b", "action": "x"}]
    response = client.patch("/api/v1/reports/daily-check/2020-02-02", json={"anomalies": anomalies, "checks": None})
    assert response.status_code == 200, response.text
    assert response.json()["manual"]["anomalies"] == [{**anomalies[0], "action": ""}, anomalies[1]]
    assert "| TRUE | a \\| b | x |" in response.json()["markdown"]


def test_a_control_character_in_a_calendar_name_is_replaced(services):
    feed = services["escalator"].client("admin").get("/api/v1/people/alice%0Ain%01charge/calendar.ics")
    assert feed.headers["content-type"].startswith("text/calendar")
    assert "X-WR-CALNAME:On call: alice\ufffdin\ufffdcharge\r\n" in feed.text


def test_a_body_that_is_not_utf8_is_a_400_in_the_error_shape(services):
    response = services["incidents"].client("admin").post(
        "/api/v1/incidents/1/acknowledge", content=b"\xee7En\x81", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"error", "message"}
