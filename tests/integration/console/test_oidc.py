"""Signing in to the console with OpenID Connect against a real provider (npm oidc-provider, run by
node on this machine; tests/oidc): the whole authorization code flow with PKCE driven as a browser
does — the console's button, the provider's login and consent, the callback — and its refusals: a
tampered state, a callback used twice, someone the console does not know (new people are not
created by default), a disabled person, declining at the provider, a provider that is down, and
too many failures from one address. A group rule creates someone as a responder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.conftest import create_database
from tests.integration.console.support import add_people, run_async, sql
from tests.oidc.local import (
    CLIENT_ID,
    CLIENT_SECRET,
    ProviderBrowser,
    local_provider,
    reserve_issuer,
)

pytestmark = pytest.mark.integration

PEOPLE = {"alice": ("responder", "alice-password-1"), "dora": ("viewer", "dora-password-1")}


@dataclass
class Stack:
    console: object
    issuer: str
    database_url: str

    def browser(self) -> ProviderBrowser:
        return ProviderBrowser(self.console.url, self.issuer)


def fetch(database_url: str, query: str, *args) -> list[dict]:
    import asyncpg

    async def run():
        conn = await asyncpg.connect(database_url)
        try:
            return [dict(row) for row in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return run_async(run())


@pytest.fixture(scope="module")
def stack(running_console, database_url) -> Iterator[Stack]:
    issuer = reserve_issuer()
    with running_console(console_oidc_issuer=issuer, console_oidc_client_id=CLIENT_ID,
                         console_oidc_client_secret=CLIENT_SECRET, console_oidc_roles=["vigil-oncall:responder"],
                         console_oidc_provider_name="Example SSO", console_login_max_failures=100) as console, \
            local_provider(issuer, redirect_uri=console.url + "/signin/oidc/callback"):
        add_people(database_url, PEOPLE)
        sql(database_url, "UPDATE console.person SET disabled = true WHERE name = 'dora'")
        yield Stack(console, issuer, database_url)


@pytest.fixture
def browser(stack) -> Iterator[ProviderBrowser]:
    browser = stack.browser()
    yield browser
    browser.close()


def test_the_sign_in_page_offers_the_provider(stack, browser):
    page = browser.console("/signin", next="/me")
    assert page.status_code == 200
    assert 'data-testid="sign-in-oidc"' in page.text and "Sign in with Example SSO" in page.text
    assert 'href="/signin/oidc?next=/me"' in page.text


def test_signing_in_at_the_provider_signs_the_person_in_on_the_page_they_asked_for(stack, browser):
    started = browser.console("/signin/oidc", next="/me")
    query = dict(parse_qsl(urlsplit(started.headers["location"]).query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["client_id"] == CLIENT_ID and query["state"] and query["nonce"] and "openid" in query["scope"].split()
    cookie = next(c for c in started.headers.get_list("set-cookie") if c.startswith("vigil_oidc="))
    assert "HttpOnly" in cookie and "Path=/signin/oidc" in cookie and "SameSite=lax" in cookie

    back = browser.sign_in("alice", next_path="/me")
    assert back.status_code == 303 and back.headers["location"] == "/me", back.text[:500]
    session = next(c for c in back.headers.get_list("set-cookie") if c.startswith("vigil_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session
    page = browser.console("/incidents")
    assert page.status_code == 200 and 'data-testid="signed-in-as"' in page.text and "Alice" in page.text
    links = fetch(stack.database_url, "SELECT issuer, subject, person FROM console.oidc_identity WHERE person = 'alice'")
    assert links == [{"issuer": stack.issuer, "subject": "alice", "person": "alice"}]
    # The session is the same as a password's: the person's role, signing out works.
    assert "responder" in page.text


def test_a_second_sign_in_finds_the_person_by_the_link_and_keeps_their_role(stack, browser):
    browser.sign_in("alice")
    again = stack.browser()
    try:
        back = again.sign_in("alice")
        assert back.status_code == 303 and back.headers["location"] == "/incidents"
        assert "responder" in again.console("/incidents").text
    finally:
        again.close()
    assert len(fetch(stack.database_url, "SELECT 1 FROM console.oidc_identity WHERE person = 'alice'")) == 1


def test_a_person_in_the_oncall_group_is_created_as_a_responder(stack, browser):
    back = browser.sign_in("omar")
    assert back.status_code == 303, back.text[:500]
    person = fetch(stack.database_url, "SELECT name, display_name, role, password_hash FROM console.person "
                   "WHERE name = 'omar'")
    assert person == [{"name": "omar", "display_name": "Omar On-call", "role": "responder", "password_hash": None}]
    assert "Omar On-call" in browser.console("/incidents").text


def test_someone_the_console_does_not_know_is_refused_when_new_people_are_not_created(stack, browser):
    back = browser.sign_in("newbie")
    assert back.status_code == 403
    assert "There is no console account for newbie" in back.text and 'data-testid="signin-error"' in back.text
    assert not any(c.startswith("vigil_session=") for c in back.headers.get_list("set-cookie"))
    assert fetch(stack.database_url, "SELECT name FROM console.person WHERE name = 'newbie'") == []
    assert browser.console("/incidents").status_code == 303  # still sent to sign in


def test_a_disabled_person_is_refused(stack, browser):
    back = browser.sign_in("dora")
    assert back.status_code == 403 and "dora is disabled" in back.text
    assert browser.console("/me").status_code == 303


def test_a_tampered_state_is_refused_and_the_real_one_cannot_be_used_after(stack, browser):
    redirect = browser.log_in(browser.start(), "alice")
    target = urlsplit(redirect.headers["location"])
    params = dict(parse_qsl(target.query))
    tampered = browser.http.get(f"{stack.console.url}/signin/oidc/callback?"
                                + urlencode({**params, "state": params["state"][:-2] + "xx"}))
    assert tampered.status_code == 400 and "was not started here" in tampered.text
    assert not any(c.startswith("vigil_session=") for c in tampered.headers.get_list("set-cookie"))
    replayed = browser.back_at_console(redirect)  # the attempt was used up by the tampered callback
    assert replayed.status_code == 400
    assert browser.console("/incidents").status_code == 303


def test_a_callback_from_another_browser_is_refused(stack, browser):
    redirect = browser.log_in(browser.start(), "alice")
    other = stack.browser()
    try:  # the code and state in a link sent to someone else: their browser never started this sign-in
        stolen = other.back_at_console(redirect)
        assert stolen.status_code == 400 and "was not started here" in stolen.text
        assert other.console("/incidents").status_code == 303
    finally:
        other.close()


def test_declining_at_the_provider_says_so(stack, browser):
    back = browser.back_at_console(browser.decline(browser.start()))
    assert back.status_code == 403 and "You did not allow Vigil to sign you in" in back.text


def test_a_provider_that_is_down_and_too_many_failures_are_pages_that_say_so(running_console, postgres_server):
    # Its own database: failures from this address elsewhere in the module do not count here.
    with running_console(database_url=create_database(postgres_server), console_oidc_issuer=reserve_issuer(),
                         console_oidc_client_id=CLIENT_ID, console_login_max_failures=2) as console:
        browser = ProviderBrowser(console.url, "http://127.0.0.1:1")
        try:
            down = browser.console("/signin/oidc")
            assert down.status_code == 503 and "cannot be reached" in down.text
            for _ in range(2):
                assert browser.console("/signin/oidc/callback", code="c", state="s").status_code == 400
            throttled = browser.console("/signin/oidc/callback", code="c", state="s")
            assert throttled.status_code == 429 and "Too many failed sign-ins" in throttled.text
            assert int(throttled.headers["retry-after"]) > 0
        finally:
            browser.close()


def test_without_an_issuer_there_is_no_button_and_no_route(running_console):
    with running_console() as console:
        browser = ProviderBrowser(console.url, "http://127.0.0.1:1")
        try:
            assert 'data-testid="sign-in-oidc"' not in browser.console("/signin").text
            assert browser.console("/signin/oidc").status_code == 404
        finally:
            browser.close()
