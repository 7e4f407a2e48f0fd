"""OpenSLO ratioMetrics over Prometheus queries: the selectors inside summed rates become the SLO's
selectors, a histogram's bucket pair becomes a latency SLO, and what cannot be mapped is refused
naming the query."""

from __future__ import annotations

import pytest

from services.slo.definitions import SloDefinitionError
from services.slo.definitions_file import parse_definitions
from services.slo.series.promql import UnmappableQuery, selector_in


def openslo(parts: dict[str, str], *, service: str = "checkout") -> str:
    sources = "\n".join(
        f"        {part}: {{metricSource: {{type: Prometheus, spec: {{query: '{q}'}}}}}}" for part, q in parts.items())
    return f"""
apiVersion: openslo/v1
kind: SLO
metadata: {{name: checkout}}
spec:
  service: {service}
  indicator:
    spec:
      ratioMetric:
        counter: true
{sources}
  objectives: [{{target: 0.99}}]
"""


@pytest.mark.parametrize(("query", "selector"), [
    ('sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m]))', 'http_requests_total{job="checkout", code=~"5.."}'),
    ("sum by (job) (increase(x_total[1h]))", "x_total"),
    ('sum(rate(x_total{a="b"}[5m])) by (a)', 'x_total{a="b"}'),
    ("rate(x_total[1h30m])", "x_total"),
    ('x_total{a=")"}', 'x_total{a=")"}'),
])
def test_the_selector_inside_a_summed_rate_is_taken(query, selector):
    assert selector_in(query) == selector


@pytest.mark.parametrize(("query", "complaint"), [
    ("sum(rate(a[5m])) / sum(rate(b[5m]))", "onto a series selector"),
    ("irate(x[5m])", "onto a series selector"),
    ("rate(x)", "needs a range"),
    ("histogram_quantile(0.9, sum(rate(x_bucket[5m])) by (le))", "onto a series selector"),
    ("avg(rate(x[5m]))", "onto a series selector"),
    ("rate(x[5m] offset 1h)", "needs a range"),
])
def test_other_promql_is_refused_naming_the_query(query, complaint):
    with pytest.raises(UnmappableQuery, match=complaint) as caught:
        selector_in(query)
    assert query in str(caught.value)


def test_a_bad_over_total_ratio_becomes_a_success_ratio_slo_on_the_selectors():
    [d] = parse_definitions(openslo({"bad": 'sum(rate(req_total{job="checkout",code=~"5.."}[5m]))',
                                     "total": 'sum(rate(req_total{job="checkout"}[5m]))'}))
    assert (d.indicator, d.service, d.total, d.bad) == ("success_ratio", "checkout", 'req_total{job="checkout"}',
                                                        'req_total{job="checkout", code=~"5.."}')


def test_a_histograms_bucket_pair_becomes_a_latency_slo_under_that_bound():
    [d] = parse_definitions(openslo({"good": 'sum(rate(dur_bucket{job="checkout",le="0.25"}[5m]))',
                                     "total": 'sum(rate(dur_bucket{job="checkout",le="+Inf"}[5m]))'}))
    assert (d.indicator, d.threshold_ms, d.histogram) == ("latency_under", 250, 'dur_bucket{job="checkout"}')


def test_unmappable_queries_and_a_missing_service_are_refused_in_the_config():
    with pytest.raises(SloDefinitionError, match=r"'checkout'.*cannot map the Prometheus query 'sum\(rate\(a\[5m\]\)\) / 2'"):
        parse_definitions(openslo({"bad": "sum(rate(a[5m])) / 2", "total": "sum(rate(b[5m]))"}))
    with pytest.raises(SloDefinitionError, match="needs spec.service"):
        parse_definitions(openslo({"bad": "a_total", "total": "b_total"}, service="'*'"))


def test_vigils_own_counter_names_still_mean_vigils_metrics_events():
    [d] = parse_definitions(openslo({"bad": "errors", "total": "requests"}, service="'*'"))
    assert (d.indicator, d.selectors) == ("success_ratio", {})
