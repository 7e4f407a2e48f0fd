"""Who an incident change is recorded under, against the real service, broker and PostgreSQL: a
person's token or console session acts as that person (its `by` naming anyone else is 403 and writes
nothing); a service account may say on whose behalf it acts, and that name is recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.identity import mint

pytestmark = pytest.mark.integration

API = "/api/v1"
KEY = "identity-key-for-tests-0123456789abcdef"


def personal(kind: str, person: str, role: str = "responder") -> str:
    expires = datetime.now(UTC) + timedelta(minutes=5) if kind == "session" else None
    return mint(KEY.encode(), kind=kind, person=person, role=role, expires_at=expires,
                token_id=f"tok-{uuid.uuid4().hex[:8]}" if kind == "token" else None)


@pytest.fixture(scope="module")
def clients(running_incidents) -> Iterator[dict[str, httpx.Client]]:
    with running_incidents(identity_keys=KEY) as svc:
        yield {
            "alice": svc.client(token=personal("token", "alice")),  # a personal API token
            "bo": svc.client(token=personal("session", "bo")),  # the console acting for bo
            "service": svc.client("responder"),  # a service account (tests.services.TOKENS)
            "admin": svc.client("admin"),
        }


def declared(c: dict[str, httpx.Client]) -> str:
    response = c["admin"].post(f"{API}/incidents", json={"title": f"identity {uuid.uuid4().hex[:8]}", "severity": 3})
    assert response.status_code == 201, response.text
    return response.json()["number"]


def timeline(c: dict[str, httpx.Client], number: str) -> list[dict]:
    response = c["admin"].get(f"{API}/incidents/{number}/timeline")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_personal_token_acknowledging_is_recorded_under_its_person(clients):
    number = declared(clients)
    response = clients["alice"].post(f"{API}/incidents/{number}/acknowledge")
    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_by"] == "alice"
    assert timeline(clients, number)[-1]["actor"] == "alice"


def test_a_personal_token_naming_someone_else_is_refused_and_writes_nothing(clients):
    number = declared(clients)
    before = timeline(clients, number)
    for path, body in [("acknowledge", {"by": "mallory"}), ("notes", {"text": "it was mallory", "by": "mallory"}),
                       ("resolve", {"root_cause": "x", "by": "mallory"})]:
        response = clients["alice"].post(f"{API}/incidents/{number}/{path}", json=body)
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "forbidden" and "you act as yourself (alice)" in response.json()["message"]
    assert timeline(clients, number) == before
    declare = clients["alice"].post(f"{API}/incidents", json={"title": "as mallory", "severity": 4, "by": "mallory"})
    assert declare.status_code == 403, declare.text
    # Naming oneself is no impersonation.
    response = clients["alice"].post(f"{API}/incidents/{number}/acknowledge", json={"by": "alice"})
    assert response.status_code == 200 and response.json()["acknowledged_by"] == "alice", response.text


def test_a_console_session_acts_as_its_person(clients):
    number = declared(clients)
    response = clients["bo"].post(f"{API}/incidents/{number}/notes", json={"text": "looking"})
    assert response.status_code == 201, response.text
    assert response.json()[-1]["actor"] == "bo"
    assert clients["bo"].post(f"{API}/incidents/{number}/notes", json={"text": "x", "by": "alice"}).status_code == 403


def test_a_service_account_acting_for_a_person_is_recorded_as_it_says(clients):
    number = declared(clients)
    response = clients["service"].post(f"{API}/incidents/{number}/acknowledge", json={"by": "carol (link)"})
    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_by"] == "carol (link)"
    assert timeline(clients, number)[-1]["actor"] == "carol (link)"
    # Without `by`, its own name.
    response = clients["service"].post(f"{API}/incidents/{number}/notes", json={"text": "automation"})
    assert response.json()[-1]["actor"] == "responder-token-2"


def test_only_the_incoming_engineer_acknowledges_a_handoff(clients):
    handoff = clients["alice"].post(f"{API}/handoffs", json={"from_person": "alice", "to_person": "bo"})
    assert handoff.status_code == 201, handoff.text
    assert handoff.json()["created_by"] == "alice"
    url = f"{API}/handoffs/{handoff.json()['id']}/acknowledge"
    refused = clients["alice"].post(url)
    assert refused.status_code == 409 and "alice cannot acknowledge it" in refused.json()["message"], refused.text
    assert clients["alice"].post(url, json={"by": "bo"}).status_code == 403
    acked = clients["bo"].post(url)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "bo"
