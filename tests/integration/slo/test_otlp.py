"""OTLP/HTTP metrics from the real OpenTelemetry SDK (its OTLP protobuf exporter) into the SLO
service, against the real PostgreSQL: cumulative and delta counters and histograms fill SLOs
defined by series selectors with exactly what the application recorded; JSON exports are read
too; undecodable bodies and other encodings are refused."""

from __future__ import annotations

import json
import uuid

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from tests.services import TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:6]
CUMULATIVE, DELTA = f"shop-{RUN}", f"cart-{RUN}"


def slos(service: str) -> str:
    return f"""
  - {{name: availability, title: Availability, service: {service}, indicator: success_ratio, target: 0.99,
     total: 'http_server_requests{{job="{service}"}}', bad: 'http_server_requests{{job="{service}",code=~"5.."}}'}}
  - {{name: fast, title: Fast, service: {service}, indicator: latency_under, threshold_ms: 250, target: 0.8,
     histogram: 'http_server_duration{{job="{service}"}}'}}"""


@pytest.fixture(scope="module")
def slo(running_slo, tmp_path_factory):
    config = tmp_path_factory.mktemp("slo") / "slos.yaml"
    config.write_text("slos:" + slos(CUMULATIVE) + slos(DELTA))
    with running_slo(slo_config_file=str(config), slo_evaluate_interval_s=0.2, slo_min_events=0) as svc:
        yield svc


def provider(url: str, service: str, *, delta: bool) -> MeterProvider:
    temporality = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA} if delta else {}
    exporter = OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers={"Authorization": f"Bearer {TOKENS['responder']}"},
                                  preferred_temporality=temporality)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)  # exports when flushed
    return MeterProvider(resource=Resource.create({"service.name": service}), metric_readers=[reader],
                         views=[View(instrument_name="http.server.duration",
                                     aggregation=ExplicitBucketHistogramAggregation([0.1, 0.25, 0.5]))])


def record(meter_provider: MeterProvider, *, baseline_first: bool) -> None:
    """1,000 requests, 50 of them failing; 900 within 250 ms."""
    meter = meter_provider.get_meter("shop")
    requests = meter.create_counter("http.server.requests")
    duration = meter.create_histogram("http.server.duration", unit="s")
    if baseline_first:  # a cumulative series' first point is its baseline: start it before the traffic
        requests.add(0, {"code": "200"})
        requests.add(0, {"code": "503"})
        duration.record(0.05)
        assert meter_provider.force_flush()
    for i in range(1000):
        requests.add(1, {"code": "503" if i % 20 == 0 else "200"})
        duration.record(0.05 if i < 700 else 0.2 if i < 900 else 0.8)
        if i == 500:
            assert meter_provider.force_flush()
    assert meter_provider.force_flush()


def counts(client, service: str, slo: str) -> tuple[int, int] | None:
    r = client.get(f"/api/v1/slos/{service}/{slo}")
    return (r.json()["budget"]["good_events"], r.json()["budget"]["total_events"]) if r.status_code == 200 else None


@pytest.mark.parametrize(("service", "delta"), [(CUMULATIVE, False), (DELTA, True)])
def test_the_sdks_counters_and_histograms_fill_selector_slos_with_what_was_recorded(slo, service, delta):
    meter_provider = provider(slo.url, service, delta=delta)
    try:
        record(meter_provider, baseline_first=not delta)
    finally:
        meter_provider.shutdown()
    viewer = slo.client("viewer")
    assert wait_for(lambda: counts(viewer, service, "availability") == (950, 1000) or None, what="950 of 1000 good",
                    timeout_s=10) is True
    assert wait_for(lambda: counts(viewer, service, "fast") == (900, 1000) or None, what="900 of 1000 fast",
                    timeout_s=10) is True


EXPORT_JSON = {"resourceMetrics": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-shop"}}]},
    "scopeMetrics": [{"metrics": [
        {"name": "temperature", "gauge": {"dataPoints": [{"asDouble": 21.5, "timeUnixNano": "1"}]}},
    ]}],
}]}


def test_json_exports_are_read_and_what_is_not_an_sli_is_reported_as_skipped(slo):
    client = slo.client("responder")
    r = client.post("/v1/metrics", content=json.dumps(EXPORT_JSON), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and "1 gauge" in r.json()["partialSuccess"]["errorMessage"]
    also = client.post("/api/v1/otlp/v1/metrics", content=json.dumps(EXPORT_JSON), headers={"Content-Type": "application/json"})
    assert also.status_code == 200


def test_undecodable_exports_and_other_encodings_are_refused(slo):
    client = slo.client("responder")
    garbage = client.post("/v1/metrics", content=b"\xff\xff\xff", headers={"Content-Type": "application/x-protobuf"})
    assert garbage.status_code == 400 and "ExportMetricsServiceRequest" in garbage.json()["message"]
    assert client.post("/v1/metrics", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    bad_gzip = client.post("/v1/metrics", content=b"nope", headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    assert bad_gzip.status_code == 400
    assert slo.client("viewer").post("/v1/metrics", content=b"", headers={"Content-Type": "application/x-protobuf"}).status_code == 403
