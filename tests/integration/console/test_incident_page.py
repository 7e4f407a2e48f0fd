"""The console's incident list and page against the real incident service and escalator (real broker
and PostgreSQL): the list's service/label filter (kept by the live refresh), an alert's runbook
opening in the console and its other links marked external, the escalation (what is pending, when,
who was paged) and the pages in the timeline, the postmortem link, honest text without an
escalator, and a viewer's page without a single action."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.events import AlertEvent, Topic, encode
from tests.escalator_support import run_escalator
from tests.integration.console.support import Browser, signed_in
from tests.services import IDENTITY_KEYS
from tests.support import wait_for

pytestmark = pytest.mark.integration

PEOPLE = {"alice": ("responder", "alice-password-1"), "vera": ("viewer", "vera-password-1"),
          "ada": ("admin", "ada-password-01")}
CONFIG = """
schedules:
  - name: ops
    primary: {participants: [alice, bob], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
    backup: {participants: [carol, dave], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
people:
  alice: {contact: "alice@example.com"}
"""


@dataclass
class Stack:
    console: object
    incidents: httpx.Client  # the incident service as an admin service account
    escalator: httpx.Client
    browsers: dict[str, Browser]
    bootstrap: str
    prefix: str

    def declare(self, labels: dict | None = None, severity: int = 2, title: str | None = None) -> str:
        response = self.incidents.post("/api/v1/incidents", json={
            "title": title or f"console {uuid.uuid4().hex[:8]}", "severity": severity, "labels": labels or {}})
        assert response.status_code == 201, response.text
        return response.json()["number"]

    def fire(self, labels: dict, annotations: dict, generator_url: str | None = None) -> str:
        """A firing alert on the module's alerts topic; the number of the incident it opened."""
        starts = datetime.now(UTC).replace(microsecond=0)
        fingerprint = uuid.uuid4().hex[:16]
        event = AlertEvent(event_id=AlertEvent.id_for(source="test", fingerprint=fingerprint, status="firing",
                                                      starts_at=starts, ends_at=None),
                           occurred_at=starts, source="test", fingerprint=fingerprint, status="firing", labels=labels,
                           annotations=annotations, starts_at=starts, generator_url=generator_url)

        async def send():
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
            await producer.start()
            try:
                key, value, headers = encode(event, ce_source="/test")
                await producer.send_and_wait(self.prefix + Topic.ALERTS, value, key=key, headers=headers)
            finally:
                await producer.stop()

        asyncio.run(send())
        selector = [("label", f"service={labels['service']}"), ("status", "investigating")]
        found = wait_for(lambda: self.incidents.get("/api/v1/incidents", params=selector).json()["items"], timeout_s=30,
                         what="the incident the alert opened")
        return found[0]["number"]


@pytest.fixture(scope="module")
def stack(running_incidents, running_escalator, running_console, database_url, kafka_broker, topic_prefix,
          tmp_path_factory) -> Iterator[Stack]:
    with running_incidents(identity_keys=IDENTITY_KEYS) as incidents, \
            run_escalator(running_escalator, tmp_path_factory.mktemp("escalator"), clock=lambda: datetime.now(UTC),
                          config=CONFIG, identity_keys=IDENTITY_KEYS) as escalator, \
            running_console(console_incidents_url=incidents.url, console_escalator_url=escalator.url) as console:
        with signed_in(console.url, database_url, PEOPLE) as browsers:
            yield Stack(console, incidents.client("admin"), escalator.client("admin"), browsers,
                        kafka_broker.bootstrap_servers, topic_prefix)


def numbers(page: str) -> list[str]:
    return re.findall(r'data-testid="incident-row" data-number="(INC-\d+)"', page)


def test_the_list_filters_by_service_and_labels_and_the_live_refresh_keeps_the_filters(stack):
    run = uuid.uuid4().hex[:6]
    checkout = stack.declare({"service": f"checkout-{run}", "team": f"payments-{run}"})
    search = stack.declare({"service": f"search-{run}", "team": f"payments-{run}"})
    alice = stack.browsers["alice"]

    by_service = alice.page(f"/incidents?label=checkout-{run}")  # a service's name alone
    assert by_service.status_code == 200 and numbers(by_service.text) == [checkout]
    both = alice.http.get("/incidents", params={"label": f"team=payments-{run}"})
    assert numbers(both.text) == [search, checkout]
    anded = alice.http.get("/incidents", params={"label": f"team=payments-{run} service=search-{run}"})
    assert numbers(anded.text) == [search]
    # The field shows the filter again, and the live refresh asks for the same rows.
    assert f'value="team=payments-{run} service=search-{run}"' in anded.text
    refresh = html.unescape(re.search(r'hx-get="(/incidents/rows\?[^"]+)"', anded.text).group(1))
    assert f"label=team%3Dpayments-{run}" in refresh and f"label=service%3Dsearch-{run}" in refresh
    assert numbers(alice.page(refresh).text) == [search]
    # The acknowledge form sends the browser back to the filtered list.
    assert f'name="next" value="/incidents?status=open&amp;label=team%3Dpayments-{run}' in anded.text


def test_a_label_filter_that_is_not_name_equals_value_is_said_not_sent(stack):
    page = stack.browsers["alice"].http.get("/incidents", params={"label": "team="})
    assert page.status_code == 200
    assert 'data-testid="list-error"' in page.text and "Not a label filter: team=" in page.text


def test_the_incident_page_shows_runbook_links_the_escalation_and_the_pages_in_the_timeline(stack):
    run = uuid.uuid4().hex[:6]
    runbook = stack.incidents.post("/api/v1/runbooks", json={"name": f"disk-full-{run}", "link": "https://wiki.example/x"})
    assert runbook.status_code == 201, runbook.text
    number = stack.fire({"alertname": "DiskFull", "service": f"db-{run}", "severity": "critical"},
                        {"summary": "disk full on db-1", "runbook": f"disk-full-{run}",
                         "dashboard": "https://grafana.example/d/disk"}, generator_url="http://prometheus:9090/graph?g0=x")
    # The escalator plans the escalation as the incident opens and pages the primary at once.
    wait_for(lambda: stack.escalator.get(f"/api/v1/incidents/{number}/escalation").json().get("pages"), timeout_s=30,
             what="the primary paged")
    page = wait_for(lambda: (p := stack.browsers["alice"].page(f"/incidents/{number}")).text.count('data-kind="page"')
                    and p, timeout_s=30, what="the page in the incident's timeline").text

    alert = re.search(r'data-testid="alerts">.*?</section>', page, re.S).group(0)
    assert f'href="/operations/runbooks/{runbook.json()["id"]}" data-testid="alert-link" data-internal="true"' in alert
    assert re.search(r'href="https://grafana.example/d/disk" class="external"[^>]*target="_blank"', alert)
    assert 'href="http://prometheus:9090/graph?g0=x" class="external"' in alert and "Source graph" in alert
    assert "<code>severity=critical</code>" in alert

    escalation = re.search(r'data-testid="escalation".*?</section>', page, re.S).group(0)
    assert '<strong data-testid="escalation-schedule">ops</strong>' in escalation
    pending = re.findall(r'data-testid="pending-step"><strong>(.*?)</strong> (.*?) <span', escalation)
    assert pending and pending[0][0] == "page the backup" and re.fullmatch(r"in [45] min", pending[0][1]), pending
    assert re.search(r"paged <strong>\w+</strong> \(primary,", escalation)
    # Acknowledging stops the escalation: nothing pending after it but the acknowledgement's check.
    assert stack.browsers["alice"].submit(f"/incidents/{number}", f"/incidents/{number}/acknowledge",
                                          {"request_id": run}).status_code == 303
    wait_for(lambda: stack.escalator.get(f"/api/v1/incidents/{number}/escalation").json()["acknowledged_at"], timeout_s=30,
             what="the escalator told of the acknowledgement")
    after = stack.browsers["alice"].page(f"/incidents/{number}").text
    assert "page the backup" not in after and "page the primary again if the acknowledgement lapses" in after


def test_an_unknown_runbook_is_named_not_linked(stack):
    run = uuid.uuid4().hex[:6]
    number = stack.fire({"alertname": "Slow", "service": f"api-{run}", "severity": "warning"},
                        {"runbook_url": "javascript:alert(1)", "runbook": f"nothing-{run}"})
    page = stack.browsers["vera"].page(f"/incidents/{number}").text
    assert "javascript:" not in page
    assert f"Runbook nothing-{run} (not among Vigil&#39;s runbooks)" in page


def test_the_postmortem_link_when_the_incident_has_or_needs_one(stack):
    alice = stack.browsers["alice"]
    open_sev1 = stack.declare(severity=1)
    assert f'href="/operations/postmortems/{open_sev1}">SEV1 gets a postmortem when it resolves' in alice.page(
        f"/incidents/{open_sev1}").text
    resolved = stack.declare(severity=1)
    assert alice.submit(f"/incidents/{resolved}", f"/incidents/{resolved}/resolve",
                        {"root_cause": "a full disk", "request_id": "pm"}).status_code == 303
    assert f'href="/operations/postmortems/{resolved}">Postmortem (draft)' in alice.page(f"/incidents/{resolved}").text
    low = stack.declare(severity=4)
    stack.incidents.post(f"/api/v1/incidents/{low}/resolve", json={})
    assert 'data-testid="postmortem-link"' not in alice.page(f"/incidents/{low}").text


def test_a_console_without_an_escalator_says_so_on_the_incident_page(stack, running_console):
    number = stack.declare()
    with running_console(console_incidents_url=str(stack.incidents.base_url).rstrip("/")) as alone:
        browser = Browser(alone.url)
        try:
            assert browser.sign_in("vera", PEOPLE["vera"][1]).status_code == 303
            page = browser.page(f"/incidents/{number}")
            assert page.status_code == 200 and f'data-number="{number}"' in page.text
            note = re.search(r'data-testid="escalation-note">(.*?)</p>', page.text).group(1)
            assert note == "The console is not connected to the escalator (VIGIL_CONSOLE_ESCALATOR_URL is not set)."
        finally:
            browser.close()


def test_a_viewer_sees_the_incident_without_a_single_action(stack):
    number = stack.declare({"service": "viewer-check"}, severity=1)
    page = stack.browsers["vera"].page(f"/incidents/{number}")
    assert page.status_code == 200 and 'data-testid="incident"' in page.text
    assert 'data-testid="actions"' not in page.text and 'method="post" action="/incidents' not in page.text
    for testid in ("acknowledge", "add-note", "set-status", "resolve", "set-severity", "set-commander", "reopen"):
        assert f'data-testid="{testid}"' not in page.text
    admin = stack.browsers["ada"].page(f"/incidents/{number}").text
    for testid in ("acknowledge", "add-note", "set-status", "resolve", "set-severity", "set-commander"):
        assert f'data-testid="{testid}"' in admin
    # The admin's severity choice carries the SEV definitions (operations process 2.2) as help text.
    assert 'data-testid="severity-help"' in admin and 'data-testid="severity-help"' not in page.text
    assert "SEV1 — Complete outage, all users affected</option>" in admin
    assert "(e.g. non-critical bug) — respond within the next business day; ticket" in html.unescape(admin)
