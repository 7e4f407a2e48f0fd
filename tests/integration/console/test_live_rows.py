"""The live list's refresh (`/incidents/rows`) against the real incident service (real broker and
PostgreSQL): every open page refreshing after the same change gets one shared rendering of the rows,
yet a viewer's rows have no Acknowledge button and a responder's do, and every fragment carries its
own session's CSRF token — a form from one session's rows is refused in another session. The live
stream carries those rows itself, and stops sending them to a session signed out elsewhere."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from services.console import sessions
from tests.integration.console.support import CSRF, Browser, add_people, csrf_of
from tests.services import IDENTITY_KEYS
from tests.support import wait_for

pytestmark = pytest.mark.integration

PEOPLE = {"alice": ("responder", "alice-password-1"), "bob": ("responder", "bob-password-01"),
          "vera": ("viewer", "vera-password-1")}
SESSIONS = ["alice", "alice", "alice", "bob", "bob", "bob", "vera", "vera"]  # one browser each


@dataclass
class Stack:
    console: object
    incidents: httpx.Client
    browsers: list[tuple[str, Browser]]

    @property
    def live(self):
        return self.console.app.state.console.live


@pytest.fixture(scope="module")
def stack(running_incidents, running_console, database_url) -> Iterator[Stack]:
    with running_incidents(identity_keys=IDENTITY_KEYS) as incidents, \
            running_console(console_incidents_url=incidents.url) as console:
        add_people(database_url, PEOPLE)
        browsers = [(name, Browser(console.url)) for name in SESSIONS]
        for name, browser in browsers:
            assert browser.sign_in(name, PEOPLE[name][1]).status_code == 303
        yield Stack(console, incidents.client("admin"), browsers)
        for _, browser in browsers:
            browser.close()


def test_refreshes_after_one_change_render_once_per_role_with_each_sessions_own_token(stack):
    run = uuid.uuid4().hex[:8]
    before = stack.live.seq
    declared = stack.incidents.post("/api/v1/incidents", json={"title": f"rows {run}", "severity": 2, "labels": {}})
    assert declared.status_code == 201, declared.text
    number = declared.json()["number"]
    wait_for(lambda: stack.live.seq > before, timeout_s=30, what="the console told of the new incident")
    renders = stack.live.rows.renders
    path = f"/incidents/rows?status=open&q=rows+{run}"

    with ThreadPoolExecutor(len(stack.browsers)) as pool:  # every open page at once, as after a change
        answers = list(pool.map(lambda entry: entry[1].page(path), stack.browsers))

    assert stack.live.rows.renders - renders == 2, "the rows were not rendered once per role"
    tokens = [csrf_of(browser.page(f"/incidents/{number}").text) if name != "vera" else None
              for name, browser in stack.browsers]
    for (name, _), answer, token in zip(stack.browsers, answers, tokens, strict=True):
        assert answer.status_code == 200 and f'data-number="{number}"' in answer.text
        if name == "vera":
            assert 'data-testid="acknowledge"' not in answer.text and not CSRF.search(answer.text)
        else:
            assert 'data-testid="acknowledge"' in answer.text and csrf_of(answer.text) == token
    responders = [(browser, answer) for (name, browser), answer in zip(stack.browsers, answers, strict=True)
                  if name != "vera"]
    assert len({csrf_of(answer.text) for _, answer in responders}) == len(responders)
    request_ids = {answer.text.split('name="request_id" value="', 1)[1].split('"', 1)[0] for _, answer in responders}
    assert len(request_ids) == len(responders), "two pages share a request id (their forms would act once)"

    # A form from one session's rows is refused in another session (another person's, or the same person's).
    (alice_1, rows_1), (alice_2, _), (bob, _) = responders[0], responders[1], responders[3]
    action = f"/incidents/{number}/acknowledge"
    for other in (alice_2, bob):
        refused = other.http.post(action, data={"csrf_token": csrf_of(rows_1.text), "request_id": run})
        assert refused.status_code == 403 and "This form has expired" in refused.text
    done = alice_1.http.post(action, data={"csrf_token": csrf_of(rows_1.text), "request_id": run})
    assert done.status_code == 303, done.text
    assert stack.incidents.get(f"/api/v1/incidents/{number.removeprefix('INC-')}").json()["acknowledged_by"] == "alice"


def test_a_refresh_after_the_next_change_shows_it(stack):
    run = uuid.uuid4().hex[:8]
    alice = stack.browsers[0][1]
    path = f"/incidents/rows?status=open&q=next+{run}"
    assert 'data-testid="empty-list"' in alice.page(path).text
    before = stack.live.seq
    number = stack.incidents.post("/api/v1/incidents", json={"title": f"next {run}", "severity": 3,
                                                             "labels": {}}).json()["number"]
    wait_for(lambda: stack.live.seq > before, timeout_s=30, what="the console told of the new incident")
    assert f'data-number="{number}"' in alice.page(path).text


def _rows_from_stream(browser: Browser, path: str, opened: threading.Event, wanted: str) -> str:
    """Read a live stream until a `rows` event that contains `wanted`: that event's HTML."""
    deadline = time.monotonic() + 30
    with browser.http.stream("GET", path, timeout=30) as stream:
        assert stream.status_code == 200
        opened.set()
        event, data = None, []
        for line in stream.iter_lines():
            assert time.monotonic() < deadline, "no rows with the change came"
            if line.startswith("event: "):
                event, data = line.removeprefix("event: "), []
            elif line.startswith("data: "):
                data.append(line.removeprefix("data: "))
            elif not line and event == "rows" and wanted in "\n".join(data):
                return "\n".join(data)
    raise AssertionError("the stream ended without the rows")


def test_the_live_stream_carries_each_pages_rows_with_its_own_token_and_role(stack):
    run = uuid.uuid4().hex[:8]
    (_, alice), (_, vera) = stack.browsers[0], stack.browsers[6]
    cursor = stack.live.cursor
    path = f"/events/incidents?status=open&q=stream+{run}&since={cursor}"
    renders = stack.live.rows.renders
    opened = [threading.Event(), threading.Event()]
    with ThreadPoolExecutor(2) as pool:
        streams = [pool.submit(_rows_from_stream, browser, path, event, f"stream {run}")
                   for browser, event in zip((alice, vera), opened, strict=True)]
        assert all(event.wait(30) for event in opened)
        number = stack.incidents.post("/api/v1/incidents", json={"title": f"stream {run}", "severity": 2,
                                                                  "labels": {}}).json()["number"]
        alice_rows, vera_rows = (found.result(timeout=40) for found in streams)

    assert stack.live.rows.renders - renders == 2, "the streamed rows were not rendered once per role"
    assert f'data-number="{number}"' in alice_rows and f'data-number="{number}"' in vera_rows
    assert 'data-testid="acknowledge"' not in vera_rows and not CSRF.search(vera_rows)
    assert csrf_of(alice_rows) == csrf_of(alice.page(f"/incidents/{number}").text)
    done = alice.http.post(f"/incidents/{number}/acknowledge", data={"csrf_token": csrf_of(alice_rows),
                                                                      "request_id": run})
    assert done.status_code == 303, done.text


def test_a_stream_of_a_session_signed_out_everywhere_stops_sending_rows_and_ends(stack, database_url):
    add_people(database_url, {"sam": ("responder", "sam-password-01")})
    here, there = Browser(stack.console.url), Browser(stack.console.url)
    try:
        for browser in (here, there):
            assert browser.sign_in("sam", "sam-password-01").status_code == 303
        session = sessions.id_hash(there.http.cookies[sessions.COOKIE])
        events: list[str] = []
        opened = threading.Event()

        def listen() -> None:
            with there.http.stream("GET", f"/events/incidents?since={stack.live.cursor}", timeout=40) as stream:
                opened.set()
                events.extend(line for line in stream.iter_lines() if line.startswith("event: "))

        with ThreadPoolExecutor(1) as pool:
            listening = pool.submit(listen)
            assert opened.wait(30)
            assert here.submit("/me", "/signout/everywhere").status_code == 303
            wait_for(lambda: stack.live.sessions.gone(session), timeout_s=10, what="the stream's session checked")
            stack.incidents.post("/api/v1/incidents", json={"title": f"after sign-out {uuid.uuid4().hex[:8]}",
                                                            "severity": 4, "labels": {}})
            listening.result(timeout=30)  # the stream ended (before its VIGIL_CONSOLE_LIVE_STREAM_S)
        assert "event: refresh" in events and "event: rows" not in events, events
        refreshed = there.http.get("/incidents/rows", headers={"HX-Request": "true", "HX-Current-URL": stack.console.url})
        assert refreshed.headers["HX-Redirect"].startswith("/signin")
    finally:
        here.close()
        there.close()
