"""Postmortems and action items against the real incident service, broker and PostgreSQL: a SEV1/
SEV2 resolve opens the postmortem in the resolve's transaction (through the API and through the
alert consumer), pre-filled from the incident; the workflow, the checklist, action items and the
overdue list; the policy is the admin's."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from shared.events import AlertEvent, Topic, encode
from tests.services import TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration

API = "/api/v1"


@pytest.fixture(scope="module")
def clients(running_incidents):
    # Auto-resolve for every severity, so an alert's resolve resolves a SEV1 through the consumer.
    with running_incidents(incidents_auto_resolve_sevs="1,2,3,4") as svc:
        made = {role: svc.client(role) for role in TOKENS}
        made["anonymous"] = svc.client(None)
        yield made


def declare_and_resolve(c, severity: int, **resolution) -> dict:
    incident = c["responder"].post(f"{API}/incidents", json={"title": f"pm {uuid.uuid4().hex[:6]}", "severity": severity}).json()
    assert c["admin"].patch(f"{API}/incidents/{incident['number']}/impact", json={"users_affected": "40%", "features_impacted": ["checkout"]}).status_code == 200
    response = c["responder"].post(f"{API}/incidents/{incident['number']}/resolve", json=resolution)
    assert response.status_code == 200, response.text
    return response.json()


def postmortems_of(c, number: str) -> list[dict]:
    response = c["viewer"].get(f"{API}/postmortems", params={"incident": number})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_sev2_resolve_opens_a_draft_postmortem_prefilled_from_the_incident(clients):
    incident = declare_and_resolve(clients, 2, root_cause="a full disk", fix_applied="rotated logs", contributing_factors="no alert on disk")
    [pm] = postmortems_of(clients, incident["number"])
    assert pm["status"] == "draft" and pm["severity"] == 2
    assert pm["root_cause"] == "a full disk"
    assert pm["resolution"] == "rotated logs\nContributing factors: no alert on disk"
    assert pm["impact"] == "Users affected: 40%\nFeatures impacted: checkout"
    started, resolved = datetime.fromisoformat(incident["started_at"]), datetime.fromisoformat(incident["resolved_at"])
    assert pm["duration_s"] == pytest.approx((resolved - started).total_seconds())
    assert [t["text"] for t in pm["timeline"]][-1].startswith("resolved by")
    assert [c["key"] for c in pm["checklist"] if c["done"]] == []
    assert f"# Postmortem: {incident['number']}" in pm["markdown"] and "- [ ] Postmortem scheduled" in pm["markdown"]
    timeline = clients["viewer"].get(f"{API}/incidents/{incident['number']}/timeline").json()
    assert timeline[-1]["kind"] == "postmortem" and "SEV2 resolved" in timeline[-1]["text"]


def test_a_sev3_resolve_opens_none_until_the_admin_changes_the_policy(clients):
    assert postmortems_of(clients, declare_and_resolve(clients, 3)["number"]) == []
    assert clients["responder"].put(f"{API}/postmortem-policy", json={"sevs": [1, 2, 3]}).status_code == 403
    assert clients["admin"].put(f"{API}/postmortem-policy", json={"sevs": [3, 1, 2]}).json() == {"sevs": [1, 2, 3]}
    try:
        assert len(postmortems_of(clients, declare_and_resolve(clients, 3)["number"])) == 1
    finally:
        clients["admin"].put(f"{API}/postmortem-policy", json={"sevs": [1, 2]})
    assert clients["viewer"].get(f"{API}/postmortem-policy").json() == {"sevs": [1, 2]}


def test_a_postmortem_of_an_open_incident_is_409_and_of_a_resolved_one_is_opened_once(clients):
    open_one = clients["responder"].post(f"{API}/incidents", json={"title": "still open", "severity": 4}).json()
    response = clients["responder"].post(f"{API}/incidents/{open_one['number']}/postmortem")
    assert response.status_code == 409 and "follows the resolve" in response.json()["message"]
    resolved = declare_and_resolve(clients, 4)
    assert clients["responder"].post(f"{API}/incidents/{resolved['number']}/postmortem").status_code == 201
    assert clients["responder"].post(f"{API}/incidents/{resolved['number']}/postmortem").status_code == 409


def test_the_workflow_needs_a_summary_then_a_reviewer_and_a_published_postmortem_is_final(clients):
    number = declare_and_resolve(clients, 1)["number"]
    url = f"{API}/incidents/{number}/postmortem"
    edit = clients["responder"].patch
    assert edit(url, json={"status": "published"}).status_code == 409
    assert "summary" in edit(url, json={"status": "in_review"}).json()["message"]
    body = {"summary": "Checkout failed for 40% of users.", "went_well": ["paging"], "went_poorly": ["no disk alert"],
            "lessons": ["alert on disk"], "checklist": {"service_restored": True}, "review_at": "2026-12-03T10:00:00+00:00"}
    assert edit(url, json=body).status_code == 200
    assert edit(url, json={"status": "in_review"}).json()["status"] == "in_review"
    assert "reviewer" in edit(url, json={"status": "published"}).json()["message"]
    done = edit(url, json={"reviewers": ["kim"], "status": "published"})
    assert done.status_code == 200, done.text
    pm = done.json()
    assert pm["status"] == "published" and pm["published_at"] is not None
    assert {c["key"] for c in pm["checklist"] if c["done"]} == {"service_restored", "postmortem_scheduled"}
    assert "- [x] Service restored" in pm["markdown"] and "- paging" in pm["markdown"]
    assert edit(url, json={"summary": "rewritten"}).status_code == 409
    assert edit(url, json={"checklist": {"action_items_created": True}}).status_code == 409
    assert clients["viewer"].patch(url, json={"summary": "x"}).status_code == 403
    kinds = [t["text"] for t in clients["viewer"].get(f"{API}/incidents/{number}/timeline").json() if t["kind"] == "postmortem"]
    assert kinds[1:] == ["postmortem draft → in_review", "postmortem in_review → published"]


def test_action_items_link_to_the_postmortem_tick_the_checklist_and_show_up_overdue(clients):
    number = declare_and_resolve(clients, 2)["number"]
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    late = clients["responder"].post(f"{API}/action-items", json={"title": "disk alert", "owner": "kim", "priority": "P1", "due_on": yesterday, "incident": number})
    assert late.status_code == 201, late.text
    later = clients["responder"].post(f"{API}/action-items", json={"title": "runbook", "owner": "lee", "priority": "P3", "incident": number}).json()
    assert later["due_on"] == (datetime.now(UTC).date() + timedelta(days=90)).isoformat()  # the P3 default
    assert late.json()["overdue"] is True and late.json()["postmortem_id"] is not None
    [pm] = postmortems_of(clients, number)
    assert [i["title"] for i in pm["action_items"]] == ["disk alert", "runbook"]
    assert {c["key"] for c in pm["checklist"] if c["done"]} == {"action_items_created"}
    assert "| disk alert | kim | P1 | " + yesterday + " | open (overdue) |" in pm["markdown"]
    overdue = clients["viewer"].get(f"{API}/action-items", params={"overdue": "true"}).json()
    assert late.json()["id"] in [i["id"] for i in overdue] and later["id"] not in [i["id"] for i in overdue]
    done = clients["responder"].patch(f"{API}/action-items/{late.json()['id']}", json={"status": "done"}).json()
    assert done["status"] == "done" and done["closed_at"] and done["overdue"] is False
    assert late.json()["id"] not in [i["id"] for i in clients["viewer"].get(f"{API}/action-items", params={"overdue": "true"}).json()]
    assert clients["responder"].patch(f"{API}/action-items/999999", json={"status": "done"}).status_code == 404
    assert clients["viewer"].post(f"{API}/action-items", json={"title": "x", "owner": "y", "priority": "P1"}).status_code == 403
    assert clients["anonymous"].get(f"{API}/action-items").status_code == 401
    assert clients["responder"].post(f"{API}/action-items", json={"title": "x", "owner": "y", "priority": "P4"}).status_code == 422
    assert clients["responder"].post(f"{API}/action-items", json={"title": "x", "owner": "y", "priority": "P1", "incident": "INC-999999"}).status_code == 404


async def test_a_sev1_resolved_by_its_alerts_gets_its_postmortem_in_the_consumer_transaction(clients, kafka_broker, topic_prefix):
    run = uuid.uuid4().hex[:8]
    starts = datetime.now(UTC) - timedelta(minutes=10)
    labels = {"alertname": "CheckoutDown", "severity": "critical", "run": run}

    def event(status: str) -> AlertEvent:
        ends = datetime.now(UTC) if status == "resolved" else None
        return AlertEvent(
            event_id=AlertEvent.id_for(source="alertmanager", fingerprint=run, status=status, starts_at=starts, ends_at=ends),
            occurred_at=datetime.now(UTC), source="alertmanager", fingerprint=run, status=status, labels=labels,
            starts_at=starts, ends_at=ends, group_key=f"ops:{run}",
        )

    def incident_of_run(status: str) -> dict | None:
        items = clients["viewer"].get(f"{API}/incidents", params={"q": "CheckoutDown", "limit": 500}).json()["items"]
        mine = [i for i in items if i["labels"].get("run") == run and i["status"] == status]
        return mine[0] if mine else None

    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        for status, then in (("firing", "investigating"), ("resolved", "resolved")):
            key, value, headers = encode(event(status), ce_source="/test")
            await producer.send_and_wait(topic_prefix + Topic.ALERTS, value, key=key, headers=headers)
            # The resolve follows an incident the firing alert opened, as in production.
            incident = await asyncio.to_thread(wait_for, lambda s=then: incident_of_run(s), timeout_s=30,
                                               what=f"the SEV1 {then} by its alert")
    finally:
        await producer.stop()
    assert incident["severity"] == 1
    [pm] = postmortems_of(clients, incident["number"])
    assert any("opened from alert CheckoutDown" in t["text"] for t in pm["timeline"])
    assert date.fromisoformat(pm["created_at"][:10]) == datetime.now(UTC).date()
