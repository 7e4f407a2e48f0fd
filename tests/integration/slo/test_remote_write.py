"""Prometheus remote-write into the SLO service, against the real PostgreSQL: SLOs defined by
series selectors fill from counters and a histogram; resent and out-of-order samples count once;
auth, 400, 413 and 415 as the route promises."""

from __future__ import annotations

import time
import uuid

import cramjam
import httpx
import pytest

from services.slo.series.remote_write import encode_write_request
from tests.services import TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration
SERVICE = f"checkout-{uuid.uuid4().hex[:6]}"
JOB = {"job": SERVICE}
HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}
CONFIG = f"""
slos:
  - {{name: availability, title: Availability, service: {SERVICE}, indicator: success_ratio, target: 0.99,
     total: 'http_requests_total{{job="{SERVICE}"}}', bad: 'http_requests_total{{job="{SERVICE}",code=~"5.."}}'}}
  - {{name: fast, title: Fast, service: {SERVICE}, indicator: latency_under, threshold_ms: 250, target: 0.9,
     histogram: 'http_request_duration_seconds{{job="{SERVICE}"}}'}}
"""


@pytest.fixture(scope="module")
def slo(running_slo, tmp_path_factory):
    config = tmp_path_factory.mktemp("slo") / "slos.yaml"
    config.write_text(CONFIG)
    with running_slo(slo_config_file=str(config), slo_evaluate_interval_s=0.2, slo_min_events=0,
                     slo_max_body_bytes=64 * 1024) as svc:
        yield svc


def write(client: httpx.Client, batch, headers=HEADERS) -> httpx.Response:
    return client.post("/api/v1/write", content=encode_write_request(batch), headers=headers)


def counters(at_ms: list[int], ok: list[int], bad: list[int]):
    return [
        ({"__name__": "http_requests_total", **JOB, "code": "200"}, list(zip(at_ms, map(float, ok)))),
        ({"__name__": "http_requests_total", **JOB, "code": "503"}, list(zip(at_ms, map(float, bad)))),
        ({"__name__": "http_requests_total", "job": "other", "code": "503"}, list(zip(at_ms, map(float, bad)))),
    ]


def status(client: httpx.Client, slo: str) -> dict | None:
    r = client.get(f"/api/v1/slos/{SERVICE}/{slo}")
    return r.json() if r.status_code == 200 else None


def test_counters_fill_a_selector_slo_and_resent_samples_count_once(slo):
    client = slo.client("responder")
    now_ms = int(time.time() * 1000)
    at = [now_ms - 150_000 + i * 15_000 for i in range(8)]
    ok = [1000 + 97 * i for i in range(8)]
    bad = [10 + 3 * i for i in range(8)]
    first, second = counters(at[:5], ok[:5], bad[:5]), counters(at[3:], ok[3:], bad[3:])  # overlapping: 2 resent
    assert write(client, first).status_code == 204
    assert write(client, second).status_code == 204
    assert write(client, first).status_code == 204  # a retry of an old batch: all duplicates or out of order
    # 7 intervals: 7 * 97 ok + 7 * 3 bad = 700 requests, 21 errors (the first samples are baselines).
    row = wait_for(lambda: (s := status(slo.client("viewer"), "availability")) and s["budget"]["total_events"] == 700 and s,
                   what="700 requests folded")
    assert row["budget"]["bad_events"] == 21
    five_minutes = next(r for r in row["burn_rates"] if r["short_window"] == "5m")
    assert five_minutes["short_burn"] == pytest.approx(0.03 / 0.01, rel=1e-3)


def test_histogram_buckets_fill_a_latency_slo(slo):
    client = slo.client("responder")
    now_ms = int(time.time() * 1000)
    at = [now_ms - 60_000, now_ms - 30_000]
    base = {"__name__": "http_request_duration_seconds_bucket", **JOB}
    batch = [({**base, "le": le}, [(at[0], 0.0), (at[1], n)]) for le, n in (("0.1", 600.0), ("0.25", 950.0), ("+Inf", 1000.0))]
    assert write(client, batch).status_code == 204
    row = wait_for(lambda: (s := status(slo.client("viewer"), "fast")) and s["budget"]["total_events"] == 1000 and s,
                   what="1000 observations folded")
    assert row["budget"]["good_events"] == 950


def test_the_route_needs_a_responder_token(slo):
    batch = counters([int(time.time() * 1000)], [1], [1])
    assert write(slo.client(None), batch).status_code == 401
    assert write(slo.client("viewer"), batch).status_code == 403


def test_bad_bodies_are_refused_with_the_reason(slo):
    client = slo.client("responder")
    not_snappy = client.post("/api/v1/write", content=b"\x05hello", headers=HEADERS)
    assert not_snappy.status_code == 400 and "snappy" in not_snappy.json()["message"]
    not_protobuf = client.post("/api/v1/write", content=bytes(cramjam.snappy.compress_raw(b"\x0a\xff\x01xx")), headers=HEADERS)
    assert not_protobuf.status_code == 400 and not_protobuf.json()["error"] == "invalid_write_request"
    too_large = client.post("/api/v1/write", content=b"\0" * (65 * 1024), headers=HEADERS)
    assert too_large.status_code == 413
    other = client.post("/api/v1/write", content=b"", headers={**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"})
    assert other.status_code == 415 and "io.prometheus.write.v2.Request" in other.json()["message"]
    assert client.post("/api/v1/write", content=b"", headers={**HEADERS, "Content-Encoding": "gzip"}).status_code == 415


def test_definitions_show_their_selectors(slo):
    items = slo.client("viewer").get("/api/v1/definitions").json()["items"]
    availability = next(d for d in items if d["name"] == "availability")
    assert availability["selectors"] == {"total": f'http_requests_total{{job="{SERVICE}"}}',
                                         "bad": f'http_requests_total{{job="{SERVICE}",code=~"5.."}}'}
