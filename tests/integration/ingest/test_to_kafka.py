"""Ingest against the real broker: what goes in comes out on vigil.alerts.v1, once per alert."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from services.ingest.normalize import to_events
from services.ingest.schemas import WebhookPayload
from shared.events import AlertEvent, Topic, decode, header
from tests.services import INGEST_TOKEN
from tests.support import FIXTURE_PAYLOADS, TopicCursor, fixture_bytes, fixture_json

pytestmark = pytest.mark.integration

TOKEN = INGEST_TOKEN
OLD_TOKEN = "rotated-out-token-0123456789"
URL = "/api/v1/webhooks/alertmanager"


@pytest.fixture(scope="module")
def ingest(running_ingest) -> httpx.Client:
    """One ingest for the module (a client without a token: each test sends its own)."""
    with running_ingest(ingest_tokens=[TOKEN, OLD_TOKEN], ingest_max_body_bytes=64 * 1024) as svc:
        yield svc.client(None)


@pytest.fixture(scope="module")
def alerts(kafka_broker, topic_prefix):
    """`await alerts()`: a cursor at the end of the module's alert topic, taken now."""
    return lambda: TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)


def auth(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def nothing_new(cursor: TopicCursor) -> None:
    # Nothing may arrive: the 1.5 s read is the check itself.
    assert await cursor.read(expected=1, timeout_s=1.5) == []


@pytest.mark.parametrize("name", FIXTURE_PAYLOADS)
async def test_each_fixture_puts_exactly_one_event_per_alert_on_kafka(ingest, alerts, name):
    cursor = await alerts()
    response = ingest.post(URL, content=fixture_bytes(name), headers=auth())
    assert response.status_code == 200, response.text
    raw = fixture_json(name)
    assert response.json() == {"status": "accepted", "alerts": len(raw["alerts"])}

    records = await cursor.read(expected=len(raw["alerts"]))
    assert len(records) == len(raw["alerts"])
    expected = {e.fingerprint: e for e in to_events(WebhookPayload.model_validate(raw), received_at=_any_time())}
    for record in records:
        event = decode(AlertEvent, record.value)
        assert record.key == event.fingerprint.encode()
        want = expected.pop(event.fingerprint)
        assert event.model_dump(exclude={"occurred_at"}) == want.model_dump(exclude={"occurred_at"})
        assert header(record.headers, "ce_id") == event.event_id
        assert header(record.headers, "ce_type") == "dev.vigil.alert.v1"
        assert header(record.headers, "ce_source") == "/vigil/ingest"
        assert header(record.headers, "content-type") == "application/json"
        assert header(record.headers, "traceparent") is not None
    assert expected == {}


async def test_events_continue_the_callers_trace_and_each_request_starts_its_own_otherwise(ingest, alerts):
    cursor = await alerts()
    body = fixture_bytes("02-group5-firing.json")
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert ingest.post(URL, content=body, headers={**auth(), "traceparent": caller}).status_code == 200
    assert ingest.post(URL, content=body, headers=auth()).status_code == 200
    records = await cursor.read(expected=10)
    parents = [header(r.headers, "traceparent") for r in records]
    continued = [p for p in parents if p.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"]
    assert len(continued) == 5, parents
    assert {p.split("-")[2] for p in continued} != {"00f067aa0ba902b7"}, "ingest's own span id, not the caller's"
    others = {p.split("-")[1] for p in parents} - {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert len(others) == 1, "one new trace for the request without a traceparent"


async def test_the_same_notification_twice_gives_the_same_event_ids(ingest, alerts):
    cursor = await alerts()
    body = fixture_bytes("02-group5-firing.json")
    assert ingest.post(URL, content=body, headers=auth()).status_code == 200
    assert ingest.post(URL, content=body, headers=auth()).status_code == 200
    records = await cursor.read(expected=10)
    ids = [decode(AlertEvent, r.value).event_id for r in records]
    assert len(ids) == 10 and len(set(ids)) == 5


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong-token-0123456789"}, 401),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 401),
        ({"Authorization": basic("alertmanager", "wrong")}, 401),
        ({"Authorization": f"Bearer {OLD_TOKEN}"}, 200),
        ({"Authorization": basic("alertmanager", TOKEN)}, 200),
    ],
)
async def test_auth(ingest, alerts, headers, status):
    cursor = await alerts()
    response = ingest.post(URL, content=fixture_bytes("01-single-firing.json"), headers=headers)
    assert response.status_code == status
    if status == 401:
        assert "Bearer" in response.headers["WWW-Authenticate"]
        assert "Basic" in response.headers["WWW-Authenticate"]
        await nothing_new(cursor)
    else:
        assert len(await cursor.read(expected=1)) == 1


def chunks(data: bytes, size: int = 4096):
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize(
    "body, status, error",
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (json.dumps({**fixture_json("01-single-firing.json"), "version": "3"}).encode(), 422, "invalid_payload"),
        (json.dumps({"version": "4", "status": "firing"}).encode(), 422, "invalid_payload"),
        (b"[]", 422, "invalid_payload"),
    ],
)
async def test_bad_bodies_get_a_clear_4xx_and_write_nothing(ingest, alerts, body, status, error):
    cursor = await alerts()
    response = ingest.post(URL, content=body, headers=auth())
    assert response.status_code == status
    assert response.json()["error"] == error
    await nothing_new(cursor)


async def test_422_names_the_offending_fields_and_nothing_of_a_partly_valid_payload_is_written(ingest, alerts):
    raw = fixture_json("02-group5-firing.json")
    raw["alerts"][3]["startsAt"] = "not a time"
    cursor = await alerts()
    response = ingest.post(URL, content=json.dumps(raw), headers=auth())
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["alerts[3].startsAt"]
    await nothing_new(cursor)


def big_payload(alerts: int) -> bytes:
    raw = fixture_json("01-single-firing.json")
    template = raw["alerts"][0]
    raw["alerts"] = [{**template, "fingerprint": f"{i:016x}"} for i in range(alerts)]
    return json.dumps(raw).encode()


async def test_a_body_over_the_limit_is_413_by_content_length(ingest, alerts):
    body = big_payload(80)
    assert len(body) > 64 * 1024
    cursor = await alerts()
    response = ingest.post(URL, content=body, headers=auth())
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    await nothing_new(cursor)


async def test_a_chunked_body_over_the_limit_is_413_while_reading(ingest, alerts):
    body = big_payload(80)
    cursor = await alerts()
    response = ingest.post(URL, content=chunks(body), headers=auth())  # no Content-Length: chunked
    assert response.status_code == 413
    await nothing_new(cursor)


async def test_a_chunked_body_under_the_limit_is_accepted(ingest, alerts):
    body = big_payload(20)
    cursor = await alerts()
    response = ingest.post(URL, content=chunks(body, 1000), headers=auth())
    assert response.status_code == 200
    assert len(await cursor.read(expected=20)) == 20


def test_metrics_count_payloads_alerts_and_rejections(ingest):
    before = ingest.get("/metrics").text
    ingest.post(URL, content=fixture_bytes("02-group5-firing.json"), headers=auth())
    ingest.post(URL, content=b"{", headers=auth())
    after = ingest.get("/metrics").text

    def value(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    assert value(after, "vigil_ingest_payloads_total") == value(before, "vigil_ingest_payloads_total") + 1
    assert value(after, 'vigil_ingest_alerts_total{status="firing"}') == value(before, 'vigil_ingest_alerts_total{status="firing"}') + 5
    assert value(after, 'vigil_ingest_rejected_total{reason="invalid_json"}') == value(before, 'vigil_ingest_rejected_total{reason="invalid_json"}') + 1
    assert "vigil_ingest_produce_seconds_bucket" in after


def test_health_and_openapi(ingest):
    assert ingest.get("/healthz").json() == {"status": "ok"}
    assert ingest.get("/readyz").json() == {"status": "ok", "checks": {"kafka": "ok", "background": "ok"}}
    spec = ingest.get("/openapi.json").json()
    operation = spec["paths"][URL]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "alerts" in body["properties"]
    alert = body["properties"]["alerts"]["items"]["$ref"].rsplit("/", 1)[1]
    assert "fingerprint" in spec["components"]["schemas"][alert]["properties"], "every $ref resolves"
    assert {"200", "400", "401", "413", "422", "503"} <= set(operation["responses"])


def _any_time():
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)
