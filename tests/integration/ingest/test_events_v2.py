"""PagerDuty Events API v2 on ingest against the real broker and PostgreSQL: the contract PagerDuty
documents (every field, every error case), integration keys (API, hashed, revoked everywhere within
seconds), Kafka or PostgreSQL away (503), and the incident service acting on trigger, acknowledge
and resolve."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import asyncpg
import httpx
import pytest

from shared.events import AlertAcknowledged, AlertEvent, AlertTopicMessage, Topic, header
from shared.local.kafka_broker import free_port
from tests.services import API_TOKENS, TOKENS
from tests.support import TopicCursor, wait_for

pytestmark = pytest.mark.integration

URL = "/v2/enqueue"
KEYS = "/api/v1/integration-keys"


@pytest.fixture(scope="module")
def ingest(running_ingest, database_url):
    with running_ingest(database_url=database_url, api_tokens=API_TOKENS, ingest_key_refresh_s=30) as svc:
        yield svc


@pytest.fixture(scope="module")
def admin(ingest) -> httpx.Client:
    return ingest.client("admin")


@pytest.fixture(scope="module")
def sender(ingest) -> httpx.Client:
    return ingest.client(None)  # Events v2 has no credential but the routing key


@pytest.fixture(scope="module")
def key(admin) -> dict:
    made = admin.post(KEYS, json={"name": "grafana-prod", "service": "checkout", "labels": {"team": "payments"}})
    assert made.status_code == 201, made.text
    return made.json()


@pytest.fixture(scope="module")
def alerts(kafka_broker, topic_prefix):
    return lambda: TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)


def trigger(routing_key: str, **fields) -> dict:
    return {"routing_key": routing_key, "event_action": "trigger",
            "payload": {"summary": "Disk full on host1", "source": "host1.example.com", "severity": "critical"}, **fields}


def decoded(records) -> list:
    return [AlertTopicMessage.model_validate_json(r.value) for r in records]


def accepted(response: httpx.Response, dedup_key: str | None = None) -> str:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "success" and body["message"] == "Event processed"
    assert set(body) == {"status", "message", "dedup_key"}
    if dedup_key is not None:
        assert body["dedup_key"] == dedup_key
    return body["dedup_key"]


# Integration keys.

async def test_a_key_is_shown_once_stored_hashed_and_listed_by_its_hint(admin, key, database_url):
    assert len(key["key"]) == 32 and key["key_hint"] == key["key"][-4:]
    assert key["service"] == "checkout" and key["labels"] == {"team": "payments"} and key["created_by"] == "admin-token-3"
    listed = admin.get(KEYS).json()
    assert [k["id"] for k in listed if k["id"] == key["id"]] == [key["id"]]
    assert all("key" not in k for k in listed)
    assert admin.get(f"{KEYS}/{key['id']}").json()["name"] == "grafana-prod"
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchrow("SELECT * FROM ingest.integration_key WHERE id = $1", uuid.UUID(key["id"]))
    finally:
        await conn.close()
    assert bytes(stored["key_sha256"]) == hashlib.sha256(key["key"].encode()).digest()
    assert key["key"] not in json.dumps({k: str(v) for k, v in dict(stored).items()})


def test_the_key_api_is_for_admins_and_names_are_unique_among_keys_in_use(ingest, admin, key):
    assert ingest.client(None).get(KEYS).status_code == 401
    assert ingest.client("responder").post(KEYS, json={"name": "x", "service": "y"}).status_code == 403
    again = admin.post(KEYS, json={"name": "grafana-prod", "service": "checkout"})
    assert again.status_code == 409 and "in use" in again.json()["message"]
    assert admin.post(KEYS, json={"name": "bad", "service": "s", "labels": {"not a label": "v"}}).status_code == 422
    assert admin.get(f"{KEYS}/{uuid.uuid4()}").status_code == 404
    assert admin.delete(f"{KEYS}/{uuid.uuid4()}").status_code == 404


# The contract.

async def test_a_trigger_with_every_field_is_one_firing_alert_on_kafka_after_202(sender, key, alerts):
    cursor = await alerts()
    body = trigger(
        key["key"], dedup_key="disk-full-host1", client="Grafana", client_url="https://grafana.example.com/alerting",
        links=[{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
        images=[{"src": "https://grafana.example.com/render/1.png", "href": "https://grafana.example.com/d/1", "alt": "Disk"}],
        payload={"summary": "Disk full on host1", "source": "host1.example.com", "severity": "error",
                 "timestamp": "2026-03-01T11:59:30.000+0000", "component": "postgres", "group": "db", "class": "disk",
                 "custom_details": {"free": "0%", "mount": "/var"}},
    )
    accepted(sender.post(URL, json=body), "disk-full-host1")
    [record] = await cursor.read(expected=1)
    event = AlertEvent.model_validate_json(record.value)
    assert header(record.headers, "ce_type") == "dev.vigil.alert.v1" and record.key == event.fingerprint.encode()
    assert event.status == "firing" and event.source == "events-v2"
    assert event.labels == {"alertname": "disk", "severity": "high", "source": "host1.example.com", "component": "postgres",
                            "group": "db", "class": "disk", "integration": "grafana-prod", "team": "payments",
                            "service": "checkout"}
    assert event.annotations["summary"] == "Disk full on host1"
    assert event.annotations["description"] == "free: 0%\nmount: /var"
    assert json.loads(event.annotations["links"]) == body["links"] and json.loads(event.annotations["images"]) == body["images"]
    assert event.annotations["timestamp"] == "2026-03-01T11:59:30+00:00" and event.generator_url == body["client_url"]


async def test_trigger_again_acknowledge_resolve_and_trigger_after_resolve_name_one_occurrence_then_a_new_one(sender, key, alerts):
    cursor = await alerts()
    dedup = f"flow-{uuid.uuid4().hex[:8]}"
    accepted(sender.post(URL, json=trigger(key["key"], dedup_key=dedup)), dedup)
    accepted(sender.post(URL, json=trigger(key["key"], dedup_key=dedup)), dedup)  # sent again while firing
    accepted(sender.post(URL, json={"routing_key": key["key"], "event_action": "acknowledge", "dedup_key": dedup}), dedup)
    accepted(sender.post(URL, json={"routing_key": key["key"], "event_action": "resolve", "dedup_key": dedup}), dedup)
    accepted(sender.post(URL, json={"routing_key": key["key"], "event_action": "resolve", "dedup_key": dedup}), dedup)
    accepted(sender.post(URL, json=trigger(key["key"], dedup_key=dedup)), dedup)  # fires again: a new firing
    first, repeat, ack, resolved, resolved_again, refired = decoded(await cursor.read(expected=6))
    assert first.event_id == repeat.event_id and first.status == "firing"
    assert isinstance(ack, AlertAcknowledged) and ack.actor == "grafana-prod (integration)"
    assert (ack.fingerprint, ack.starts_at) == (first.fingerprint, first.starts_at)
    assert resolved.status == "resolved" and (resolved.fingerprint, resolved.starts_at) == (first.fingerprint, first.starts_at)
    assert resolved_again.event_id == resolved.event_id  # a retried resolve is the same event
    assert refired.fingerprint == first.fingerprint and refired.starts_at > resolved.ends_at


async def test_a_trigger_without_dedup_key_gets_one_and_the_answer_names_it(sender, key, alerts):
    cursor = await alerts()
    dedup = accepted(sender.post(URL, json=trigger(key["key"])))
    assert len(dedup) == 32
    [event] = decoded(await cursor.read(expected=1))
    assert event.annotations["dedup_key"] == dedup


async def test_acknowledge_and_resolve_of_a_dedup_key_that_does_not_fire_are_accepted_and_send_nothing(sender, key, alerts):
    cursor = await alerts()
    for action in ("acknowledge", "resolve"):
        accepted(sender.post(URL, json={"routing_key": key["key"], "event_action": action, "dedup_key": "never-triggered"}))
    assert await cursor.read(expected=1, timeout_s=1.5) == []


async def test_every_invalid_event_is_400_in_pagerdutys_shape_and_sends_nothing(sender, key, alerts):
    k = key["key"]
    ok_payload = {"summary": "s", "source": "h", "severity": "info"}
    cases = {
        b"{not json": "Malformed JSON",
        b"[]": "",
        json.dumps({"event_action": "trigger", "payload": ok_payload}).encode(): "'routing_key' is missing",
        json.dumps({"routing_key": "short", "event_action": "trigger", "payload": ok_payload}).encode(): "Length of 'routing_key'",
        json.dumps(trigger("0" * 32)).encode(): "not an integration key in use",
        json.dumps({"routing_key": k, "payload": ok_payload}).encode(): "'event_action' is missing",
        json.dumps({"routing_key": k, "event_action": "snooze", "payload": ok_payload}).encode(): "'event_action'",
        json.dumps({"routing_key": k, "event_action": "trigger"}).encode(): "'payload' is missing",
        json.dumps({"routing_key": k, "event_action": "resolve"}).encode(): "'dedup_key' is missing",
        json.dumps({"routing_key": k, "event_action": "acknowledge"}).encode(): "'dedup_key' is missing",
        json.dumps(trigger(k, payload={"source": "h", "severity": "info"})).encode(): "'payload.summary' is missing",
        json.dumps(trigger(k, payload={**ok_payload, "summary": "  "})).encode(): "'payload.summary' is missing or blank",
        json.dumps(trigger(k, payload={**ok_payload, "summary": "s" * 1025})).encode(): "'payload.summary'",
        json.dumps(trigger(k, payload={"summary": "s", "severity": "info"})).encode(): "'payload.source' is missing",
        json.dumps(trigger(k, payload={**ok_payload, "severity": "fatal"})).encode(): "'payload.severity'",
        json.dumps(trigger(k, payload={"summary": "s", "source": "h"})).encode(): "'payload.severity' is missing",
        json.dumps(trigger(k, payload={**ok_payload, "timestamp": "yesterday"})).encode(): "'payload.timestamp'",
        json.dumps(trigger(k, dedup_key="d" * 256)).encode(): "'dedup_key'",
        json.dumps(trigger(k, images=[{"href": "https://x"}])).encode(): "'images.0.src' is missing",
        json.dumps(trigger(k, links=[{"text": "t"}])).encode(): "'links.0.href' is missing",
        json.dumps(trigger(k, payload={**ok_payload, "summary": "nul \u0000"})).encode(): "NUL",
    }
    cursor = await alerts()
    for body, problem in cases.items():
        response = sender.post(URL, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (body, response.text)
        answer = response.json()
        assert answer["status"] == "invalid event" and answer["message"] == "Event object is invalid", answer
        assert answer["errors"] and all(isinstance(e, str) for e in answer["errors"]), answer
        assert problem in " ".join(answer["errors"]), (body, answer)
    too_large = sender.post(URL, json=trigger(k, payload={**ok_payload, "custom_details": "x" * 600_000}))
    assert too_large.status_code == 413 and too_large.json()["status"] == "invalid event"
    assert await cursor.read(expected=1, timeout_s=1.5) == []


# Revocation, and the dependencies away.

async def test_a_key_revoked_through_one_replica_is_refused_by_another_within_two_seconds(running_ingest, database_url, admin, sender):
    made = admin.post(KEYS, json={"name": f"short-lived-{uuid.uuid4().hex[:6]}", "service": "s"}).json()
    # A second replica that reloads keys only every 60 s on its own: only the NOTIFY can tell it in time.
    with running_ingest(database_url=database_url, api_tokens=API_TOKENS, ingest_key_refresh_s=60) as other:
        replica = other.client(None)
        wait_for(lambda: replica.post(URL, json=trigger(made["key"])).status_code == 202, timeout_s=10, what="replica loaded keys")
        revoked = admin.delete(f"{KEYS}/{made['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "admin-token-3"
        assert sender.post(URL, json=trigger(made["key"])).status_code == 400  # this replica: at once
        started = time.monotonic()
        wait_for(lambda: replica.post(URL, json=trigger(made["key"])).status_code == 400, timeout_s=2, interval_s=0.05,
                 what="the other replica refusing the revoked key")
        assert time.monotonic() - started < 2
    refused = sender.post(URL, json=trigger(made["key"])).json()
    assert refused["errors"] == ["'routing_key' is not an integration key in use (unknown or revoked)"]
    assert made["id"] not in [k["id"] for k in admin.get(KEYS).json()]
    assert made["id"] in [k["id"] for k in admin.get(KEYS, params={"revoked": "true"}).json()]


def test_without_kafka_an_event_is_503_with_retry_after(running_ingest, database_url, key):
    with running_ingest(database_url=database_url, kafka_bootstrap_servers=[f"127.0.0.1:{free_port()}"],
                        ingest_produce_timeout_s=0.5, ready=False) as dead:
        client = dead.client(None)
        response = wait_for(lambda: (r := client.post(URL, json=trigger(key["key"]))).status_code == 503 and r,
                            timeout_s=10, what="503 from ingest without kafka")
        assert response.headers["retry-after"] == "5" and response.json()["status"] == "unavailable"


def test_without_postgresql_events_v2_is_503_and_the_alertmanager_webhook_still_answers(running_ingest, key):
    from tests.services import INGEST_TOKEN
    from tests.support import FIXTURE_PAYLOADS, fixture_bytes

    with running_ingest(database_url=f"postgresql://vigil@127.0.0.1:{free_port()}/none") as no_db:
        assert no_db.client(None).get("/readyz").status_code == 200  # ingest is ready: the webhook needs no database
        response = no_db.client(None).post(URL, json=trigger(key["key"]))
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        webhook = no_db.client(token=INGEST_TOKEN).post("/api/v1/webhooks/alertmanager", content=fixture_bytes(FIXTURE_PAYLOADS[0]),
                                                         headers={"Content-Type": "application/json"})
        assert webhook.status_code == 200, webhook.text
        assert no_db.client("admin").get(KEYS).status_code == 503


# The incident service acting on them.

def test_trigger_acknowledge_resolve_open_acknowledge_and_resolve_one_incident(running_incidents, sender, key):
    dedup = f"inc-{uuid.uuid4().hex[:8]}"
    body = trigger(key["key"], dedup_key=dedup, payload={"summary": f"Checkout down {dedup}", "source": "lb1", "severity": "warning"})
    with running_incidents() as incidents:
        api = incidents.client("viewer")

        def incident():
            items = api.get("/api/v1/incidents", params={"q": dedup}).json()["items"]
            return items[0] if items else None

        accepted(sender.post(URL, json=body), dedup)
        opened = wait_for(incident, timeout_s=20, what="incident opened")
        assert opened["severity"] == 3 and opened["labels"]["service"] == "checkout" and opened["title"] == f"Checkout down {dedup}"
        accepted(sender.post(URL, json={"routing_key": key["key"], "event_action": "acknowledge", "dedup_key": dedup}), dedup)
        acked = wait_for(lambda: (i := incident()) and i["acknowledged_by"] and i, what="incident acknowledged")
        assert acked["acknowledged_by"] == "grafana-prod (integration)"
        accepted(sender.post(URL, json={"routing_key": key["key"], "event_action": "resolve", "dedup_key": dedup}), dedup)
        resolved = wait_for(lambda: (i := incident()) and i["status"] == "resolved" and i, what="incident resolved (SEV3)")
        assert resolved["id"] == opened["id"] and len(api.get("/api/v1/incidents", params={"q": dedup}).json()["items"]) == 1


# The CLI.

def test_vigil_integration_keys_create_list_revoke_against_ingest(ingest, sender, tmp_path):
    from typer.testing import CliRunner

    from services.cli import app as vigil_app

    def vigil(*args: str) -> tuple[int, str]:
        env = {"XDG_CONFIG_HOME": str(tmp_path), "VIGIL_API_TOKEN": TOKENS["admin"], "VIGIL_INGEST_URL": ingest.url}
        result = CliRunner().invoke(vigil_app, list(args), env=env)
        return result.exit_code, result.output

    code, out = vigil("integration-keys", "create", "nagios-cli", "--service", "billing", "--label", "team=finance")
    assert code == 0, out
    routing_key = out.split("keep it now:\n")[1].split()[0]
    assert len(routing_key) == 32 and f"url: {ingest.url}/v2/enqueue" in out and f"routing_key: {routing_key}" in out
    accepted(sender.post(URL, json=trigger(routing_key)))
    code, out = vigil("integration-keys", "list")
    [line] = [line for line in out.splitlines() if "nagios-cli" in line]
    assert f"…{routing_key[-4:]}" in line and "team=finance" in line and "in use" in line and routing_key not in out
    key_id = line.split()[0]
    code, out = vigil("integration-keys", "revoke", key_id)
    assert code == 0 and "revoked integration key" in out, out
    assert sender.post(URL, json=trigger(routing_key)).status_code == 400
    code, out = vigil("integration-keys", "revoke", str(uuid.uuid4()))
    assert code == 1 and "no integration key" in out
    code, out = vigil("--help")
    assert "integration-keys" in out
