"""Me against the real escalator and notifier (real broker, PostgreSQL and SMTP server): my contact
methods and notification rules as the escalator's configuration has them, in words and without the
secrets of their URLs; a test message through the notifier; honest text for a person the escalator
does not know; and the escalator's `GET /api/v1/people/{person}`, for that person or an admin only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.identity import mint
from tests.escalator_support import run_escalator
from tests.integration.console.support import Browser, add_people
from tests.peers import smtp_server
from tests.services import IDENTITY_KEYS
from tests.support import wait_for

pytestmark = pytest.mark.integration

PEOPLE = {"alice": ("responder", "alice-password-1"), "vera": ("viewer", "vera-password-1"),
          "ada": ("admin", "ada-password-01")}
CONFIG = """
schedules:
  - name: ops
    primary: {participants: [alice, bob], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
    backup: {participants: [carol, ada], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
people:
  alice:
    contact: alice@example.com
    contact_methods:
      - {id: hook, kind: webhook, address: "https://hooks.example.net/vigil/s3cr3t-path", label: Pager app}
    page_rules: [{after: 0s, method: email}, {after: 5m, method: hook}]
  ada: {contact_methods: []}
"""


@dataclass
class Stack:
    escalator: object
    browsers: dict[str, Browser]
    mail: object


@pytest.fixture(scope="module")
def stack(running_escalator, running_notifier, running_console, database_url, tmp_path_factory) -> Iterator[Stack]:
    with smtp_server() as mail, \
            run_escalator(running_escalator, tmp_path_factory.mktemp("escalator"), clock=lambda: datetime.now(UTC),
                          config=CONFIG, identity_keys=IDENTITY_KEYS) as escalator, \
            running_notifier(identity_keys=IDENTITY_KEYS, notifier_smtp_host="127.0.0.1", notifier_smtp_port=mail.smtp_port,
                             notifier_smtp_security="none", notifier_max_idle_s=0.2) as notifier, \
            running_console(console_escalator_url=escalator.url, console_notifier_url=notifier.url) as console:
        add_people(database_url, PEOPLE)
        browsers = {name: Browser(console.url) for name in PEOPLE}
        for name, (_role, password) in PEOPLE.items():
            assert browsers[name].sign_in(name, password, next_path="/me").status_code == 303
        yield Stack(escalator, browsers, mail)
        for browser in browsers.values():
            browser.close()


def section(page: str) -> str:
    return re.search(r'data-testid="contact">.*?</section>', page, re.S).group(0)


def test_me_shows_my_contact_methods_and_rules_in_words_without_url_secrets(stack):
    contact = section(stack.browsers["alice"].page("/me").text)
    methods = re.findall(r'data-method="(\w+)">\s*<span class="method-name">(.*?)</span> <code class="method-address">(.*?)</code>',
                         contact)
    assert methods == [("email", "E-mail", "alice@example.com"), ("hook", "Pager app", "hooks.example.net")]
    assert "s3cr3t" not in contact
    assert '<dd data-testid="page-rule">E-mail at once, then Pager app after 5 min</dd>' in contact
    assert '<dd data-testid="notify-rule">E-mail at once (the first method)</dd>' in contact
    assert '<strong data-testid="my-schedules">ops/primary</strong>' in contact
    assert contact.count('data-testid="test-contact-method"') == 2


def test_a_person_without_contact_methods_and_one_the_escalator_does_not_know_are_told_what_to_do(stack):
    ada = section(stack.browsers["ada"].page("/me").text)
    assert 'data-testid="no-contact-methods"' in ada and "pages to you reach nobody" in ada
    assert '<dd data-testid="page-rule">nothing: you have no contact method</dd>' in ada
    vera = section(stack.browsers["vera"].page("/me").text)
    assert re.search(r'data-testid="contact-note">You \(vera\) are not in the on-call configuration: ask an admin to add you',
                     vera)
    assert 'data-testid="test-contact-method"' not in vera


def test_a_test_message_reaches_my_email_and_the_page_says_so(stack):
    alice = stack.browsers["alice"]
    # The notifier learns alice's methods from the escalator over Kafka; until then it does not know her.
    answer = wait_for(lambda: (r := alice.submit("/me", "/me/contact-methods/email/test")).status_code == 200 and r,
                      timeout_s=30, what="the notifier to know alice's methods")
    result = re.search(r'data-testid="test-result">(.*?)</p>', answer.text).group(1)
    assert result.startswith("Test message sent to email: 250"), result
    mails = stack.mail.store.wait_for(lambda ms: any(m.to == "alice@example.com" for m in ms), timeout_s=15)
    assert [m.subject for m in mails if m.to == "alice@example.com"] == ["Vigil test message to email"]


def test_a_viewer_cannot_send_a_test_message_even_with_a_forged_form(stack):
    vera = stack.browsers["vera"]
    forged = vera.submit("/me", "/me/contact-methods/email/test")
    assert forged.status_code == 403 and "needs the responder role" in forged.text


def assertion(person: str, role: str) -> dict:
    token = mint(IDENTITY_KEYS[0].encode(), kind="session", person=person, role=role,
                 expires_at=datetime.now(UTC) + timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


def test_the_escalator_shows_a_person_to_themselves_or_an_admin_only(stack):
    url = f"{stack.escalator.url}/api/v1/people/alice"
    own = httpx.get(url, headers=assertion("alice", "responder"))
    assert own.status_code == 200, own.text
    assert own.json() == {
        "person": "alice", "contact": "alice@example.com",
        "contact_methods": [{"id": "email", "kind": "email", "address": "alice@example.com", "label": None},
                            {"id": "hook", "kind": "webhook", "address": "https://hooks.example.net/vigil/s3cr3t-path",
                             "label": "Pager app"}],
        "page_rules": [{"after_s": 0, "method": "email"}, {"after_s": 300, "method": "hook"}],
        "notify_rules": [], "schedules": ["ops/primary"]}
    assert httpx.get(url, headers=assertion("ada", "admin")).status_code == 200
    assert stack.escalator.client("admin").get("/api/v1/people/alice").status_code == 200  # an admin service account
    refused = httpx.get(url, headers=assertion("bob", "responder"))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert stack.escalator.client("viewer").get("/api/v1/people/alice").status_code == 403
    assert stack.escalator.client(None).get("/api/v1/people/alice").status_code == 401
    missing = httpx.get(f"{stack.escalator.url}/api/v1/people/zed", headers=assertion("zed", "responder"))
    assert missing.status_code == 404 and "not in the on-call configuration" in missing.json()["message"]
