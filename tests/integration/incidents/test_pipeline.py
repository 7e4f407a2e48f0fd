"""Alerts through ingest become incidents, against the real broker and PostgreSQL; lifecycle events
leave through the outbox, and nothing is lost when the relay dies between commit and produce."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from shared.events import IncidentEvent, PageRequested, Topic, TicketRequested, decode, encode
from tests.conftest import create_database
from tests.services import INGEST_TOKEN, service_settings, start_service
from tests.support import ManualClock, TopicCursor, unique_payload, wait_for

pytestmark = pytest.mark.integration

WEBHOOK = "/api/v1/webhooks/alertmanager"


@pytest.fixture(scope="module")
def pipeline(running_ingest, running_incidents):
    """Ingest and the incident service on the module's topics and database: what ingest puts on
    the module's alert topic, the incident service reads. Clients: Alertmanager's (the ingest
    token) and the admin's."""
    with running_ingest() as ingest, running_incidents() as incidents:
        yield ingest.client(token=INGEST_TOKEN), incidents.client("admin")


def own_database_settings(kafka_broker, postgres_server, *, topic_prefix: str, **overrides):
    """Settings of an incident service with a database of its own (the module's is the module's
    service's), on the topics of `topic_prefix`."""
    return service_settings("incidents", bootstrap=kafka_broker.bootstrap_servers, database_url=create_database(postgres_server),
                            topic_prefix=topic_prefix, **overrides)


def resolved_copy(firing: dict) -> dict:
    """The resolve notification of the same alerts (same fingerprints and startsAt)."""
    resolved = copy.deepcopy(firing)
    resolved["status"] = "resolved"
    for alert in resolved["alerts"]:
        alert.update(status="resolved", endsAt=datetime.now(UTC).isoformat())
    return resolved


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def incidents_of_run(api: httpx.Client, run: str) -> list[dict]:
    found = []
    for item in api.get("/api/v1/incidents", params={"limit": 500}).json()["items"]:
        if item["labels"].get("run") == run:
            found.append(item)
    return found


def detail(api: httpx.Client, incident_id: int) -> dict:
    return api.get(f"/api/v1/incidents/INC-{incident_id}").json()


def opened_events(records, incident_id: int) -> list[IncidentEvent]:
    events = [decode(IncidentEvent, r.value) for r in records]
    return [e for e in events if e.incident_id == incident_id and e.kind == "opened"]


async def test_a_webhook_delivered_three_times_opens_one_incident_and_one_opened_event(pipeline, kafka_broker, topic_prefix):
    am, api = pipeline
    run = run_id()
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.INCIDENTS)
    body = json.dumps(unique_payload("02-group5-firing.json", run))
    for _ in range(3):
        assert am.post(WEBHOOK, content=body).status_code == 200
    [incident] = wait_for(lambda: incidents_of_run(api, run), what="incident")
    wait_for(lambda: len(detail(api, incident["id"])["alerts"]) == 5, what="5 alerts")
    records = await cursor.read(expected=1, timeout_s=10, settle_s=2)
    assert len(opened_events(records, incident["id"])) == 1
    assert len(incidents_of_run(api, run)) == 1
    full = detail(api, incident["id"])
    assert full["severity"] == 1  # the group holds a critical alert
    assert full["status"] == "investigating"
    assert [t["kind"] for t in full["timeline"]].count("alert_firing") == 5
    earliest = min(datetime.fromisoformat(a["starts_at"]) for a in full["alerts"])
    assert datetime.fromisoformat(full["started_at"]) == earliest


async def test_a_group_arriving_in_pieces_lands_in_one_incident(pipeline):
    am, api = pipeline
    run = run_id()
    raw = unique_payload("02-group5-firing.json", run)
    first, second = copy.deepcopy(raw), copy.deepcopy(raw)
    first["alerts"], second["alerts"] = raw["alerts"][:2], raw["alerts"][2:]
    assert am.post(WEBHOOK, content=json.dumps(first)).status_code == 200
    assert am.post(WEBHOOK, content=json.dumps(second)).status_code == 200
    [incident] = wait_for(lambda: incidents_of_run(api, run), what="incident")
    wait_for(lambda: len(detail(api, incident["id"])["alerts"]) == 5, what="all 5 alerts attached")
    assert len(incidents_of_run(api, run)) == 1


async def test_resolve_before_fire_opens_nothing_and_the_late_firing_is_stale(pipeline):
    am, api = pipeline
    run = run_id()
    firing = unique_payload("09-prometheus-firing.json", run)
    resolved = resolved_copy(firing)  # the same occurrence, resolved — and delivered first
    assert am.post(WEBHOOK, content=json.dumps(resolved)).status_code == 200
    assert am.post(WEBHOOK, content=json.dumps(firing)).status_code == 200
    # A later, unrelated alert of the same run proves the consumer has passed both events.
    marker = unique_payload("01-single-firing.json", run)
    assert am.post(WEBHOOK, content=json.dumps(marker)).status_code == 200
    incidents = wait_for(lambda: incidents_of_run(api, run), what="marker incident")
    assert [i["title"] for i in incidents] == [marker["alerts"][0]["annotations"]["summary"]]


async def test_low_severity_resolves_by_itself_and_sev1_waits_in_mitigating(pipeline):
    am, api = pipeline
    run = run_id()
    # 09 is severity=info (SEV4): it resolves by itself.
    firing = unique_payload("09-prometheus-firing.json", run)
    resolved = resolved_copy(firing)
    assert am.post(WEBHOOK, content=json.dumps(firing)).status_code == 200
    [incident] = wait_for(lambda: incidents_of_run(api, run), what="incident")
    assert incident["severity"] == 4
    assert am.post(WEBHOOK, content=json.dumps(resolved)).status_code == 200
    wait_for(lambda: detail(api, incident["id"])["status"] == "resolved", what="auto-resolved")

    run2 = run_id()
    critical = unique_payload("01-single-firing.json", run2)
    critical["alerts"][0]["labels"]["severity"] = "critical"
    assert am.post(WEBHOOK, content=json.dumps(critical)).status_code == 200
    [sev1] = wait_for(lambda: incidents_of_run(api, run2), what="SEV1 incident")
    assert am.post(WEBHOOK, content=json.dumps(resolved_copy(critical))).status_code == 200
    full = wait_for(lambda: (d := detail(api, sev1["id"]))["status"] == "mitigating" and d, what="mitigating")
    assert any("waits for a person" in t["text"] and "nobody more is paged" in t["text"] for t in full["timeline"])

    # The problem comes back before anyone closed the incident: the same incident, escalation resumes.
    again = copy.deepcopy(critical)
    again["alerts"][0]["startsAt"] = datetime.now(UTC).isoformat()
    assert am.post(WEBHOOK, content=json.dumps(again)).status_code == 200
    resumed = wait_for(lambda: [t for t in detail(api, sev1["id"])["timeline"] if t["kind"] == "alerts_firing"],
                       what="escalation resumes")
    assert "fired again after every alert had resolved: escalation resumes" in resumed[0]["text"]
    assert len(incidents_of_run(api, run2)) == 1


async def test_within_the_default_reopen_window_the_old_incident_is_reopened(pipeline):
    am, api = pipeline
    run = run_id()
    firing = unique_payload("09-prometheus-firing.json", run)  # SEV4: resolves by itself
    assert am.post(WEBHOOK, content=json.dumps(firing)).status_code == 200
    [first] = wait_for(lambda: incidents_of_run(api, run), what="incident")
    assert am.post(WEBHOOK, content=json.dumps(resolved_copy(firing))).status_code == 200
    wait_for(lambda: detail(api, first["id"])["status"] == "resolved", what="resolved")
    again = copy.deepcopy(firing)
    again["alerts"][0]["startsAt"] = datetime.now(UTC).isoformat()  # a new occurrence of the fingerprint
    assert am.post(WEBHOOK, content=json.dumps(again)).status_code == 200
    reopened = wait_for(lambda: (d := detail(api, first["id"]))["status"] == "investigating" and d, what="reopened")
    assert len(incidents_of_run(api, run)) == 1
    assert any(t["kind"] == "reopened" for t in reopened["timeline"])
    assert len(reopened["alerts"]) == 2


async def test_with_the_reopen_window_off_an_alert_firing_again_opens_a_new_incident(
        pipeline, kafka_broker, postgres_server, topic_prefix):
    # The module's ingest, and an incident service without a reopen window on a database of its own
    # (the module's incident service reads these alerts too, into the module's database).
    am, _ = pipeline
    settings = own_database_settings(kafka_broker, postgres_server, topic_prefix=topic_prefix, incidents_reopen_window_s=0)
    with start_service("incidents", settings) as incidents:
        api = incidents.client("admin")
        run = run_id()
        firing = unique_payload("09-prometheus-firing.json", run)
        assert am.post(WEBHOOK, content=json.dumps(firing)).status_code == 200
        [first] = wait_for(lambda: incidents_of_run(api, run), what="incident")
        assert am.post(WEBHOOK, content=json.dumps(resolved_copy(firing))).status_code == 200
        wait_for(lambda: detail(api, first["id"])["status"] == "resolved", what="resolved")
        again = copy.deepcopy(firing)
        again["alerts"][0]["startsAt"] = datetime.now(UTC).isoformat()
        assert am.post(WEBHOOK, content=json.dumps(again)).status_code == 200
        both = wait_for(lambda: len(i := incidents_of_run(api, run)) == 2 and i, what="a second incident")
        assert {i["status"] for i in both} == {"resolved", "investigating"}


async def test_within_the_correlation_window_another_group_of_the_same_service_joins_the_incident(
        pipeline, kafka_broker, postgres_server, topic_prefix):
    am, _ = pipeline
    # Correlated by the test's own `run` label (every test's alerts say service=checkout).
    settings = own_database_settings(kafka_broker, postgres_server, topic_prefix=topic_prefix,
                                     incidents_correlation_window_s=300, incidents_correlate_by="run")
    with start_service("incidents", settings) as incidents:
        api = incidents.client("admin")
        run = run_id()
        first = unique_payload("01-single-firing.json", run)
        assert am.post(WEBHOOK, content=json.dumps(first)).status_code == 200
        [incident] = wait_for(lambda: incidents_of_run(api, run), what="incident")
        other = copy.deepcopy(first)  # another Alertmanager group and alert of the same run
        other["groupKey"] += ":db"
        other["alerts"][0]["fingerprint"] = f"{run}db"
        other["alerts"][0]["labels"]["alertname"] = "DatabaseSlow"
        assert am.post(WEBHOOK, content=json.dumps(other)).status_code == 200
        joined = wait_for(lambda: len((d := detail(api, incident["id"]))["alerts"]) == 2 and d, what="joined")
        assert len(incidents_of_run(api, run)) == 1
        [entry] = [t for t in joined["timeline"] if t["kind"] == "correlated"]
        assert entry["text"] == f"alert DatabaseSlow joined: the same run ({run}) within 5 min of this incident"


async def test_a_flapping_alert_keeps_its_incident_open_and_resumes_escalation_once(
        pipeline, kafka_broker, postgres_server, topic_prefix):
    am, _ = pipeline
    clock = ManualClock()
    settings = own_database_settings(kafka_broker, postgres_server, topic_prefix=topic_prefix, incidents_flap_changes=4,
                                     incidents_flap_window_s=600, incidents_flap_check_s=0.2)
    with start_service("incidents", settings, clock=clock) as incidents:
        api = incidents.client("admin")
        run = run_id()
        firing = unique_payload("01-single-firing.json", run)
        firing["alerts"][0]["labels"]["severity"] = "critical"  # SEV1: waits in Mitigating, never resolves by itself
        kinds = lambda: [t["kind"] for t in detail(api, incident["id"])["timeline"]]  # noqa: E731
        for cycle in range(4):  # fire, resolve: 8 changes, flapping from the 4th
            firing["alerts"][0]["startsAt"] = datetime.now(UTC).isoformat()  # a new occurrence each time
            assert am.post(WEBHOOK, content=json.dumps(firing)).status_code == 200
            if cycle == 0:
                [incident] = wait_for(lambda: incidents_of_run(api, run), what="incident")
            wait_for(lambda c=cycle: kinds().count("alert_firing") == c + 1, what=f"firing {cycle}")
            assert am.post(WEBHOOK, content=json.dumps(resolved_copy(firing))).status_code == 200
            wait_for(lambda c=cycle: kinds().count("alert_resolved") == c + 1, what=f"resolved {cycle}")
        seen = kinds()
        assert seen.count("flapping") == 1 and seen.count("alerts_firing") == 1, seen  # resumed once, then left alone
        assert seen.count("alerts_resolved") == 1, seen  # only the resolve before it flapped stopped the pages
        assert detail(api, incident["id"])["status"] == "mitigating"
        clock.advance(minutes=11)  # stable for the window: flapping ends; every alert resolved, so pages stay stopped
        wait_for(lambda: "stable" in kinds(), what="stable again")
        assert kinds().count("alerts_resolved") == 2


async def test_resolving_an_incident_whose_alert_still_fires_needs_a_confirmation(pipeline):
    am, api = pipeline
    run = run_id()
    firing = unique_payload("01-single-firing.json", run)
    firing["alerts"][0]["labels"]["severity"] = "critical"
    assert am.post(WEBHOOK, content=json.dumps(firing)).status_code == 200
    [incident] = wait_for(lambda: incidents_of_run(api, run), what="incident")
    refused = api.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"fix_applied": "restarted"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "alerts_firing"
    assert "still has 1 alert firing" in refused.json()["message"]
    done = api.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"fix_applied": "restarted", "even_if_firing": True})
    assert done.status_code == 200 and done.json()["status"] == "resolved", done.text
    assert any(t["kind"] == "resolved" and t["text"].endswith("while 1 alert still fired")
               for t in detail(api, incident["id"])["timeline"])


async def test_pages_and_tickets_are_written_into_the_timeline_once(pipeline, kafka_broker, topic_prefix):
    _, api = pipeline
    declared = api.post("/api/v1/incidents", json={"title": "Checkout errors reported", "severity": 2}).json()
    now = datetime.now(UTC)
    page = PageRequested(
        event_id=f"page-{run_id()}", occurred_at=now, source="escalator", page_id="pg-1", incident_id=declared["id"],
        number=declared["number"], severity=2, title=declared["title"], target="ana", reason="not acknowledged in 15 min", step=1,
    )
    ticket = TicketRequested(
        event_id=f"ticket-{run_id()}", occurred_at=now, source="escalator", ticket_id="T-9", incident_id=declared["id"],
        number=declared["number"], severity=2, title=declared["title"], due_at=now,
    )
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        for message in (page, page, ticket):  # the page twice: a replay
            key, value, headers = encode(message, ce_source="/test")
            await producer.send_and_wait(topic_prefix + message.topic, value, key=key, headers=headers)
    finally:
        await producer.stop()

    def entries():
        timeline = detail(api, declared["id"])["timeline"]
        return [t for t in timeline if t["kind"] in ("page", "ticket")]

    found = wait_for(lambda: len(entries()) >= 2 and entries(), what="page and ticket in the timeline")
    assert [t["text"] for t in found] == ["paged ana (not acknowledged in 15 min)", f"ticket T-9 due {now.isoformat()}"]


async def test_an_event_committed_while_the_relay_is_down_is_published_after_restart_once(kafka_broker, postgres_server,
                                                                                           topic_prefix):
    # A database of its own (the module's running service would relay the event otherwise) and
    # topics of its own (its incident ids start at 1 as the module's do: their events stay apart).
    settings = own_database_settings(kafka_broker, postgres_server, topic_prefix=f"{topic_prefix}relay.")
    # 1. The relay is dead (as if the process died right after the commit): the change is committed.
    with start_service("incidents", settings, run_relay=False) as down:
        cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, settings.topic_prefix + Topic.INCIDENTS)
        api = down.client("admin")
        declared = api.post("/api/v1/incidents", json={"title": "relay crash test", "severity": 3}).json()
        assert api.post(f"/api/v1/incidents/{declared['number']}/acknowledge").status_code == 200
    # Nothing may arrive while the relay is down: the 2 s read is the check itself.
    assert await cursor.read(expected=1, timeout_s=2) == []
    # 2. After a restart the relay sends what was committed, each event id once.
    with start_service("incidents", settings):
        records = await cursor.read(expected=2, timeout_s=20, settle_s=2)
    events = [decode(IncidentEvent, r.value) for r in records]
    mine = [e for e in events if e.incident_id == declared["id"]]
    assert [e.kind for e in mine] == ["opened", "acknowledged"]
    assert len({e.event_id for e in mine}) == 2
    assert all(r.key == str(declared["id"]).encode() for r in records if decode(IncidentEvent, r.value).incident_id == declared["id"])
