"""The SLO API with the operations process's default SLOs, against the real broker and PostgreSQL:
the dashboard table, budgets in minutes, history, the burn-down chart, capacity, the push
endpoint's auth and errors, and dead letters for malformed metrics."""

from __future__ import annotations

import calendar
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.events import AlertEvent, MetricsEvent, Topic, decode, encode, header
from tests.services import TOKENS
from tests.support import TopicCursor, wait_for

pytestmark = pytest.mark.integration

ADMIN, RESPONDER, VIEWER = TOKENS["admin"], TOKENS["responder"], TOKENS["viewer"]
INF = "+Inf"


@pytest.fixture(scope="module")
def slo_api(running_slo):
    with running_slo(slo_evaluate_interval_s=0.2, slo_capacity_interval_s=0.2, slo_late_event_window_s=30 * 86400,
                     slo_max_body_bytes=64 * 1024) as svc:
        yield svc.client(None)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def event(service: str, at: datetime, *, requests=1000, errors=0, latency=None, source="test", **utilisation) -> dict:
    body = {
        "event_id": MetricsEvent.id_for(source=source, service=service, interval_start=at), "occurred_at": at.isoformat(),
        "source": source, "service": service, "interval_start": at.isoformat(), "requests": requests, "errors": errors,
        "utilisation": utilisation,
    }
    if latency:
        body["latency_buckets"] = [{"le": le, "count": c} for le, c in latency]
    return body


def push(http: httpx.Client, events: list[dict], token: str = RESPONDER) -> httpx.Response:
    return http.post("/api/v1/metrics", content=json.dumps(events), headers=auth(token))


def rows_of(http: httpx.Client, service: str, requests: int) -> list[dict] | None:
    """The four default SLO rows of `service` once all its `requests` are folded in."""
    items = http.get("/api/v1/slos", params={"service": service}, headers=auth(VIEWER)).json()["items"]
    error_rate = [i for i in items if i["slo"] == "error-rate"]
    return items if len(items) == 4 and error_rate[0]["budget"]["total_events"] == requests else None


def minutes_ago(m: int) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=m)


def test_the_dashboard_table_of_a_healthy_service(slo_api):
    service = f"api-{uuid.uuid4().hex[:6]}"
    histogram = [(0.05, 400), (0.1, 600), (0.25, 900), (0.5, 995), (INF, 1000)]
    events = [event(service, minutes_ago(m), errors=m % 2, latency=histogram) for m in range(60)]
    assert push(slo_api, events).status_code == 202
    rows = wait_for(lambda: rows_of(slo_api, service, 60_000), what="4 SLO rows")
    table = {r["title"]: (r["target"], r["current"], r["met"]) for r in rows}
    # p50: rank 500 lies between 0.05 s (400) and 0.1 s (600): 50 + 50 * 100/200 = 75 ms;
    # p99: rank 990 between 0.25 s (900) and 0.5 s (995): 250 + 250 * 90/95 = 486.842 ms; errors 30 of 60,000.
    assert table == {
        "Availability": ("99.9%", "100%", True),
        "Latency (p50)": ("< 100ms", "75ms", True),
        "Latency (p99)": ("< 500ms", "486.842ms", True),
        "Error rate": ("< 0.1%", "0.05%", True),
    }
    error_rate = next(r for r in rows if r["slo"] == "error-rate")
    assert error_rate["budget"]["allowed_bad_events"] == pytest.approx(60)
    assert error_rate["budget"]["remaining_percent"] == pytest.approx(50)
    assert error_rate["budget"]["total_minutes"] == pytest.approx(43.2)
    assert error_rate["firing"] == []


def test_bad_minutes_spend_the_availability_budget_in_minutes(slo_api):
    service = f"pay-{uuid.uuid4().hex[:6]}"
    events = [event(service, minutes_ago(m), errors=500 if m in (3, 4, 5) else 0) for m in range(30)]
    assert push(slo_api, events).status_code == 202
    wait_for(lambda: rows_of(slo_api, service, 30_000), what="rows")
    detail = wait_for(lambda: (d := slo_api.get(f"/api/v1/slos/{service}/availability", headers=auth(VIEWER)).json())
                      and d["budget"]["consumed_minutes"] == 3 and d, what="3 bad minutes")
    assert detail["budget"]["remaining_minutes"] == pytest.approx(40.2)
    now = datetime.now(UTC)
    month_minutes = calendar.monthrange(now.year, now.month)[1] * 1440
    assert detail["calendar_month"]["total_minutes"] == pytest.approx(month_minutes * 0.001)
    assert detail["calendar_month"]["remaining_minutes"] == pytest.approx(month_minutes * 0.001 - 3)
    assert "page" in detail["firing"]  # 3 of the last 60 minutes bad is a 50x burn
    history = slo_api.get(f"/api/v1/slos/{service}/availability/history", params={"days": 2}, headers=auth(VIEWER)).json()
    assert sum(d["bad_minutes"] for d in history["days"]) == 3
    assert sum(d["total_events"] for d in history["days"]) == 30_000
    chart = slo_api.get(f"/api/v1/slos/{service}/availability/burn-down.svg", headers=auth(VIEWER))
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.startswith("<svg") and "<polyline" in chart.text


async def test_capacity_trend_and_scaling_date_with_an_alert_for_a_close_one(slo_api, kafka_broker, topic_prefix):
    service = f"db-{uuid.uuid4().hex[:6]}"
    noon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
    events = [
        event(service, noon - timedelta(days=27 - i), requests=0, cpu=0.45, memory=round(0.62 - 0.02 / 7 * (27 - i), 9),
              **({"storage": round(0.70 + 0.01 * (i - 14), 9)} if i >= 14 else {}))
        for i in range(28)
    ]
    assert push(slo_api, events).status_code == 202

    def capacity() -> dict | None:
        items = slo_api.get("/api/v1/capacity", params={"service": service}, headers=auth(VIEWER)).json()["items"]
        found = {i["resource"]: i for i in items}
        return found if len(found) == 3 and found["memory"]["trend"] == "+2%/week" else None

    found = wait_for(capacity, what="capacity rows")
    today = datetime.now(UTC).date()
    memory = found["memory"]
    assert memory["current_percent"] == pytest.approx(62)
    assert memory["trend_percent_per_week"] == pytest.approx(2)
    # (80 - 62) / (2/7) = 63 days
    assert (datetime.fromisoformat(memory["scaling_needed_by"]).date() - today).days == 63
    assert memory["alert"] is False
    assert (found["cpu"]["trend"], found["cpu"]["scaling_needed_by"], found["cpu"]["alert"]) == ("Stable", None, False)
    assert found["storage"]["alert"] is True  # 83 % today, +7 %/week
    records = await cursor.read(expected=1, timeout_s=15, settle_s=1)
    alerts = [a for a in (decode(AlertEvent, r.value) for r in records) if a.labels.get("service") == service]
    assert [(a.labels["alertname"], a.labels["resource"], a.status) for a in alerts] == [("CapacityThresholdSoon", "storage", "firing")]


@pytest.mark.parametrize(
    ("token", "expected"), [(None, 401), ("not-a-token-at-all-xxxx", 401), (VIEWER, 403), (RESPONDER, 202), (ADMIN, 202)],
)
def test_pushing_metrics_needs_a_responder_token(slo_api, token, expected):
    body = json.dumps(event(f"auth-{uuid.uuid4().hex[:6]}", minutes_ago(1)))
    response = slo_api.post("/api/v1/metrics", content=body, headers=auth(token) if token else {})
    assert response.status_code == expected
    if expected == 401:
        assert response.headers["www-authenticate"].startswith("Bearer") and response.json()["error"] == "unauthorized"


def test_reading_needs_a_token_and_unknown_slos_are_404(slo_api):
    assert slo_api.get("/api/v1/slos").status_code == 401
    assert slo_api.get("/api/v1/capacity").status_code == 401
    missing = slo_api.get("/api/v1/slos/nope/availability", headers=auth(VIEWER))
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert slo_api.get("/api/v1/slos/nope/not-an-slo/history", headers=auth(VIEWER)).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "invalid_json"),
        (json.dumps({"service": "x"}).encode(), 422, "invalid_request"),
        (json.dumps(event("x", minutes_ago(0), requests=1, errors=2)).encode(), 422, "invalid_request"),
        (json.dumps(event("x", minutes_ago(-60))).encode(), 422, "invalid_request"),  # an hour in the future
        (b"[" + b" " * (70 * 1024) + b"]", 413, "too_large"),
    ],
)
def test_bad_pushes_are_refused_with_a_clear_error(slo_api, body, status, error):
    response = slo_api.post("/api/v1/metrics", content=body, headers=auth(RESPONDER))
    assert response.status_code == status and response.json()["error"] == error


async def test_malformed_and_future_metrics_go_to_the_dead_letter_topic(slo_api, kafka_broker, topic_prefix):
    run = uuid.uuid4().hex[:6]
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.dlq(Topic.METRICS))
    future = MetricsEvent.model_validate(event(f"future-{run}", minutes_ago(-120)))
    good = MetricsEvent.model_validate(event(f"fine-{run}", minutes_ago(1)))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic_prefix + Topic.METRICS, f'{{"garbage": "{run}"}}'.encode(), key=run.encode())
        for e in (future, good):
            key, value, headers = encode(e, ce_source="/test")
            await producer.send_and_wait(topic_prefix + Topic.METRICS, value, key=key, headers=headers)
    finally:
        await producer.stop()
    records = await cursor.read(expected=2, timeout_s=20, settle_s=1)
    mine = [r for r in records if run.encode() in (r.key or b"") or run.encode() in r.value]
    assert len(mine) == 2
    errors = sorted(header(r.headers, "dlq_error") for r in mine)
    assert errors[0].startswith("rejected by handler: interval_start") and errors[1].startswith("undecodable as MetricsEvent")
    wait_for(lambda: rows_of(slo_api, f"fine-{run}", 1000), what="the good event after them folded")
