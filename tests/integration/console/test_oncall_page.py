"""The console's On call page against a real escalator (and the real broker and PostgreSQL): now and
next, the four-week calendar with a handoff overlap and a coverage gap, overrides added and removed
through the forms as the signed-in person (the escalator records them), a viewer without forms
whose forged POST is refused, and the iCalendar links — clicked in a signed-in browser, or
subscribed to with a personal token."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.escalator_support import run_escalator
from tests.integration.console.support import Browser, add_people
from tests.services import IDENTITY_KEYS

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("Europe/Berlin")
PEOPLE = {"alice": ("responder", "alice-password-1"), "vera": ("viewer", "vera-password-1")}
# Handoffs at 10:00 or 16:00 on Berlin's clock, whichever comes first at least two hours from now
# (none while the tests run, and never at night, where the clocks change); the primary's first one
# three days before that (ana is on call, ben takes over in four days), the backup's ten days after
# (a gap until then).
NOW = datetime.now(ZONE)
HANDOFF = min(at for days in (0, 1) for hour in (10, 16)
              if (at := (NOW + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0))
              >= NOW + timedelta(hours=2))
CONFIG = f"""
schedules:
  - name: ops
    primary: {{participants: [ana, ben], zone: Europe/Berlin, anchor_date: {(HANDOFF - timedelta(days=3)).date()}, handoff_time: "{HANDOFF:%H:%M}"}}
    backup: {{participants: [cem], zone: Europe/Berlin, anchor_date: {(HANDOFF + timedelta(days=10)).date()}, handoff_time: "{HANDOFF:%H:%M}"}}
"""


@dataclass
class Stack:
    console: object
    escalator: httpx.Client  # the escalator's API as an admin service account
    browsers: dict[str, Browser]

    def overrides(self) -> list[dict]:
        response = self.escalator.get("/api/v1/schedules/ops/overrides")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def stack(running_escalator, running_console, database_url, tmp_path_factory) -> Iterator[Stack]:
    with run_escalator(running_escalator, tmp_path_factory.mktemp("escalator"), clock=lambda: datetime.now(UTC),
                       config=CONFIG, identity_keys=IDENTITY_KEYS) as escalator, \
            running_console(console_escalator_url=escalator.url) as console:
        add_people(database_url, PEOPLE)
        browsers = {name: Browser(console.url) for name in PEOPLE}
        for name, (_role, password) in PEOPLE.items():
            assert browsers[name].sign_in(name, password, next_path="/oncall").status_code == 303
        yield Stack(console, escalator.client("admin"), browsers)
        for browser in browsers.values():
            browser.close()


def tagged(page: str, name: str) -> list[str]:
    """The elements with data-testid=`name`, as their opening tags up to the end of their line."""
    return re.findall(rf'<[^>]*data-testid="{name}"[^\n]*', page)


def local(at: datetime) -> str:
    return at.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def test_the_page_shows_now_next_and_a_calendar_with_the_handoff_overlap_and_the_gap(stack):
    page = stack.browsers["alice"].page("/oncall")
    assert page.status_code == 200, page.text
    text = page.text
    [now_primary] = tagged(text, "now-primary")
    [now_backup] = tagged(text, "now-backup")
    [next_primary] = tagged(text, "next-primary")
    assert ">ana<" in now_primary and "nobody: a coverage gap" in now_backup
    assert "ben" in next_primary and f"{HANDOFF + timedelta(days=4):%H:%M}" in next_primary
    # What the page says is what the escalator says.
    [oncall] = stack.escalator.get("/api/v1/oncall", params={"schedule": "ops"}).json()
    assert (oncall["primary"], oncall["backup"]) == (["ana"], [])
    assert "Times in <strong>Europe/Berlin</strong>" in text
    assert '<link rel="stylesheet" href="/static/oncall.css">' in text
    # Four weeks of days from Monday, the handoff overlap on its day at 30 minutes, the gap highlighted.
    days = re.findall(r'data-testid="day" data-date="([0-9-]+)"', text)
    assert len(days) == 28 and datetime.fromisoformat(days[0]).weekday() == 0
    handoff_day = (HANDOFF + timedelta(days=4)).date().isoformat()
    overlap_block = text.split(f'data-date="{handoff_day}"', 1)[1].split('data-testid="day"', 1)[0]
    end = HANDOFF + timedelta(minutes=30)
    assert 'data-testid="entry-overlap" data-tier="primary" data-who="ana → ben"' in overlap_block
    assert f"{HANDOFF:%H:%M}–{end:%H:%M}" in overlap_block
    assert 'data-testid="entry-gap" data-tier="backup"' in text and "oc-has-gap" in text
    assert stack.browsers["alice"].page("/static/oncall.css").status_code == 200


def test_one_schedule_has_its_own_page_and_an_unknown_one_is_a_404_page(stack):
    alice = stack.browsers["alice"]
    page = alice.page("/oncall/ops")
    assert page.status_code == 200 and len(tagged(page.text, "schedule")) == 1 and "<h1>ops</h1>" in page.text
    missing = alice.page("/oncall/nope")
    assert missing.status_code == 404 and "no schedule &#39;nope&#39;" in missing.text


def test_adding_and_removing_an_override_through_the_forms_is_done_as_the_person(stack):
    alice = stack.browsers["alice"]
    start = (NOW + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=4)
    added = alice.submit("/oncall/ops", "/oncall/ops/overrides",
                         {"person": "zoe", "tier": "primary", "start": local(start), "end": local(end), "from": "schedule"})
    assert added.status_code == 303 and added.headers["location"] == "/oncall/ops?done=added", added.text
    [override] = [o for o in stack.overrides() if o["person"] == "zoe"]
    assert override["created_by"] == "alice" and override["tier"] == "primary"
    assert datetime.fromisoformat(override["start_at"]) == start and datetime.fromisoformat(override["end_at"]) == end
    page = alice.page(added.headers["location"]).text
    assert "Override added." in page
    assert f'data-override-id="{override["id"]}"' in page
    assert 'data-testid="entry-shift" data-tier="primary" data-who="zoe"' in page and "oc-entry-override" in page

    removed = alice.submit("/oncall", f"/oncall/ops/overrides/{override['id']}/remove", {"from": "index"})
    assert removed.status_code == 303 and removed.headers["location"] == "/oncall?done=removed#schedule-ops"
    assert [o for o in stack.overrides() if o["id"] == override["id"]] == []
    assert f'data-override-id="{override["id"]}"' not in alice.page("/oncall").text


def test_a_form_that_cannot_be_used_comes_back_with_the_reasons_and_nothing_is_added(stack):
    alice = stack.browsers["alice"]
    before = stack.overrides()
    start = NOW + timedelta(days=2)
    refused = alice.submit("/oncall/ops", "/oncall/ops/overrides",
                           {"person": "", "tier": "primary", "start": local(start), "end": local(start - timedelta(hours=1))})
    assert refused.status_code == 422
    [error] = tagged(refused.text, "override-error")
    assert "who: required" in refused.text and "until: must be after from" in refused.text, error
    assert 'value="' + local(start) + '"' in refused.text  # the form as typed
    assert stack.overrides() == before


def test_a_viewer_sees_no_forms_and_a_forged_post_is_refused(stack):
    made = stack.escalator.post("/api/v1/schedules/ops/overrides", json={
        "person": "yan", "tier": "backup", "start_at": (NOW + timedelta(days=3)).isoformat(),
        "end_at": (NOW + timedelta(days=3, hours=2)).isoformat()})
    assert made.status_code == 201, made.text
    vera = stack.browsers["vera"]
    page = vera.page("/oncall").text
    assert 'data-override-id="' + str(made.json()["id"]) + '"' in page
    assert 'data-testid="add-override"' not in page and 'data-testid="remove-override"' not in page
    # Her own valid CSRF token (from the sign-out form every page carries): still refused by role.
    start = NOW + timedelta(days=4)
    forged_add = vera.submit("/oncall", "/oncall/ops/overrides",
                             {"person": "vera", "start": local(start), "end": local(start + timedelta(hours=1))})
    forged_remove = vera.submit("/oncall", f"/oncall/ops/overrides/{made.json()['id']}/remove")
    assert forged_add.status_code == forged_remove.status_code == 403
    assert "needs the responder role" in forged_add.text
    assert {o["person"] for o in stack.overrides()} >= {"yan"} and "vera" not in {o["person"] for o in stack.overrides()}
    stack.escalator.delete(f"/api/v1/schedules/ops/overrides/{made.json()['id']}")


def test_the_calendar_links_return_icalendar_to_a_signed_in_browser(stack):
    alice = stack.browsers["alice"]
    page = alice.page("/oncall").text
    [schedule_link] = re.findall(r'href="([^"]+)" data-testid="ics-schedule"', page)
    [my_link] = re.findall(r'href="([^"]+)" data-testid="ics-me"', page)
    schedule_feed = alice.page(schedule_link)
    assert schedule_feed.status_code == 200 and schedule_feed.headers["content-type"].startswith("text/calendar")
    assert schedule_feed.text.startswith("BEGIN:VCALENDAR") and "ana" in schedule_feed.text and "ben" in schedule_feed.text
    mine = alice.page(my_link)  # alice is in no rotation: an empty calendar, still a calendar
    assert mine.status_code == 200 and mine.text.startswith("BEGIN:VCALENDAR") and "BEGIN:VEVENT" not in mine.text
    with httpx.Client(base_url=stack.console.url) as anonymous:
        response = anonymous.get(schedule_link)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin?next=")


def test_a_calendar_app_subscribes_with_a_personal_token_until_it_is_revoked(stack):
    basic = base64.b64encode(f"alice:{PEOPLE['alice'][1]}".encode()).decode()
    with httpx.Client(base_url=stack.console.url, timeout=30) as app:
        made = app.post("/api/v1/tokens", json={"name": "calendar", "role": "viewer"},
                        headers={"Authorization": f"Basic {basic}"})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        feed = app.get("/oncall/ops/calendar.ics", params={"token": token})
        assert feed.status_code == 200 and feed.text.startswith("BEGIN:VCALENDAR") and "ana" in feed.text
        assert app.get("/me/calendar.ics", params={"token": token}).status_code == 200
        assert app.get("/oncall/ops/calendar.ics", params={"token": "vgt_not-a-token"}).status_code == 401
        revoked = app.delete(f"/api/v1/tokens/{made.json()['id']}", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 200, revoked.text
        assert app.get("/oncall/ops/calendar.ics", params={"token": token}).status_code == 401


def test_a_console_without_an_escalator_says_so(running_console):
    with running_console() as console:
        browser = Browser(console.url)
        try:
            assert browser.sign_in("alice", PEOPLE["alice"][1], next_path="/oncall").status_code == 303
            page = browser.page("/oncall")
            assert page.status_code == 200
            [error] = tagged(page.text, "oncall-error")
            assert "not connected to the escalator (VIGIL_CONSOLE_ESCALATOR_URL is not set)" in page.text, error
        finally:
            browser.close()
