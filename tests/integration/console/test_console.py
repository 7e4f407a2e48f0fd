"""The console against the real incident service, broker and PostgreSQL, driven as a browser does:
signing in, the incident list and page, acting as the signed-in person (the incident service records
their name), refusals (a viewer's forged form, a form without its CSRF token, too many wrong
passwords), and personal tokens that stop working everywhere once revoked."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.console.support import Browser, add_people, csrf_of, signed_in, sql
from tests.services import IDENTITY_KEYS
from tests.support import wait_for

pytestmark = pytest.mark.integration

PEOPLE = {"alice": ("responder", "alice-password-1"), "vera": ("viewer", "vera-password-1"),
          "ada": ("admin", "ada-password-01")}


@dataclass
class Stack:
    console: object
    incidents: object
    admin_api: httpx.Client  # the incident service as an admin service account
    browsers: dict[str, Browser]
    database_url: str

    def declare(self, title: str | None = None, severity: int = 2) -> str:
        response = self.admin_api.post("/api/v1/incidents", json={"title": title or f"console {uuid.uuid4().hex[:8]}",
                                                                  "severity": severity})
        assert response.status_code == 201, response.text
        return response.json()["number"]

    def incident(self, number: str) -> dict:
        response = self.admin_api.get(f"/api/v1/incidents/{number}")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def stack(running_incidents, running_console, database_url) -> Iterator[Stack]:
    with running_incidents(identity_keys=IDENTITY_KEYS) as incidents, \
            running_console(console_incidents_url=incidents.url) as console:
        with signed_in(console.url, database_url, PEOPLE) as browsers:
            yield Stack(console, incidents, incidents.client("admin"), browsers, database_url)


def row_of(page: str, number: str) -> str:
    found = re.search(rf'<li [^>]*id="incident-{number}".*?</li>', page, re.S)
    assert found, f"{number} is not in the list"
    return found.group(0)


def test_signing_in_sets_a_session_cookie_that_is_httponly_and_samesite(stack):
    browser = Browser(stack.console.url)
    try:
        response = browser.sign_in("alice", PEOPLE["alice"][1], next_path="/me")
        assert response.status_code == 303 and response.headers["location"] == "/me"
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("vigil_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert browser.page("/me").status_code == 200
    finally:
        browser.close()


def test_pages_send_a_browser_that_is_not_signed_in_to_sign_in(stack):
    with httpx.Client(base_url=stack.console.url) as anonymous:
        response = anonymous.get("/incidents/INC-1?x=1")
        assert response.status_code == 303 and response.headers["location"] == "/signin?next=/incidents/INC-1%3Fx%3D1"
        assert anonymous.get("/events/incidents").status_code == 303
        assert anonymous.get("/signin").status_code == 200


def test_the_open_list_shows_an_incident_with_an_acknowledge_button_for_a_responder(stack):
    number = stack.declare("disk full on db-1", severity=1)
    page = stack.browsers["alice"].page("/incidents")
    assert page.status_code == 200
    row = row_of(page.text, number)
    assert "disk full on db-1" in row and "SEV1" in row and 'data-testid="acknowledge"' in row
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_acknowledging_through_the_console_is_recorded_under_the_person(stack):
    number = stack.declare()
    alice = stack.browsers["alice"]
    response = alice.submit("/incidents", f"/incidents/{number}/acknowledge", {"request_id": "r1", "next": "/incidents"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/incidents?done=acknowledged&number={number}"
    incident = stack.incident(number)
    assert incident["acknowledged_by"] == "alice"
    assert [t["actor"] for t in incident["timeline"] if t["kind"] == "acknowledged"] == ["alice"]
    # The list says so, and offers no second acknowledgement.
    page = alice.page(response.headers["location"])
    assert f"{number} acknowledged." in page.text
    assert "acknowledged by alice" in row_of(page.text, number) and 'data-testid="acknowledge"' not in row_of(page.text, number)


def test_a_viewer_sees_no_action_buttons_and_a_forged_post_is_refused(stack):
    number = stack.declare()
    vera = stack.browsers["vera"]
    assert 'data-testid="acknowledge"' not in row_of(vera.page("/incidents").text, number)
    detail = vera.page(f"/incidents/{number}")
    assert detail.status_code == 200 and 'data-testid="actions"' not in detail.text and "<form method=\"post\" action=\"/incidents" not in detail.text
    # The viewer's own, valid CSRF token: still refused by role, before anything is sent on.
    for action, fields in [("acknowledge", {}), ("notes", {"text": "forged"}), ("resolve", {"root_cause": "x"})]:
        forged = vera.submit("/incidents", f"/incidents/{number}/{action}", fields)
        assert forged.status_code == 403 and "needs the responder role" in forged.text, forged.text
    incident = stack.incident(number)
    assert incident["acknowledged_by"] is None and incident["status"] == "investigating"
    assert not [t for t in incident["timeline"] if t["kind"] == "note"]


def test_a_post_without_the_sessions_csrf_token_is_refused(stack):
    number = stack.declare()
    alice = stack.browsers["alice"]
    assert alice.submit("/incidents", f"/incidents/{number}/acknowledge", csrf=None).status_code == 403
    another = csrf_of(stack.browsers["ada"].page("/incidents").text)  # a real token, of another session
    assert alice.submit("/incidents", f"/incidents/{number}/acknowledge", csrf=another).status_code == 403
    # Other forms too: signing out, creating a token.
    assert alice.submit("/me", "/signout", csrf=None).status_code == 403
    assert alice.submit("/me", "/me/tokens", {"name": "x"}, csrf=None).status_code == 403
    assert stack.incident(number)["acknowledged_by"] is None
    assert alice.page("/incidents").status_code == 200  # still signed in


def test_a_note_a_resolution_and_a_reopen_by_an_admin(stack):
    number = stack.declare()
    alice, ada = stack.browsers["alice"], stack.browsers["ada"]
    page = f"/incidents/{number}"
    assert alice.submit(page, f"{page}/notes", {"text": "restarted db-1", "request_id": "n1"}).status_code == 303
    assert alice.submit(page, f"{page}/notes", {"text": "restarted db-1", "request_id": "n1"}).status_code == 303  # a double tap
    resolved = alice.submit(page, f"{page}/resolve", {"root_cause": "log volume filled the disk",
                                                      "contributing_factors": "no alert on growth",
                                                      "fix_applied": "rotated logs", "request_id": "r1"})
    assert resolved.status_code == 303 and resolved.headers["location"] == f"{page}?done=resolved&number={number}"
    incident = stack.incident(number)
    assert incident["status"] == "resolved" and incident["root_cause"] == "log volume filled the disk"
    assert [(t["text"], t["actor"]) for t in incident["timeline"] if t["kind"] == "note"] == [("restarted db-1", "alice")]
    shown = alice.page(resolved.headers["location"]).text
    assert "log volume filled the disk" in shown and "restarted db-1" in shown and 'id="reopen-form"' not in shown
    assert alice.submit(page, f"{page}/reopen", {"reason": "x"}).status_code == 403  # admins only
    assert 'id="reopen-form"' in ada.page(page).text
    assert ada.submit(page, f"{page}/reopen", {"reason": "came back"}).status_code == 303
    assert stack.incident(number)["status"] == "investigating"


def test_a_refusal_of_the_incident_service_is_a_sentence_not_a_stack_trace(stack):
    number = stack.declare()
    alice = stack.browsers["alice"]
    page = f"/incidents/{number}"
    assert alice.submit(page, f"{page}/resolve", {}).status_code == 303
    again = alice.submit(page, f"{page}/acknowledge", {})  # the form of a page opened before the resolve
    assert again.status_code == 409 and "Traceback" not in again.text
    assert f"{number} is resolved; reopen it before you" in again.text and 'data-testid="error-message"' in again.text
    missing = alice.page("/incidents/INC-999999")
    assert missing.status_code == 404 and "There is no incident INC-999999" in missing.text
    assert alice.page("/incidents/not-a-number").status_code == 404


def test_the_list_filters_by_severity_status_and_text(stack):
    tag = uuid.uuid4().hex[:8]
    low, high = stack.declare(f"low {tag}", severity=4), stack.declare(f"high {tag}", severity=1)
    alice = stack.browsers["alice"]
    only_high = alice.page(f"/incidents?sev=1&q={tag}").text
    assert f'id="incident-{high}"' in only_high and f'id="incident-{low}"' not in only_high
    assert 'hx-get="/incidents/rows?status=open&amp;sev=1&amp;q=' in only_high  # the live refresh keeps the filters
    rows = alice.page(f"/incidents/rows?status=all&q={tag}").text
    assert f'id="incident-{high}"' in rows and f'id="incident-{low}"' in rows and "<html" not in rows
    nothing = alice.page(f"/incidents?status=resolved&q={tag}").text
    assert 'data-testid="empty-list"' in nothing and "No incidents match these filters" in nothing


def test_the_live_stream_tells_an_open_page_about_a_new_incident(stack):
    alice = stack.browsers["alice"]
    cursor = re.search(r'sse-connect="/events/incidents\?[^"]*since=([^"&]+)"', alice.page("/incidents").text).group(1)
    declared: dict[str, str] = {}
    timer = threading.Timer(0.5, lambda: declared.update(number=stack.declare("live one")))
    events = []
    deadline = time.monotonic() + 30
    with alice.http.stream("GET", f"/events/incidents?since={cursor}", timeout=30) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        timer.start()
        for line in stream.iter_lines():
            events.append(line)
            if line.startswith("data:") and declared.get("number") and f'"{declared["number"]}"' in line:
                break
            assert time.monotonic() < deadline, f"no event for the new incident: {events}"
    assert "event: incident" in events
    # A page behind (an old cursor) is told at once, without waiting for the next change.
    with alice.http.stream("GET", f"/events/incidents?since={cursor}", timeout=10) as again:
        lines = []
        for line in again.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    assert "event: incident" in lines


def test_wrong_passwords_are_rate_limited_per_account_and_per_address(stack):
    add_people(stack.database_url, {"target": ("responder", "target-password-1")})
    browser = Browser(stack.console.url)
    try:
        for _ in range(5):
            wrong = browser.sign_in("target", "not-the-password")
            assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
        refused = browser.sign_in("target", "target-password-1")  # right, but too late
        assert refused.status_code == 429 and 840 <= int(refused.headers["retry-after"]) <= 900, refused.headers
        assert "Too many failed sign-ins" in refused.text
        # The address is blocked too: another account from it is refused.
        assert browser.sign_in("alice", PEOPLE["alice"][1]).status_code == 429
        basic = httpx.post(f"{stack.console.url}/api/v1/tokens", json={"name": "x"}, auth=("target", "target-password-1"))
        assert basic.status_code == 429 and basic.headers["retry-after"]
    finally:
        browser.close()
        sql(stack.database_url, "DELETE FROM console.login_failure")  # other tests sign in from this address too
    assert Browser(stack.console.url).sign_in("target", "target-password-1").status_code == 303


def test_a_token_made_on_the_me_page_works_everywhere_until_revoked(stack):
    alice = stack.browsers["alice"]
    created = alice.submit("/me", "/me/tokens", {"name": "laptop", "role": "responder", "expires_in_days": "30"})
    assert created.status_code == 201 and "shown only this once" in created.text
    token = re.search(r'id="new-token-value" readonly value="(vgt_[^"]+)"', created.text).group(1)
    row = re.search(r'data-token-id="([0-9a-f]+)" data-state="active"', created.text)
    token_id = row.group(1)
    bearer = {"Authorization": f"Bearer {token}"}
    number = stack.declare()
    acted = httpx.post(f"{stack.incidents.url}/api/v1/incidents/{number}/acknowledge", headers=bearer)
    assert acted.status_code == 200 and acted.json()["acknowledged_by"] == "alice"
    assert token not in alice.page("/me").text  # shown once; the list has its prefix only
    revoked = alice.submit("/me", f"/me/tokens/{token_id}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/me?done=revoked"
    assert 'data-state="revoked"' in alice.page("/me").text
    # Through the console's outbox and vigil.identity.v1, the incident service refuses it within seconds.
    wait_for(lambda: httpx.get(f"{stack.incidents.url}/api/v1/incidents", headers=bearer).status_code == 401,
             timeout_s=20, what="the revoked token refused by the incident service")
    assert httpx.get(f"{stack.console.url}/api/v1/tokens", headers=bearer).status_code == 401  # and by the console at once


def test_the_token_api_with_a_password_a_token_and_roles(stack):
    url = f"{stack.console.url}/api/v1/tokens"
    made = httpx.post(url, json={"name": "cli", "expires_in_days": 7}, auth=("vera", PEOPLE["vera"][1]))
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["role"] == "viewer" and body["person"] == "vera" and body["token"].startswith(body["prefix"])
    vera = {"Authorization": f"Bearer {body['token']}"}
    # Never above one's own role; a viewer cannot list or revoke other people's tokens.
    assert httpx.post(url, json={"name": "more", "role": "responder"}, headers=vera).status_code == 403
    assert httpx.get(url, params={"person": "alice"}, headers=vera).status_code == 403
    listed = httpx.get(url, headers=vera)
    assert listed.status_code == 200 and [t["id"] for t in listed.json()] == [body["id"]]
    assert "token" not in listed.json()[0] and listed.json()[0]["last_used_at"] is not None
    alice_token = httpx.post(url, json={"name": "alice cli"}, auth=("alice", PEOPLE["alice"][1])).json()
    assert httpx.delete(f"{url}/{alice_token['id']}", headers=vera).status_code == 404  # not hers: not even said to exist
    # An admin sees and revokes anyone's; a service account (no person) may not make one.
    ada = ("ada", PEOPLE["ada"][1])
    assert alice_token["id"] in [t["id"] for t in httpx.get(url, params={"person": "alice"}, auth=ada).json()]
    gone = httpx.delete(f"{url}/{alice_token['id']}", auth=ada)
    assert gone.status_code == 200 and gone.json()["state"] == "revoked"
    assert httpx.post(url, json={"name": "x"}, headers={"Authorization": "Bearer test-admin-token-000000003"}).status_code == 403
    assert httpx.post(url, json={"name": "x"}).status_code == 401
    assert httpx.post(url, json={"name": "x"}, auth=("vera", "wrong-password")).status_code == 401
    sql(stack.database_url, "DELETE FROM console.login_failure")


def test_signing_out_everywhere_ends_every_session_of_the_person(stack):
    phone, laptop = Browser(stack.console.url), Browser(stack.console.url)
    try:
        for browser in (phone, laptop):
            assert browser.sign_in("ada", PEOPLE["ada"][1]).status_code == 303
        out = phone.submit("/me", "/signout/everywhere")
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        assert laptop.page("/me").status_code == 303 and phone.page("/me").status_code == 303
        assert stack.browsers["alice"].page("/me").status_code == 200  # another person's session stays
        assert laptop.sign_in("ada", PEOPLE["ada"][1]).status_code == 303
        assert laptop.submit("/me", "/signout").status_code == 303 and laptop.page("/me").status_code == 303
    finally:
        phone.close()
        laptop.close()
    # The module's own admin browser was signed out too: sign it in again for later tests.
    assert stack.browsers["ada"].sign_in("ada", PEOPLE["ada"][1]).status_code == 303


def test_pages_of_services_the_console_is_not_connected_to_say_so(stack):
    alice = stack.browsers["alice"]
    oncall, slos = alice.page("/oncall"), alice.page("/slos")
    assert oncall.status_code == 200 and "VIGIL_CONSOLE_ESCALATOR_URL is not set" in oncall.text
    assert slos.status_code == 200 and "not connected to the SLO service" in slos.text and "VIGIL_CONSOLE_SLO_URL" in slos.text
    detail = alice.page(f"/incidents/{stack.declare()}")
    assert detail.status_code == 200 and "VIGIL_CONSOLE_ESCALATOR_URL is not set" in detail.text


def test_a_console_whose_keys_the_incident_service_does_not_share_says_so(stack, running_console):
    with running_console(console_incidents_url=stack.incidents.url,
                         identity_keys=["another-identity-key-00000000000000"]) as other:
        # Sessions live in the shared database: alice's cookie signs her in there too.
        with httpx.Client(base_url=other.url, cookies=stack.browsers["alice"].http.cookies) as alice:
            listed = alice.get("/incidents")
            assert listed.status_code == 200 and 'data-testid="list-error"' in listed.text
            assert "did not accept your sign-in" in listed.text
            number = stack.declare()
            csrf = csrf_of(listed.text)
            acted = alice.post(f"/incidents/{number}/acknowledge", data={"csrf_token": csrf})
            assert acted.status_code == 502 and "VIGIL_IDENTITY_KEYS may differ" in acted.text
    assert stack.incident(number)["acknowledged_by"] is None


def test_a_live_refresh_after_the_session_ended_sends_the_whole_page_to_sign_in(stack):
    with httpx.Client(base_url=stack.console.url) as expired:
        refresh = expired.get("/incidents/rows?status=open",
                              headers={"HX-Request": "true", "HX-Current-URL": f"{stack.console.url}/incidents?sev=1"})
    assert refresh.status_code == 200 and refresh.headers["hx-redirect"] == "/signin?next=/incidents%3Fsev%3D1"


def test_the_first_admin_is_made_once_on_an_empty_console(postgres_server):
    from services.console.users_cli import ensure_first_admin
    from tests.conftest import create_database
    from tests.integration.console.support import run_async

    url = create_database(postgres_server)
    password = run_async(ensure_first_admin(url, name="admin"))
    assert password and len(password) >= 20
    assert run_async(ensure_first_admin(url, name="admin")) is None  # accounts exist: nothing made, nothing shown
