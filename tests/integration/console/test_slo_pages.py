"""The console's SLO pages against a real SLO service (its own SLO file), broker and PostgreSQL, read
as a signed-in viewer: the empty state before any metrics (what is configured, how to send them),
then the list, one SLO and the capacity forecasts showing what the SLO API itself reports, the
burn-down chart proxied as an SVG, an unknown SLO as a page that says so, and a console without
the SLO service saying how to connect it."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.console import slo_view
from shared.events import MetricsEvent
from tests.integration.console.support import Browser, add_people
from tests.services import IDENTITY_KEYS, TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration

PEOPLE = {"vera": ("viewer", "vera-password-1")}
# The error-rate SLO applies to every service that sends metrics; checkout and billing have their own
# availability (billing never sends any: it stays configured, without data).
SLO_FILE = """
slos:
  - {name: error-rate, title: Error rate, indicator: success_ratio, target: 0.999, display: percent_bad}
  - {name: availability, title: Availability, service: checkout, indicator: success_ratio, target: 0.999, budgeting: timeslices}
  - {name: availability, title: Availability, service: billing, indicator: success_ratio, target: 0.999, budgeting: timeslices}
"""
SERVICES = ("catalog", "search", "checkout")


@dataclass
class Stack:
    slo: object
    api: httpx.Client  # the SLO service as a viewer service account
    vera: Browser

    def api_slos(self) -> list[dict]:
        response = self.api.get("/api/v1/slos", params={"burn_rates": "true"})
        assert response.status_code == 200, response.text
        return response.json()["items"]


@pytest.fixture(scope="module")
def stack(running_slo, running_console, database_url, tmp_path_factory) -> Iterator[Stack]:
    config = tmp_path_factory.mktemp("slo") / "slos.yaml"
    config.write_text(SLO_FILE)
    with running_slo(identity_keys=IDENTITY_KEYS, slo_config_file=str(config), slo_evaluate_interval_s=0.2,
                     slo_capacity_interval_s=0.2, slo_min_events=10, slo_late_event_window_s=30 * 86400) as slo, \
            running_console(console_slo_url=slo.url) as console:
        add_people(database_url, PEOPLE)
        vera = Browser(console.url)
        assert vera.sign_in("vera", PEOPLE["vera"][1]).status_code == 303
        yield Stack(slo, slo.client("viewer"), vera)
        vera.close()


def metrics(service: str, at: datetime, *, requests: int, errors: int, **utilisation) -> dict:
    return MetricsEvent(event_id=MetricsEvent.id_for(source="test", service=service, interval_start=at), occurred_at=at,
                        source="test", service=service, interval_start=at, requests=requests, errors=errors,
                        utilisation=utilisation).model_dump(mode="json")


def push_metrics(stack: Stack) -> None:
    """Half an hour, 5 h ago (inside the 6 h and 1 d windows, outside the 2 h and shorter ones, so
    the burn rates hold still while the test reads them): catalog clean, search at 0.5 % errors on
    top of a clean day 10 days ago (burning, budget left), checkout at 2 % (budget spent)."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=5)
    minutes = [start + timedelta(minutes=m) for m in range(30)]
    events = [metrics("catalog", at, requests=1000, errors=0, cpu=0.42) for at in minutes]
    events += [metrics("search", at, requests=1000, errors=5) for at in minutes]
    events += [metrics("search", start - timedelta(days=10), requests=1_000_000, errors=0)]
    events += [metrics("checkout", at, requests=1000, errors=20) for at in minutes]
    pushed = stack.slo.client("responder").post("/api/v1/metrics", content=json.dumps(events))
    assert pushed.status_code == 202, pushed.text


def evaluated(stack: Stack) -> list[dict] | None:
    items = stack.api_slos()
    totals = {s["id"]: s["budget"]["total_events"] for s in items}
    wanted = {"catalog:error-rate": 30_000, "search:error-rate": 1_030_000, "checkout:error-rate": 30_000,
              "checkout:availability": 30_000}
    capacity = stack.api.get("/api/v1/capacity").json()["items"]
    return items if all(totals.get(k) == v for k, v in wanted.items()) and capacity else None


def rows_of(page: str) -> list[tuple[str, str, str]]:
    """(id, state, the row's HTML) of each SLO in the list, in order."""
    return re.findall(r'<tr class="slo-row[^"]*" data-testid="slo" data-slo="([^"]+)" data-state="([^"]+)">(.*?)</tr>', page, re.S)


def rules_of(fragment: str) -> set[tuple]:
    return {(t, w, float(lb), float(sb), float(th)) for t, w, lb, sb, th in re.findall(
        r'data-testid="burn-rate" data-tier="([^"]+)" data-long-window="([^"]+)" data-long-burn="([^"]+)" '
        r'data-short-burn="([^"]+)" data-threshold="([^"]+)"', fragment)}


def api_rules(slo: dict) -> set[tuple]:
    return {(r["tier"], r["long_window"], r["long_burn"], r["short_burn"], r["threshold"]) for r in slo["burn_rates"]}


def test_before_any_metrics_the_list_says_what_is_configured_and_how_to_send_metrics(stack):
    page = stack.vera.page("/slos")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'data-testid="no-slos"' in text and "No SLO has received metrics yet" in text
    configured = set(re.findall(r'data-testid="configured-slo" data-slo="([^"]+)"', text))
    assert configured == {"*:error-rate", "checkout:availability", "billing:availability"}
    assert f"curl -X POST {stack.slo.url}/api/v1/metrics" in text
    assert f">{stack.slo.settings.topic_prefix}vigil.metrics.v1<" in text
    capacity = stack.vera.page("/slos/capacity")
    assert capacity.status_code == 200 and 'data-testid="no-capacity"' in capacity.text


def test_after_metrics_the_list_shows_every_slo_worst_first_as_the_slo_api_reports_it(stack):
    push_metrics(stack)
    wait_for(lambda: evaluated(stack), timeout_s=20, what="the pushed metrics evaluated")
    page = stack.vera.page("/slos")
    api = {s["id"]: s for s in stack.api_slos()}
    assert page.status_code == 200
    rows = rows_of(html.unescape(page.text))
    assert [r[0] for r in rows] == [s["id"] for s in slo_view.worst_first(list(api.values()))]
    states = {slo_id: state for slo_id, state, _ in rows}
    assert states["checkout:error-rate"] == "exhausted" and states["search:error-rate"] == "burning"
    assert states["catalog:error-rate"] == "ok"
    for slo_id, state, row in rows:
        slo = api[slo_id]
        assert state == slo_view.state_of(slo)
        budget = re.search(r'data-remaining-minutes="([^"]+)" data-remaining-percent="([^"]+)"', row)
        assert (float(budget[1]), float(budget[2])) == (slo["budget"]["remaining_minutes"], slo["budget"]["remaining_percent"])
        assert slo_view.remaining_text(slo["budget"]["remaining_minutes"]) in row
        assert slo_view.percent_text(slo["budget"]["remaining_percent"]) in row
        assert slo["target"] in row and (slo["current"] or "no traffic yet") in row
        assert rules_of(row) == api_rules(slo) and len(api_rules(slo)) == 4
        assert set(re.findall(r'<li data-tier="([^"]+)">Firing', row)) == set(slo["firing"])
    assert "ticket" in api["search:error-rate"]["firing"]
    firing = re.search(r'data-testid="slo-alerts">(.*?)</section>', page.text, re.S)
    assert firing and 'data-slo="search:error-rate"' in firing[1]
    waiting = re.search(r'data-testid="slo-waiting">(.*?)</section>', page.text, re.S)
    assert waiting and 'data-slo="billing:availability"' in waiting[1]


def test_one_slo_shows_its_budgets_burn_rates_history_and_chart_as_the_api_reports_them(stack):
    page = stack.vera.page("/slos/search/error-rate")
    detail = stack.api.get("/api/v1/slos/search/error-rate").json()
    history = stack.api.get("/api/v1/slos/search/error-rate/history", params={"days": 31}).json()["days"]
    assert page.status_code == 200
    text = html.unescape(page.text)
    for budget in (detail["budget"], detail["calendar_month"]):
        shown = re.search(rf'data-testid="slo-budget-{budget["window"]}" data-total-minutes="([^"]+)" '
                          r'data-consumed-minutes="([^"]+)" data-remaining-minutes="([^"]+)"', text)
        assert tuple(map(float, shown.groups())) == (budget["total_minutes"], budget["consumed_minutes"],
                                                     budget["remaining_minutes"])
    assert f"data-state=\"{slo_view.state_of(detail)}\"" in text
    assert rules_of(text) == api_rules(detail)
    assert "Firing: Ticket: slow burn" in text
    days = re.findall(r'data-testid="history-day" data-day="([^"]+)" data-budget-remaining-percent="([^"]+)"', text)
    assert [(d, float(p)) for d, p in days] == [(d["day"], d["budget_remaining_percent"]) for d in reversed(history)
                                                if d["total_events"]]
    assert len(days) in (2, 3)  # the half hour 5 h ago (across midnight: 2 days) and the clean day 10 days ago
    image = re.search(r'<img src="([^"]+)" alt="([^"]+)"[^>]*data-testid="burn-down"', text)
    assert image[1] == "/slos/search/error-rate/burn-down.svg"
    assert image[2] == slo_view.burn_down_alt(detail, history, datetime.now(UTC)) and "search" in image[2]


def test_the_burn_down_chart_is_the_slo_services_svg_served_by_the_console(stack):
    chart = stack.vera.page("/slos/checkout/availability/burn-down.svg")
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in chart.headers["content-security-policy"]
    assert chart.content == stack.api.get("/api/v1/slos/checkout/availability/burn-down.svg").content
    assert chart.content.startswith(b"<svg") and b"<script" not in chart.content
    with httpx.Client(base_url=stack.vera.http.base_url) as anonymous:
        assert anonymous.get("/slos/checkout/availability/burn-down.svg").status_code == 303


def test_capacity_shows_each_resource_as_the_slo_api_forecasts_it(stack):
    page = stack.vera.page("/slos/capacity")
    api = stack.api.get("/api/v1/capacity").json()["items"]
    assert page.status_code == 200
    rows = re.findall(r'data-testid="capacity-row" data-resource="([^"]+)" data-current-percent="([^"]+)" '
                      r'data-scaling-needed-by="([^"]*)"', page.text)
    assert sorted((r, float(c), s or None) for r, c, s in rows) == \
        sorted((f"{c['service']}:{c['resource']}", c["current_percent"], c["scaling_needed_by"]) for c in api)
    assert ("catalog:cpu", 42.0) in {(r, round(float(c), 6)) for r, c, _ in rows}
    assert "no trend yet" in page.text and "not at this trend" in page.text  # half an hour of data


def test_an_unknown_slo_is_a_page_that_says_so(stack):
    for path in ("/slos/catalog/no-such-slo", "/slos/billing/availability"):
        page = stack.vera.page(path)
        assert page.status_code == 404
        assert "No such SLO" in page.text and 'data-testid="error-message"' in page.text
    assert stack.vera.page("/slos/catalog/no-such-slo/burn-down.svg").status_code == 404


def test_a_console_without_the_slo_service_says_how_to_connect_it(stack, running_console):
    with running_console() as console:
        browser = Browser(console.url)
        try:
            assert browser.sign_in("vera", PEOPLE["vera"][1]).status_code == 303
            page = browser.page("/slos")
            assert page.status_code == 200
            assert 'data-testid="slo-not-connected"' in page.text and "VIGIL_CONSOLE_SLO_URL" in page.text
            assert 'data-testid="capacity-summary"' not in page.text
        finally:
            browser.close()
