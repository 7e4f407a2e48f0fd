"""The live list's refresh (`/incidents/rows`) against the real incident service (real broker and
PostgreSQL): every open page refreshing after the same change gets one shared rendering of the rows,
yet a viewer's rows have no Acknowledge button and a responder's do, and every fragment carries its
own session's CSRF token — a form from one session's rows is refused in another session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

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
