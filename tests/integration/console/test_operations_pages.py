"""The console's Operations pages against the real incident service: records made through the
incident API (a daily check, a weekly review, a resolved SEV2 with its postmortem and an overdue
action item, an outdated runbook, a handoff) are shown on each page; reports and postmortems are
rendered from their Markdown with their incident links opening in the console; a viewer reads but
gets no forms; an unknown report is a 404 page that says so."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.console.support import Browser, signed_in
from tests.services import IDENTITY_KEYS

pytestmark = pytest.mark.integration

PEOPLE = {"alice": ("responder", "alice-password-1"), "vera": ("viewer", "vera-password-1")}
PAGES = ("/operations", "/operations/reports", "/operations/postmortems", "/operations/action-items",
         "/operations/runbooks", "/operations/handoffs")


@dataclass
class Ops:
    console: object
    incidents: object
    api: httpx.Client  # the incident service as an admin service account
    alice: Browser
    vera: Browser
    critical: str  # an open SEV1: the daily check names it
    resolved: str  # a resolved SEV2: it has a postmortem and an overdue action item
    item_title: str
    runbook_id: int
    daily_period: str
    weekly_period: str


def created(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="module")
def ops(running_incidents, running_console, database_url) -> Iterator[Ops]:
    with running_incidents(identity_keys=IDENTITY_KEYS) as incidents, \
            running_console(console_incidents_url=incidents.url) as console, \
            signed_in(console.url, database_url, PEOPLE) as browsers:
        api = incidents.client("admin")
        tag = uuid.uuid4().hex[:6]
        critical = created(api.post("/api/v1/incidents", json={"title": f"checkout down {tag}", "severity": 1}))["number"]
        resolved = created(api.post("/api/v1/incidents", json={"title": f"slow search {tag}", "severity": 2}))["number"]
        created(api.post(f"/api/v1/incidents/{resolved}/resolve", json={"root_cause": "a full disk"}))
        created(api.patch(f"/api/v1/incidents/{resolved}/postmortem", json={
            "summary": f"Search was slow. The [incident record]({incidents.url}/api/v1/incidents/{resolved}) has the "
                       "details. <script>alert(1)</script> [click me](javascript:alert(1))"}))
        title = f"alert on disk {tag}"
        created(api.post("/api/v1/action-items", json={"title": title, "owner": "kim", "priority": "P1",
                                                       "due_on": "2020-01-06", "incident": resolved}))
        runbook = created(api.post("/api/v1/runbooks", json={
            "name": "DB failover", "owner": "kim", "link": "https://wiki.example.com/db-failover",
            "last_updated_on": "2020-01-01", "next_review_on": "2020-02-01"}))
        created(api.post("/api/v1/handoffs", json={"from_person": "ada", "to_person": "alice",
                                                   "note": f"Keep an eye on {critical}.", "things_to_watch": ["disk on db-2"]}))
        daily = created(api.post("/api/v1/reports/daily-check", json={}))
        weekly = created(api.post("/api/v1/reports/weekly-review", json={}))
        yield Ops(console, incidents, api, browsers["alice"], browsers["vera"], critical, resolved, title, runbook["id"],
                  daily["period"], weekly["period"])
        api.close()


def shown(browser: Browser, path: str) -> str:
    response = browser.page(path)
    assert response.status_code == 200, response.text
    return response.text


def hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


def test_the_index_summarises_every_record(ops):
    page = shown(ops.vera, "/operations")
    assert f'href="/operations/reports/daily-check/{ops.daily_period}"' in page
    assert f'href="/operations/reports/weekly-review/{ops.weekly_period}"' in page
    assert 'data-testid="check-failed"' in page and "No critical alerts" in page  # the open SEV1 fails a check
    assert 'data-testid="no-monthly-review"' in page and "POST /api/v1/reports/monthly-review" in page
    assert re.search(r'data-testid="overdue-count">1<', page)
    assert re.search(r'data-testid="unpublished-count">1<', page)
    assert f'href="/operations/postmortems/{ops.resolved}"' in page
    assert re.search(r'data-testid="pending-handoffs-count">1<', page)
    assert re.search(r'data-testid="due-runbooks-count">1<', page)
    assert f'href="/operations/runbooks/{ops.runbook_id}"' in page
    assert 'rel="stylesheet" href="/static/operations.css"' in page


def test_the_daily_check_is_rendered_and_its_incident_link_opens_in_the_console(ops):
    page = shown(ops.vera, f"/operations/reports/daily-check/{ops.daily_period}")
    assert "Daily Operations Check" in page and '<div class="md-table" tabindex="0">' in page
    assert "☐ Review overnight alerts" in page
    link = f'href="/incidents/{ops.critical}"'
    assert link in page  # "INC-n (SEV1) is investigating" in the anomalies
    assert f'href="/operations/runbooks/{ops.runbook_id}"' in page  # "runbook DB failover outdated"
    incident = shown(ops.vera, f"/incidents/{ops.critical}")
    assert ops.critical in incident and "checkout down" in incident


def test_the_weekly_review_lists_the_weeks_incidents_as_console_links(ops):
    page = shown(ops.alice, f"/operations/reports/weekly-review/{ops.weekly_period}")
    assert "Weekly Ops Review" in page
    assert f'<a href="/incidents/{ops.resolved}">{ops.resolved}</a>' in page
    assert "/api/v1/" not in "".join(hrefs(page))


def test_the_reports_list_shows_both_reports(ops):
    page = shown(ops.vera, "/operations/reports")
    assert f'data-kind="daily_check" data-period="{ops.daily_period}"' in page
    assert f'data-kind="weekly_review" data-period="{ops.weekly_period}"' in page
    assert 'data-testid="no-reports"' not in page
    weekly_only = ops.vera.page("/operations/reports/weekly_review")
    assert weekly_only.status_code == 303 and weekly_only.headers["location"] == "/operations/reports?kind=weekly-review"
    page = shown(ops.vera, weekly_only.headers["location"])
    assert 'data-kind="weekly_review"' in page and 'data-kind="daily_check"' not in page


def test_the_postmortem_is_listed_and_rendered_safely(ops):
    listing = shown(ops.vera, "/operations/postmortems")
    assert f'data-incident="{ops.resolved}" data-status="draft"' in listing
    page = shown(ops.vera, f"/operations/postmortems/{ops.resolved}")
    assert f'<h2>Postmortem: <a href="/incidents/{ops.resolved}">{ops.resolved}</a></h2>' in page
    assert f'<a href="/incidents/{ops.resolved}">incident record</a>' in page  # the API link, opened in the console
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "javascript:" not in "".join(hrefs(page)) and "click me" in page
    assert ops.item_title in page


def test_overdue_action_items_come_first_with_their_incident(ops):
    created(ops.api.post("/api/v1/action-items", json={"title": "later work", "owner": "bo", "priority": "P3"}))
    page = shown(ops.vera, "/operations/action-items")
    overdue = page.index('data-testid="overdue-items"')
    later = page.index('data-testid="open-items"')
    assert overdue < page.index(ops.item_title) < later < page.index("later work")
    assert f'href="/incidents/{ops.resolved}"' in page


def test_runbooks_are_listed_and_one_is_shown(ops):
    listing = shown(ops.vera, "/operations/runbooks")
    assert f'data-id="{ops.runbook_id}" data-outdated="true"' in listing and "due for review" in listing
    page = shown(ops.vera, f"/operations/runbooks/{ops.runbook_id}")
    assert 'data-testid="runbook-name">DB failover<' in page and "review was due 2020-02-01" in page
    assert 'href="https://wiki.example.com/db-failover"' in page
    missing = ops.vera.page("/operations/runbooks/999999")
    assert missing.status_code == 404 and "There is no runbook" in missing.text


def test_a_viewer_reads_every_page_without_forms(ops):
    for path in (*PAGES, f"/operations/reports/daily-check/{ops.daily_period}", f"/operations/postmortems/{ops.resolved}"):
        page = shown(ops.vera, path)
        assert 'action="/operations' not in page, path
    forged = ops.vera.submit("/operations", "/operations/reports/daily-check", csrf=None)
    assert forged.status_code == 403


def test_a_responder_produces_a_report_and_acknowledges_a_handoff_made_to_them(ops):
    assert 'data-testid="produce-monthly-review"' in shown(ops.alice, "/operations")
    made = ops.alice.submit("/operations", "/operations/reports/monthly-review")
    assert made.status_code == 303 and made.headers["location"].startswith("/operations/reports/monthly-review/")
    assert "Monthly Ops Review" in shown(ops.alice, made.headers["location"])
    handoffs = shown(ops.alice, "/operations/handoffs")
    assert 'data-acknowledged="false"' in handoffs and f'href="/incidents/{ops.critical}"' in handoffs
    handoff_id = re.search(r'action="/operations/handoffs/(\d+)/acknowledge"', handoffs).group(1)
    done = ops.alice.submit("/operations/handoffs", f"/operations/handoffs/{handoff_id}/acknowledge")
    assert done.status_code == 303
    assert 'data-acknowledged="true"' in shown(ops.vera, "/operations/handoffs")


def test_a_responder_closes_an_action_item_from_the_list(ops):
    item = created(ops.api.post("/api/v1/action-items", json={"title": "rotate the keys", "owner": "kim", "priority": "P2"}))
    assert f'action="/operations/action-items/{item["id"]}/status"' in shown(ops.alice, "/operations/action-items")
    done = ops.alice.submit("/operations/action-items", f"/operations/action-items/{item['id']}/status", {"status": "done"})
    assert done.status_code == 303 and done.headers["location"] == "/operations/action-items?done=item"
    page = shown(ops.alice, done.headers["location"])
    assert "Action item updated." in page and "rotate the keys" not in page
    assert created(ops.api.get("/api/v1/action-items", params={"status": "done"}))[0]["title"] == "rotate the keys"


def test_an_unknown_report_is_a_404_page_that_says_so(ops):
    missing = ops.vera.page("/operations/reports/daily-check/1999-01-01")
    assert missing.status_code == 404 and "There is no daily check for 1999-01-01" in missing.text
    unknown_kind = ops.vera.page("/operations/reports/quarterly/2026-Q1")
    assert unknown_kind.status_code == 404 and "no kind of report called" in unknown_kind.text
    no_postmortem = ops.vera.page(f"/operations/postmortems/{ops.critical}")
    assert no_postmortem.status_code == 404 and f"{ops.critical} has no postmortem" in no_postmortem.text

