"""The JSON body of a page delivered to a webhook: its fields, the same bytes for every attempt of
a delivery, and the JSON Schema in docs/schemas that documents it (generated from the model)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from services.notifier.links import action_links
from services.notifier.messages import IncidentRef, Page, WebhookPage, webhook, webhook_schema

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "docs" / "schemas" / "webhook-page.v1.json"
REGENERATE = (".venv/bin/python -c 'import json; from services.notifier.messages import webhook_schema; "
              "print(json.dumps(webhook_schema(), indent=2, ensure_ascii=False))' > docs/schemas/webhook-page.v1.json")
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
BASE = "https://vigil.example.com"
ACTIONS = action_links(b"k" * 32, public_url=BASE, incident_id=12, person="alice", now=T0)
PAGE = Page(
    page_id="page-1", person="alice", role="primary", channel="page", reason="initial", paged_at=T0,
    incident=IncidentRef(incident_id=12, number="INC-12", severity=1, title="Checkout 5xx above 5 %", url=f"{BASE}/incidents/12"),
    links=(("runbook", "https://wiki.example.com/checkout"), ("evil", "javascript:alert(1)")),
)
BUNDLED = [
    IncidentRef(incident_id=13, number="INC-13", severity=2, title="Disk full", url=f"{BASE}/incidents/13", ack_url=f"{BASE}/ack/t13"),
    IncidentRef(incident_id=14, number="INC-14", severity=3, title="Slow\nqueries", url="javascript:x"),
]


def body(**kwargs) -> dict:
    return json.loads(webhook(PAGE, delivery_id="d-1", **kwargs).model_dump_json())


def test_the_body_names_the_incident_the_person_the_links_and_the_bundled_incidents():
    assert body(bundled=BUNDLED, actions=ACTIONS) == {
        "type": "page.v1",
        "delivery_id": "d-1",
        "page_id": "page-1",
        "incident": {"id": 12, "number": "INC-12", "title": "Checkout 5xx above 5 %", "severity": 1, "url": f"{BASE}/incidents/12"},
        "person": "alice",
        "role": "primary",
        "channel": "page",
        "reason": "initial",
        "paged_at": "2026-11-26T10:00:00Z",
        "subject": "[SEV1] INC-12 Checkout 5xx above 5 % and 2 more incidents (page)",
        "summary": "Paged as the primary on call.",
        "links": {"ack": ACTIONS.ack_url, "resolve": ACTIONS.resolve_url, "expires_at": "2026-11-27T10:00:00Z",
                  "other": {"runbook": "https://wiki.example.com/checkout"}},
        "bundled": [
            {"id": 13, "number": "INC-13", "title": "Disk full", "severity": 2, "url": f"{BASE}/incidents/13", "ack": f"{BASE}/ack/t13"},
            {"id": 14, "number": "INC-14", "title": "Slow\nqueries", "severity": 3, "url": None, "ack": None},
        ],
    }


def test_without_links_the_body_says_null_not_nothing():
    links = body()["links"]
    assert links == {"ack": None, "resolve": None, "expires_at": None, "other": {"runbook": "https://wiki.example.com/checkout"}}


def test_every_attempt_of_a_delivery_sends_the_same_bytes():
    first = webhook(PAGE, delivery_id="d-1", bundled=BUNDLED, actions=ACTIONS).model_dump_json()
    assert webhook(PAGE, delivery_id="d-1", bundled=BUNDLED, actions=ACTIONS).model_dump_json() == first


def test_the_body_is_a_closed_versioned_model():
    with pytest.raises(ValueError):
        WebhookPage.model_validate({**body(), "type": "page.v2"})
    with pytest.raises(ValueError):
        WebhookPage.model_validate({**body(), "surprise": 1})
    assert WebhookPage.model_validate(body(bundled=BUNDLED, actions=ACTIONS)) == webhook(
        PAGE, delivery_id="d-1", bundled=BUNDLED, actions=ACTIONS)


def test_the_committed_json_schema_is_the_one_the_model_generates():
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == webhook_schema(), f"docs/schemas/webhook-page.v1.json is stale; regenerate it: {REGENERATE}"


@pytest.mark.parametrize("kwargs", [{}, {"bundled": BUNDLED, "actions": ACTIONS}])
def test_bodies_are_valid_under_the_committed_schema(kwargs):
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(body(**kwargs))


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.pop("delivery_id"),
        lambda b: b.update(type="page.v2"),
        lambda b: b["incident"].update(severity=5),
        lambda b: b["links"].pop("ack"),
        lambda b: b.update(extra=True),
        lambda b: b["bundled"].append({"id": 1}),
    ],
)
def test_the_committed_schema_refuses_what_the_model_refuses(change):
    schema = json.loads(SCHEMA_FILE.read_text())
    document = body(bundled=BUNDLED, actions=ACTIONS)
    change(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(document)
    with pytest.raises(ValueError):
        WebhookPage.model_validate(document)
