"""An incident with a long timeline on the console's incident page, against the real incident service
(real broker and PostgreSQL): the page shows the newest 200 entries, newest first, says how many there
are and links to all of them; `?timeline=all` shows every entry; a short timeline is shown whole."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.console.support import Browser, add_people, sql
from tests.services import IDENTITY_KEYS

pytestmark = pytest.mark.integration

PEOPLE = {"alice": ("responder", "alice-password-1")}
NOTES = 250  # and the `opened` entry


@dataclass
class Stack:
    incidents: httpx.Client
    alice: Browser
    database_url: str

    def declare(self) -> str:
        response = self.incidents.post("/api/v1/incidents", json={"title": f"timeline {uuid.uuid4().hex[:8]}",
                                                                  "severity": 3, "labels": {}})
        assert response.status_code == 201, response.text
        return response.json()["number"]


@pytest.fixture(scope="module")
def stack(running_incidents, running_console, database_url) -> Iterator[Stack]:
    with running_incidents(identity_keys=IDENTITY_KEYS) as incidents, \
            running_console(console_incidents_url=incidents.url) as console:
        add_people(database_url, PEOPLE)
        alice = Browser(console.url)
        assert alice.sign_in("alice", PEOPLE["alice"][1]).status_code == 303
        yield Stack(incidents.client("admin"), alice, database_url)
        alice.close()


def entries(page: str) -> list[str]:
    return re.findall(r'data-testid="timeline-entry".*?<span class="text">(.*?)</span>', page, re.S)


def test_a_long_timeline_shows_the_newest_200_newest_first_and_links_to_all(stack):
    number = stack.declare()
    sql(stack.database_url, "INSERT INTO incidents.timeline_entry (incident_id, at, kind, text, actor) "
        "SELECT $1, now() + n * interval '1 second', 'note', 'note ' || n, 'alice' FROM generate_series(1, $2) n",
        int(number.removeprefix("INC-")), NOTES)

    page = stack.alice.page(f"/incidents/{number}")
    assert page.status_code == 200
    shown = entries(page.text)
    assert shown == [f"note {n}" for n in range(NOTES, NOTES - 200, -1)]
    assert f"The newest 200 of {NOTES + 1} entries." in page.text
    link = re.search(r'<a href="([^"]+)" data-testid="timeline-show-all">Show all (\d+) entries</a>', page.text)
    assert link and link.groups() == (f"/incidents/{number}?timeline=all#timeline-title", str(NOTES + 1))

    every = stack.alice.page(link.group(1).split("#")[0])
    assert every.status_code == 200
    assert entries(every.text)[:NOTES] == [f"note {n}" for n in range(NOTES, 0, -1)] and len(entries(every.text)) == NOTES + 1
    assert 'data-testid="timeline-show-all"' not in every.text and 'data-testid="timeline-shown"' not in every.text


def test_a_short_timeline_is_shown_whole_without_a_link(stack):
    number = stack.declare()
    page = stack.alice.page(f"/incidents/{number}").text
    assert len(entries(page)) == 1
    assert 'data-testid="timeline-show-all"' not in page and 'data-testid="timeline-shown"' not in page
