"""Reading remote-write requests and OTLP exports into series, and SLO definitions that name
series selectors (what they may name, and conflicts between them)."""

from __future__ import annotations

from collections import Counter

import cramjam
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

from services.slo.definitions import SloDefinitionError
from services.slo.definitions_file import parse_definitions
from services.slo.series import otlp, remote_write
from services.slo.series.counters import is_stale_marker


def decoded(body: bytes) -> list:
    data = remote_write.decompress(body, max_bytes=1 << 20)
    return [(remote_write.labels_of(key), samples) for key, samples, _delta in remote_write.series(data)]


def test_a_write_request_reads_back_as_its_series_and_samples():
    batch = [({"__name__": "up", "job": "a"}, [(1000, 1.0), (2000, 0.0)]), ({"__name__": "x", "é": "ü"}, [(-1, 2.5)])]
    assert decoded(remote_write.encode_write_request(batch)) == batch


def test_a_series_is_keyed_by_its_label_bytes_so_the_same_labels_give_the_same_key():
    one = remote_write.encode_write_request([({"__name__": "up", "job": "a"}, [(1000, 1.0)])])
    two = remote_write.encode_write_request([({"__name__": "up", "job": "a"}, [(9000, 7.0)])])
    keys = [next(remote_write.series(remote_write.decompress(b, max_bytes=1 << 20)))[0] for b in (one, two)]
    assert keys[0] == keys[1]


def test_known_series_read_the_same_from_their_end_whatever_their_samples():
    now_ms = 1_780_000_000_000
    batch = [({"__name__": "up", "job": "a"}, [(now_ms, 1.0)]), ({"__name__": "up", "job": "b"}, [(now_ms, 2.0), (now_ms + 15_000, 3.0)]),
             ({"__name__": "up", "job": "c"}, [(-1, 4.0)]), ({"__name__": "up", "job": "d"}, [])]
    data = remote_write.decompress(remote_write.encode_write_request(batch), max_bytes=1 << 20)
    known = {key for key, _samples, _delta in remote_write.series(data)}
    assert [(remote_write.labels_of(k), s) for k, s, _d in remote_write.series(data, known)] == batch


def test_a_known_key_is_not_mistaken_for_the_labels_of_a_series_that_only_ends_like_it():
    now_ms = 1_780_000_000_000
    one = remote_write.decompress(remote_write.encode_write_request([({"__name__": "up"}, [(now_ms, 1.0)])]), max_bytes=1 << 20)
    two = remote_write.decompress(remote_write.encode_write_request([({"__name__": "up"}, [(now_ms, 1.0), (now_ms + 1, 2.0)])]),
                                  max_bytes=1 << 20)
    known = {key for key, _samples, _delta in remote_write.series(one)}
    assert [(remote_write.labels_of(k), s) for k, s, _d in remote_write.series(two, known)] == [
        ({"__name__": "up"}, [(now_ms, 1.0), (now_ms + 1, 2.0)])]


@pytest.mark.parametrize(("body", "complaint"), [
    (b"", "empty or not snappy"),
    (b"\x05garbage", "not snappy"),
    (bytes(cramjam.snappy.compress_raw(b"\x0a\x05\x0a\x03")), "past"),
    (bytes(cramjam.snappy.compress_raw(b"\x0a\x02\x0a\xff")), "past|truncated"),
    (bytes(cramjam.snappy.compress_raw(b"\x0f")), "wire type"),
])
def test_undecodable_bodies_are_refused_with_the_reason(body, complaint):
    with pytest.raises(remote_write.UndecodableRequest, match=complaint):
        decoded(body)


def test_a_body_that_would_decompress_past_the_limit_is_refused_before_decompressing():
    body = bytes(cramjam.snappy.compress_raw(b"\0" * 5000))
    with pytest.raises(remote_write.TooLarge):
        remote_write.decompress(body, max_bytes=4096)


def _export() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "checkout"
    metrics = rm.scope_metrics.add().metrics
    counter = metrics.add(name="http.requests")
    counter.sum.is_monotonic = True
    counter.sum.aggregation_temporality = m.AGGREGATION_TEMPORALITY_CUMULATIVE
    point = counter.sum.data_points.add(time_unix_nano=2_000_000_000, start_time_unix_nano=1_000_000_000, as_int=42)
    point.attributes.add(key="http.response.status_code").value.int_value = 500
    histogram = metrics.add(name="duration")
    histogram.histogram.aggregation_temporality = m.AGGREGATION_TEMPORALITY_DELTA
    histogram.histogram.data_points.add(time_unix_nano=2_000_000_000, start_time_unix_nano=1_000_000_000,
                                        explicit_bounds=[0.1, 0.5], bucket_counts=[3, 4, 1], count=8,
                                        flags=0)
    metrics.add(name="temperature").gauge.data_points.add(as_double=20)
    gone = metrics.add(name="gone")
    gone.sum.is_monotonic = True
    gone.sum.data_points.add(time_unix_nano=3_000_000_000, flags=1)
    return request


def test_otlp_sums_and_histograms_become_labelled_series_and_other_kinds_are_counted_as_skipped():
    skipped: Counter = Counter()
    got = [(otlp.labels_of(key), samples, delta) for key, samples, delta in otlp.series(_export(), skipped)]
    assert got[:4] == [
        ({"job": "checkout", "http_response_status_code": "500", "__name__": "http_requests"}, ((2000, 42.0),), False),
        ({"job": "checkout", "le": "0.1", "__name__": "duration_bucket"}, ((2000, 3.0, 1000),), True),
        ({"job": "checkout", "le": "0.5", "__name__": "duration_bucket"}, ((2000, 7.0, 1000),), True),
        ({"job": "checkout", "le": "+Inf", "__name__": "duration_bucket"}, ((2000, 8.0, 1000),), True),
    ]
    assert is_stale_marker(got[4][1][0][1])  # "no recorded value" is a staleness marker
    assert skipped == {"gauge": 1}


def test_otlp_json_reads_like_protobuf_and_garbage_is_refused():
    from google.protobuf import json_format

    text = json_format.MessageToJson(_export()).encode()
    assert otlp.parse_export(text, json=True) == _export()
    with pytest.raises(otlp.UndecodableExport, match="protobuf"):
        otlp.parse_export(b"\xff\xff\xff", json=False)


SELECTED = """
slos:
  - {name: availability, title: A, service: checkout, indicator: success_ratio, target: 0.999,
     total: 'http_requests_total{job="checkout"}', bad: 'http_requests_total{job="checkout",code=~"5.."}'}
  - {name: error-rate, title: E, service: checkout, indicator: success_ratio, target: 0.999, display: percent_bad,
     total: 'http_requests_total{job="checkout"}', bad: %s}
"""


def test_two_slos_of_a_service_may_share_selectors_but_not_name_different_ones():
    assert len(parse_definitions(SELECTED % """'http_requests_total{job="checkout",code=~"5.."}'""")) == 2
    with pytest.raises(SloDefinitionError, match="different bad selectors"):
        parse_definitions(SELECTED % """'http_requests_total{job="checkout",code="500"}'""")


@pytest.mark.parametrize(("fields", "complaint"), [
    ("service: '*', total: 'a_total', bad: 'b_total'", "must name its service"),
    ("total: 'a_total'", "total and one of bad or good"),
    ("total: 'a_total', bad: 'b_total', good: 'c_total'", "total and one of bad or good"),
    ("total: 'sum(rate(a_total[5m]))', bad: 'b_total'", "total: .*only a series selector"),
])
def test_selectors_that_cannot_define_the_slo_are_refused(fields, complaint):
    text = f"slos:\n  - {{name: a, title: A, service: checkout, indicator: success_ratio, target: 0.99, {fields}}}\n"
    if "service: '*'" in fields:
        text = text.replace("service: checkout, ", "")
    with pytest.raises(SloDefinitionError, match=complaint):
        parse_definitions(text)
