"""An incident with only its newest timeline entries (`GET /api/v1/incidents/{ref}?timeline_limit=N`),
against the real incident service and PostgreSQL: the newest N in time order with how many there are
in all, the whole timeline without the parameter (as before), and a limit that is not 1..10000 refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.integration
NOTES = 12


@pytest.fixture(scope="module")
def incident(running_incidents) -> Iterator[tuple[httpx.Client, str]]:
    with running_incidents() as svc:
        api = svc.client("admin")
        declared = api.post("/api/v1/incidents", json={"title": f"long {uuid.uuid4().hex[:8]}", "severity": 3,
                                                       "labels": {}})
        assert declared.status_code == 201, declared.text
        number = declared.json()["number"]
        for n in range(NOTES):
            assert api.post(f"/api/v1/incidents/{number}/notes", json={"text": f"note {n}"}).status_code == 201
        yield api, number


def test_without_a_limit_the_whole_timeline_comes_in_time_order_with_its_total(incident):
    api, number = incident
    whole = api.get(f"/api/v1/incidents/{number}").json()
    assert whole["timeline_total"] == len(whole["timeline"]) > NOTES
    assert [t["text"] for t in whole["timeline"] if t["kind"] == "note"] == [f"note {n}" for n in range(NOTES)]
    assert whole["timeline"] == api.get(f"/api/v1/incidents/{number}/timeline").json()


def test_a_limit_gives_the_newest_entries_in_time_order_and_says_how_many_there_are(incident):
    api, number = incident
    whole = api.get(f"/api/v1/incidents/{number}").json()
    newest = api.get(f"/api/v1/incidents/{number}", params={"timeline_limit": 5}).json()
    assert newest["timeline"] == whole["timeline"][-5:]
    assert [t["text"] for t in newest["timeline"]] == [f"note {n}" for n in range(NOTES - 5, NOTES)]
    assert newest["timeline_total"] == whole["timeline_total"]
    everything = api.get(f"/api/v1/incidents/{number}", params={"timeline_limit": 10_000}).json()
    assert everything["timeline"] == whole["timeline"] and everything["timeline_total"] == whole["timeline_total"]


@pytest.mark.parametrize("limit", [0, -1, 10_001, "x"])
def test_a_limit_outside_one_to_ten_thousand_is_refused(incident, limit):
    api, number = incident
    assert api.get(f"/api/v1/incidents/{number}", params={"timeline_limit": limit}).status_code == 422
