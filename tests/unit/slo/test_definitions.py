"""SLO definitions: the 1.2 defaults, our YAML, the OpenSLO v1 subset, and clear errors."""

import pytest

from services.slo.definitions import DEFAULT_DEFINITIONS, SloDefinitionError, bucket_key, definitions_for
from services.slo.definitions_file import parse_definitions


def test_the_defaults_are_the_operations_process_dashboard():
    rows = [(d.title, d.objective_text(), d.budgeting) for d in DEFAULT_DEFINITIONS]
    assert rows == [
        ("Availability", "99.9%", "timeslices"),
        ("Latency (p50)", "< 100ms", "occurrences"),
        ("Latency (p99)", "< 500ms", "occurrences"),
        ("Error rate", "< 0.1%", "occurrences"),
    ]
    assert [d.threshold_key for d in DEFAULT_DEFINITIONS] == [None, "0.1", "0.5", None]


def test_bucket_keys_are_canonical():
    assert [bucket_key(v) for v in (0.1, 0.5, 1, 2.5, float("inf"))] == ["0.1", "0.5", "1.0", "2.5", "+Inf"]


OWN = """
slos:
  - {name: availability, title: Availability, indicator: success_ratio, target: 0.9995, budgeting: timeslices}
  - {name: checkout-latency, title: Checkout p95, service: checkout, indicator: latency_under, threshold_ms: 250, target: 0.95, display: percentile_ms}
  - {name: availability, title: Availability, service: checkout, indicator: success_ratio, target: 0.99}
"""


def test_our_yaml_with_a_per_service_override():
    defs = parse_definitions(OWN)
    assert [d.target for d in definitions_for("web", defs)] == [0.9995]
    checkout = definitions_for("checkout", defs)
    assert sorted((d.name, d.target) for d in checkout) == [("availability", 0.99), ("checkout-latency", 0.95)]


OPENSLO = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: api-availability}
spec:
  service: api
  budgetingMethod: Timeslices
  indicator:
    metadata: {name: api-errors}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: vigil, spec: {query: errors}}}
        total: {metricSource: {type: vigil, spec: {query: requests}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  objectives:
    - {displayName: Availability, target: 0.999}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: api-latency}
spec:
  service: api
  indicator:
    metadata: {name: api-latency}
    spec:
      thresholdMetric: {metricSource: {type: vigil, spec: {query: latency}}}
  objectives:
    - {name: p50, displayName: Latency (p50), op: lte, value: 100, target: 0.5}
    - {name: p99, displayName: Latency (p99), op: lt, value: 500, target: 0.99}
"""


def test_an_openslo_file_becomes_our_definitions():
    defs = parse_definitions(OPENSLO)
    assert [(d.name, d.service, d.indicator, d.target, d.threshold_ms, d.budgeting) for d in defs] == [
        ("api-availability", "api", "success_ratio", 0.999, None, "timeslices"),
        ("api-latency-p50", "api", "latency_under", 0.5, 100.0, "occurrences"),
        ("api-latency-p99", "api", "latency_under", 0.99, 500.0, "occurrences"),
    ]
    assert defs[2].objective_text() == "< 500ms"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no SLOs"),
        ("slos: [{name: x, title: X, indicator: latency_under, target: 0.9}]", "threshold_ms"),
        ("slos: [{name: x, title: X, indicator: success_ratio, target: 1.5}]", "invalid SLO definition"),
        ("slos: [{name: a, title: A, indicator: success_ratio, target: 0.9}, {name: a, title: B, indicator: success_ratio, target: 0.9}]", "twice"),
        ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec: {indicatorRef: foo, objectives: [{target: 0.9}]}", "inline"),
        ("{not yaml", "not YAML"),
        ("hello: world", "expected"),
    ],
)
def test_invalid_files_are_refused_with_a_reason(text, message):
    with pytest.raises(SloDefinitionError, match=message):
        parse_definitions(text)
