"""The console's Silences pages against the real incident service (and the real broker and
PostgreSQL): a silence created through the form is the signed-in person's in the API and listed as
active; an alert it holds is shown held (nobody paged), and the expire button — after a warning
that counts it — opens its incident, which the page then links to; a bad regex comes back with the
API's message beside the form, kept as typed; a viewer gets no forms and a forged POST is refused."""

from __future__ import annotations

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
from tests.integration.console.support import Browser, csrf_of, run_async, signed_in
from tests.services import IDENTITY_KEYS
from tests.support import wait_for

pytestmark = pytest.mark.integration

PEOPLE = {"alice": ("responder", "alice-password-1"), "vera": ("viewer", "vera-password-1")}


@dataclass
class Stack:
    api: httpx.Client  # the incident service as an admin service account
    alice: Browser
    vera: Browser
    bootstrap: str
    alerts_topic: str

    def silence(self, silence_id: int | str) -> dict:
        response = self.api.get(f"/api/v1/silences/{silence_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def fire(self, run: str, name: str) -> None:
        now = datetime.now(UTC)
        event = AlertEvent(
            event_id=AlertEvent.id_for(source="alertmanager", fingerprint=run + name, status="firing", starts_at=now,
                                       ends_at=None),
            occurred_at=now, source="alertmanager", fingerprint=run + name, status="firing", starts_at=now, ends_at=None,
            group_key=f"{run}:{name}", labels={"alertname": name, "severity": "critical", "service": f"checkout-{run}"})

        async def send():
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
            await producer.start()
            try:
                key, value, headers = encode(event, ce_source="/test")
                await producer.send_and_wait(self.alerts_topic, value, key=key, headers=headers)
            finally:
                await producer.stop()

        run_async(send())


@pytest.fixture(scope="module")
def stack(running_incidents, running_console, database_url, kafka_broker, topic_prefix) -> Iterator[Stack]:
    with running_incidents(identity_keys=IDENTITY_KEYS) as incidents, \
            running_console(console_incidents_url=incidents.url) as console:
        api = incidents.client("admin")
        with signed_in(console.url, database_url, PEOPLE) as browsers:
            yield Stack(api, browsers["alice"], browsers["vera"], kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
        api.close()


def page_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return html.unescape(re.sub(r"\s+", " ", response.text))


def create(browser: Browser, fields: dict, *, prefill: str = "/silences/new") -> httpx.Response:
    return browser.submit(prefill, "/silences", {"key": uuid.uuid4().hex, "end": "2h", **fields})


def test_a_silence_created_through_the_form_is_the_signed_in_persons_and_listed_as_active(stack):
    run = uuid.uuid4().hex[:8]
    form = stack.alice.page(f"/silences/new?label=service=checkout-{run}&label=env=prod")
    shown = page_text(form)
    assert f'value="checkout-{run}"' in shown and 'value="prod"' in shown  # the "Silence…" link's rows
    fields = {"key": uuid.uuid4().hex, "name_0": "service", "op_0": "=", "value_0": f"checkout-{run}", "name_1": "",
              "op_1": "=", "value_1": "", "matchers_text": 'env=~"prod.*"', "comment": f"deploy {run}"}
    created = create(stack.alice, fields)
    assert created.status_code == 303, created.text
    silence_id = created.headers["location"].split("/")[2].split("?")[0]
    again = create(stack.alice, fields)  # submitted twice (the same form's key): one silence
    assert again.status_code == 303 and again.headers["location"] == created.headers["location"]
    made = stack.silence(silence_id)
    assert made["created_by"] == "alice"
    assert made["matchers_text"] == f'service="checkout-{run}", env=~"prod.*"'
    assert made["state"] == "active" and made["comment"] == f"deploy {run}"
    detail = page_text(stack.alice.page(created.headers["location"]))
    assert "Silence created" in detail and ("ends in 2 h" in detail or "ends in 1 h 59 min" in detail)
    listed = page_text(stack.alice.page("/silences?state=active"))
    assert f'data-id="{silence_id}"' in listed and f"deploy {run}" in listed
    assert f'data-id="{silence_id}"' not in page_text(stack.alice.page("/silences?state=expired"))


def test_a_bad_regex_comes_back_beside_the_form_with_the_apis_message_and_the_form_as_typed(stack):
    before = len(stack.api.get("/api/v1/silences").json())
    refused = create(stack.alice, {"name_0": "service", "op_0": "=~", "value_0": "(checkout", "comment": "typo here"})
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "not a valid regular expression" in text and 'data-testid="error-matchers"' in text
    assert 'value="(checkout"' in text and "typo here" in text and '<option value="=~" selected>' in text
    assert len(stack.api.get("/api/v1/silences").json()) == before


def test_expiring_warns_of_the_held_alert_and_opens_its_incident(stack):
    run = uuid.uuid4().hex[:8]
    created = create(stack.alice, {"name_0": "service", "op_0": "=", "value_0": f"checkout-{run}", "comment": "db work"})
    assert created.status_code == 303, created.text
    path = created.headers["location"].split("?")[0]
    stack.fire(run, "DiskFull")
    wait_for(lambda: 'data-testid="held-badge"' in stack.alice.page(path).text, timeout_s=15,
             what="the alert held by the silence")
    detail = page_text(stack.alice.page(path))
    assert "1 alert it holds is still firing" in detail and "held — nobody paged" in detail and "DiskFull" in detail
    expired = stack.alice.submit(path, f"{path}/expire")
    assert expired.status_code == 303, expired.text
    after = page_text(stack.alice.page(expired.headers["location"]))
    assert "Silence expired" in after and 'data-testid="expire-form"' not in after
    incident = re.search(r'href="/incidents/(INC-\d+)" data-testid="alert-incident"', after)
    assert incident, after
    assert stack.silence(path.rsplit("/", 1)[1])["expired_by"] == "alice"
    listed = page_text(stack.alice.page("/silences?state=expired"))
    assert f'data-id="{path.rsplit("/", 1)[1]}"' in listed and "by alice" in listed


def test_a_viewer_sees_no_forms_and_a_forged_post_is_refused(stack):
    run = uuid.uuid4().hex[:8]
    created = create(stack.alice, {"name_0": "service", "op_0": "=", "value_0": f"checkout-{run}", "comment": "viewer"})
    path = created.headers["location"].split("?")[0]
    listed = page_text(stack.vera.page("/silences"))
    assert "New silence" not in listed and "<form" not in listed.split("</header>")[1]
    detail = page_text(stack.vera.page(path))
    assert "<form" not in detail.split("</header>")[1] and "Expire" not in detail
    assert stack.vera.page("/silences/new").status_code == 403
    token = csrf_of(stack.vera.page(path).text)  # the sign-out form's: a real token of vera's session
    forged = stack.vera.http.post(f"{path}/expire", data={"csrf_token": token})
    assert forged.status_code == 403 and "responder" in forged.text
    forged = stack.vera.http.post("/silences", data={"csrf_token": token, "name_0": "service", "value_0": "x",
                                                     "end": "1h", "comment": "forged"})
    assert forged.status_code == 403
    assert stack.silence(path.rsplit("/", 1)[1])["state"] == "active"


def test_empty_states_and_unknown_pages_say_so(stack):
    pending = page_text(stack.vera.page("/silences?state=pending"))
    assert 'data-testid="no-silences"' in pending and "No silence is waiting to start" in pending
    assert stack.vera.page("/silences?state=later").status_code == 404
    assert stack.vera.page("/silences/999999999").status_code == 404
    assert stack.vera.page("/silences/abc").status_code == 404
