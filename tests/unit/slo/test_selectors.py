"""PromQL series selectors: parsing, Prometheus' matching semantics, and clear refusals."""

from __future__ import annotations

import pytest

from services.slo.series.selectors import Matcher, SelectorError, parse_selector

CHECKOUT_500 = {"__name__": "http_requests_total", "job": "checkout", "code": "500"}
CHECKOUT_200 = {**CHECKOUT_500, "code": "200"}
BILLING_503 = {**CHECKOUT_500, "job": "billing", "code": "503"}


@pytest.mark.parametrize(("text", "labels", "selected"), [
    ('http_requests_total{job="checkout"}', CHECKOUT_500, True),
    ('http_requests_total{job="checkout"}', BILLING_503, False),
    ('http_requests_total{job="checkout",code=~"5.."}', CHECKOUT_500, True),
    ('http_requests_total{job="checkout",code=~"5.."}', CHECKOUT_200, False),
    ('http_requests_total{code!~"2.."}', BILLING_503, True),
    ('http_requests_total{code!="200"}', CHECKOUT_200, False),
    ("http_requests_total", CHECKOUT_200, True),
    ("other_total", CHECKOUT_200, False),
    ('{__name__=~"http_.*_total", job="checkout"}', CHECKOUT_500, True),
    # Regexes are anchored: "5" alone does not match "500".
    ('http_requests_total{code=~"5"}', CHECKOUT_500, False),
    # Alternation is anchored as a whole, not just its first branch.
    ('http_requests_total{code=~"200|5.."}', CHECKOUT_500, True),
    ('http_requests_total{code=~"200|5.."}', {**CHECKOUT_500, "code": "5000"}, False),
    # A missing label is the empty string.
    ('http_requests_total{region=""}', CHECKOUT_500, True),
    ('http_requests_total{region!=""}', CHECKOUT_500, False),
    ('http_requests_total{region=~"eu|"}', CHECKOUT_500, True),
    # Quoting: single quotes, backticks, escapes, spaces and a trailing comma.
    ("http_requests_total{ job = 'checkout' , }", CHECKOUT_500, True),
    ("http_requests_total{code=~`5\\d\\d`}", CHECKOUT_500, True),
    ('m{path="a\\"b"}', {"__name__": "m", "path": 'a"b'}, True),
])
def test_a_selector_selects_series_as_prometheus_does(text, labels, selected):
    assert parse_selector(text).matches(labels) is selected


@pytest.mark.parametrize(("text", "complaint"), [
    ("", "empty"),
    ("{}", "empty"),
    ('{job=~".*"}', "every series"),
    ('{job!=""}', None),  # needs a value: allowed
    ('m{job="a"', "missing }"),
    ('m{job"a"}', "expected =, !=, =~ or !~"),
    ("m{job=a}", "quoted value"),
    ('m{job=~"("}', "invalid regular expression"),
    ('sum(rate(m{job="a"}[5m]))', "only a series selector"),
    ('m{job="a"}[5m]', "only a series selector"),
    ('m{job="a\\q"}', "unknown escape"),
    ('m{job="a}', "unterminated"),
])
def test_what_is_not_a_selector_is_refused_with_the_reason(text, complaint):
    if complaint is None:
        parse_selector(text)
        return
    with pytest.raises(SelectorError, match=complaint):
        parse_selector(text)


def test_a_selector_reads_back_as_text_that_parses_to_the_same_selector():
    selector = parse_selector('http_requests_total{job="check\\"out", code=~"5.."}')
    assert selector.metric == "http_requests_total"
    assert parse_selector(selector.text()) == selector
    assert selector.text() == 'http_requests_total{job="check\\"out", code=~"5.."}'


def test_with_metric_keeps_the_label_matchers():
    selector = parse_selector('latency_seconds{job="a"}').with_metric("latency_seconds_bucket")
    assert selector.matchers == (Matcher("__name__", "=", "latency_seconds_bucket"), Matcher("job", "=", "a"))
