"""PURE: OTLP metrics (`ExportMetricsServiceRequest`, protobuf or its JSON form, as the
OpenTelemetry SDK and Collector send them over OTLP/HTTP) read into the same series that
remote-write gives, so the same selectors select them:

- labels: the data point's attributes, plus `job` (`service.namespace/service.name`) and
  `instance` (`service.instance.id`) from the resource, as Prometheus' OTLP receiver names them;
  names with other characters than [a-zA-Z0-9_] get `_` instead (`http.route` → `http_route`);
- a monotonic Sum → a counter `<name>` (cumulative: compared with its last value; delta: each point
  is its own increase);
- a Histogram → counters `<name>_bucket{le="<bound>"}` (cumulative over the bounds, ending with `+Inf`);
- a point flagged "no recorded value" → a staleness marker.
Gauges, non-monotonic sums, exponential histograms and summaries are skipped (counted): an SLI is a
count of events.
"""

from __future__ import annotations

import re
import struct
from collections import Counter as Tally
from collections.abc import Iterator

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from services.slo.definitions import bucket_key
from services.slo.series.counters import STALE_NAN_BITS
from services.slo.series.fold import SeriesSamples

DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
NO_RECORDED_VALUE = 1
STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


class UndecodableExport(ValueError):
    """A body that is not an ExportMetricsServiceRequest."""


def parse_export(body: bytes, *, json: bool) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    try:
        if json:
            json_format.Parse(body.decode(), request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
        kind = "JSON" if json else "protobuf"
        raise UndecodableExport(f"not an OTLP ExportMetricsServiceRequest ({kind}): {exc}") from None
    return request


def label_name(name: str) -> str:
    clean = _INVALID.sub("_", name)
    return f"_{clean}" if clean[:1].isdigit() else clean


def _value(any_value) -> str:
    kind = any_value.WhichOneof("value")
    return "" if kind is None else str(getattr(any_value, kind))


def _resource_labels(resource) -> dict[str, str]:
    attrs = {a.key: _value(a.value) for a in resource.attributes}
    labels = {}
    if "service.name" in attrs:
        ns = attrs.get("service.namespace")
        labels["job"] = f"{ns}/{attrs['service.name']}" if ns else attrs["service.name"]
    if "service.instance.id" in attrs:
        labels["instance"] = attrs["service.instance.id"]
    return labels


def _labels(base: dict[str, str], name: str, point, **extra: str) -> dict[str, str]:
    labels = dict(base)
    for a in point.attributes:
        labels[label_name(a.key)] = _value(a.value)
    labels.update(extra)
    labels["__name__"] = name
    return labels


def _series(labels: dict[str, str], t_ms: int, value: float, start_ms: int, delta: bool) -> SeriesSamples:
    sample = (t_ms, value, start_ms) if delta else (t_ms, value)
    return tuple(sorted(labels.items())), (sample,), delta


def labels_of(key: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(key)


def series(request: ExportMetricsServiceRequest, skipped: Tally) -> Iterator[SeriesSamples]:
    """One entry per data point (a histogram point: one per bucket); `skipped` counts what is not an SLI."""
    for rm in request.resource_metrics:
        base = _resource_labels(rm.resource)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                name = label_name(metric.name)
                if kind == "sum" and metric.sum.is_monotonic:
                    delta = metric.sum.aggregation_temporality == DELTA
                    for p in metric.sum.data_points:
                        value = STALE if p.flags & NO_RECORDED_VALUE else float(getattr(p, p.WhichOneof("value") or "as_double"))
                        yield _series(_labels(base, name, p), p.time_unix_nano // 1_000_000, value,
                                      p.start_time_unix_nano // 1_000_000, delta)
                elif kind == "histogram":
                    delta = metric.histogram.aggregation_temporality == DELTA
                    for p in metric.histogram.data_points:
                        t_ms, start_ms = p.time_unix_nano // 1_000_000, p.start_time_unix_nano // 1_000_000
                        bounds = [*p.explicit_bounds, float("inf")]
                        running = 0
                        counts = list(p.bucket_counts) or [0] * len(bounds)
                        for le, count in zip(bounds, counts):
                            running += count
                            value = STALE if p.flags & NO_RECORDED_VALUE else float(running)
                            yield _series(_labels(base, f"{name}_bucket", p, le=bucket_key(le)), t_ms, value, start_ms, delta)
                else:
                    skipped[kind or "empty"] += 1
