"""Silences and maintenance windows that act, against the real broker and PostgreSQL, with the
incident service and the escalator on the same topics: a silenced alert opens no incident and is
listed as suppressed; when its silence is expired, or its end passes, while it fires, it takes the
normal path (an incident, and pages); an incident opened in a maintenance window's scope is
recorded as suppressed and the escalator pages nobody for it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from typer.testing import CliRunner

from services.cli import app as vigil
from shared.events import AlertEvent, Topic, encode
from tests.services import TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration
API = "/api/v1"


@pytest.fixture(scope="module")
def env(running_incidents, running_escalator, kafka_broker, topic_prefix):
    # The silence check every 0.2 s: a silence whose end passes releases its alerts within a second.
    with running_incidents(incidents_silence_check_s=0.2) as incidents, running_escalator() as escalator:
        yield {
            "viewer": incidents.client("viewer"), "responder": incidents.client("responder"),
            "anonymous": incidents.client(None), "escalator": escalator.client("viewer"),
            "bootstrap": kafka_broker.bootstrap_servers, "topic": topic_prefix + Topic.ALERTS,
        }


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def alert(run: str, name: str, *, status: str = "firing", starts_at: datetime, **labels: str) -> AlertEvent:
    fingerprint = f"{run}{name}"
    ends_at = datetime.now(UTC) if status == "resolved" else None
    return AlertEvent(
        event_id=AlertEvent.id_for(source="alertmanager", fingerprint=fingerprint, status=status, starts_at=starts_at,
                                   ends_at=ends_at),
        occurred_at=datetime.now(UTC), source="alertmanager", fingerprint=fingerprint, status=status,
        starts_at=starts_at, ends_at=ends_at, group_key=f"{run}:{name}",
        labels={"alertname": name, "severity": "critical", "run": run, **labels},
    )


async def produce(env: dict, *events: AlertEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=env["bootstrap"])
    await producer.start()
    try:
        for event in events:
            key, value, headers = encode(event, ce_source="/test")
            await producer.send_and_wait(env["topic"], value, key=key, headers=headers)
    finally:
        await producer.stop()


def ok(response: httpx.Response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def incidents_of(env: dict, run: str) -> list[dict]:
    items = ok(env["viewer"].get(f"{API}/incidents", params={"limit": 500}))["items"]
    return [i for i in items if i["labels"].get("run") == run]


def silence(env: dict, run: str, *, ends_in: timedelta, **labels: str) -> dict:
    body = {"matchers": [f"run={run}", *(f"{k}={v}" for k, v in labels.items())],
            "ends_at": (datetime.now(UTC) + ends_in).isoformat(), "comment": "deploying"}
    return ok(env["responder"].post(f"{API}/silences", json=body), 201)


def held(env: dict, silence_id: int) -> list[dict]:
    return ok(env["viewer"].get(f"{API}/silences/{silence_id}/alerts"))


def escalation(env: dict, number: str) -> dict | None:
    response = env["escalator"].get(f"{API}/incidents/{number}/escalation")
    return response.json() if response.status_code == 200 else None


def timeline_texts(env: dict, number: str) -> list[str]:
    return [e["text"] for e in ok(env["viewer"].get(f"{API}/incidents/{number}"))["timeline"]]


async def test_a_silenced_alert_opens_nothing_until_the_silence_is_expired_then_it_opens_an_incident_that_pages(env):
    run = run_id()
    s = silence(env, run, ends_in=timedelta(hours=2), alertname="DiskFull")
    assert s["state"] == "active" and s["created_by"].startswith("responder")
    now = datetime.now(UTC)
    await produce(env, alert(run, "DiskFull", starts_at=now))
    [suppressed] = wait_for(lambda: held(env, s["id"]), what="the alert recorded as suppressed")
    assert (suppressed["alertname"], suppressed["held"], suppressed["incident"]) == ("DiskFull", True, None)
    [listed] = [x for x in ok(env["viewer"].get(f"{API}/silences", params={"state": "active"})) if x["id"] == s["id"]]
    assert (listed["suppressed_alerts"], listed["held_alerts"]) == (1, 1)
    await produce(env, alert(run, "Marker", starts_at=now))  # not silenced: folded after the first
    wait_for(lambda: incidents_of(env, run), what="the unsilenced alert's incident")
    assert [i["title"] for i in incidents_of(env, run)] == ["Marker"], "the silenced alert opened nothing"

    expired = ok(env["responder"].post(f"{API}/silences/{s['id']}/expire"))
    assert expired["state"] == "expired" and expired["expired_by"].startswith("responder")
    [released] = held(env, s["id"])  # in the expire's own transaction
    assert released["held"] is False and released["incident"]
    texts = timeline_texts(env, released["incident"])
    assert any(f"silence {s['id']} was expired by responder" in t and "DiskFull" in t for t in texts), texts
    plan = wait_for(lambda: escalation(env, released["incident"]), what="the escalator's plan")
    assert plan["timers"], "a released alert's incident is escalated like any other"
    assert ok(env["responder"].post(f"{API}/silences/{s['id']}/expire"), 409)["error"] == "conflict"


async def test_when_a_silence_ends_by_itself_the_alerts_still_firing_open_incidents_the_resolved_ones_do_not(env):
    run = run_id()
    s = silence(env, run, ends_in=timedelta(seconds=3))
    now = datetime.now(UTC)
    await produce(env, alert(run, "StillFiring", starts_at=now), alert(run, "Recovered", starts_at=now))
    wait_for(lambda: len(held(env, s["id"])) == 2, what="both alerts suppressed")
    await produce(env, alert(run, "Recovered", status="resolved", starts_at=now))
    wait_for(lambda: any(a["status"] == "resolved" for a in held(env, s["id"])), what="the resolve")
    assert incidents_of(env, run) == []
    [incident] = wait_for(lambda: incidents_of(env, run), timeout_s=10, what="the incident after the silence's end")
    assert incident["title"] == "StillFiring"
    by_name = {a["alertname"]: a for a in held(env, s["id"])}
    assert by_name["StillFiring"]["incident"] == incident["number"] and by_name["Recovered"]["incident"] is None
    assert any(f"silence {s['id']} ended" in t for t in timeline_texts(env, incident["number"]))
    assert ok(env["viewer"].get(f"{API}/silences/{s['id']}"))["state"] == "expired"


async def test_with_two_replicas_each_held_alert_is_released_once(env, running_incidents):
    run = run_id()
    with running_incidents(incidents_silence_check_s=0.1):  # a second replica: same database, its own check
        s = silence(env, run, ends_in=timedelta(seconds=3))
        now = datetime.now(UTC)
        await produce(env, *(alert(run, f"A{n}", starts_at=now) for n in range(30)))
        wait_for(lambda: len(held(env, s["id"])) == 30, what="30 alerts held")
        found = wait_for(lambda: len(incidents_of(env, run)) == 30 and incidents_of(env, run), timeout_s=15,
                         what="30 incidents after the silence's end")
        assert all(a["incident"] and not a["held"] for a in held(env, s["id"]))
    for incident in found:
        ended = [t for t in timeline_texts(env, incident["number"]) if f"silence {s['id']} ended" in t]
        assert len(ended) == 1, (incident["number"], ended)
    assert len(incidents_of(env, run)) == 30


async def test_an_incident_opened_in_a_maintenance_windows_scope_is_suppressed_and_pages_nobody(env):
    run = run_id()
    service_in, service_out = f"db-{run}", f"api-{run}"
    now = datetime.now(UTC)
    # Open before the window: keeps its escalation.
    await produce(env, alert(run, "Before", starts_at=now, service=service_in))
    [before] = wait_for(lambda: incidents_of(env, run), what="the incident opened before the window")
    window = ok(env["responder"].post(f"{API}/maintenance-windows", json={
        "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
        "activity": "db upgrade", "service": service_in, "matchers": ["env=~prod|staging"]}), 201)
    assert window["service"] == service_in and window["matchers"] == [{"name": "env", "op": "=~", "value": "prod|staging"}]
    await produce(env, alert(run, "During", starts_at=now, service=service_in, env="prod"),
                  alert(run, "Elsewhere", starts_at=now, service=service_out, env="prod"))
    found = wait_for(lambda: {i["title"].split(" ")[0]: i for i in incidents_of(env, run)} if len(incidents_of(env, run)) == 3 else None,
                     what="three incidents")
    assert found["During"]["suppressed_by_window"] == window["id"]
    assert found["Elsewhere"]["suppressed_by_window"] is None and found["Before"]["suppressed_by_window"] is None
    assert any(f"maintenance window {window['id']} (db upgrade" in t and "no pages" in t
               for t in timeline_texts(env, found["During"]["number"]))
    plans = {name: wait_for(lambda n=i["number"]: escalation(env, n), what=f"{name}'s plan") for name, i in found.items()}
    assert plans["During"]["timers"] == [] and plans["During"]["pages"] == []
    assert plans["During"]["suppressed"] is True and "maintenance window" in plans["During"]["note"]
    assert plans["Elsewhere"]["suppressed"] is False and plans["Elsewhere"]["note"] is None
    assert plans["Elsewhere"]["pages"] and plans["Before"]["pages"], "incidents outside the window (or opened before it) page"


async def test_when_the_maintenance_window_ends_while_its_incident_still_fires_the_incident_pages(env):
    run = run_id()
    now = datetime.now(UTC)
    window = ok(env["responder"].post(f"{API}/maintenance-windows", json={
        "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(seconds=3)).isoformat(),
        "activity": "failover drill", "service": f"db-{run}"}), 201)
    await produce(env, alert(run, "Replication", starts_at=now, service=f"db-{run}"))
    [incident] = wait_for(lambda: incidents_of(env, run), what="the suppressed incident")
    assert incident["suppressed_by_window"] == window["id"] and incident["suppression_lifted_at"] is None
    assert wait_for(lambda: escalation(env, incident["number"]), what="its plan")["pages"] == []
    # Pages, and the escalation view no longer suppressed. (Once, in a full run under load, the view
    # still said suppressed when the pages were first seen: waited for together, not read once.)
    plan = wait_for(lambda: (p := escalation(env, incident["number"])) and p["pages"] and p["suppressed"] is False and p,
                    timeout_s=15, what="pages, and no longer suppressed, once the window has ended")
    assert plan["note"] is None
    lifted = ok(env["viewer"].get(f"{API}/incidents/{incident['number']}"))
    assert lifted["suppression_lifted_at"] is not None and lifted["suppressed_by_window"] == window["id"]
    assert any(f"maintenance window {window['id']} ended while 1 of its alerts still fire" in e["text"] for e in lifted["timeline"])


def test_silences_need_a_responder_and_refuse_matchers_that_cannot_work(env):
    body = {"matchers": ["service=api"], "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(), "comment": "x"}
    assert env["anonymous"].post(f"{API}/silences", json=body).status_code == 401
    assert env["anonymous"].get(f"{API}/silences").status_code == 401
    assert env["viewer"].post(f"{API}/silences", json=body).status_code == 403
    assert env["viewer"].post(f"{API}/silences/1/expire").status_code == 403
    assert env["viewer"].get(f"{API}/silences").status_code == 200
    for matchers, why in ((["service=~(api"], "not a valid regular expression"), (["env!=prod"], "at least one matcher"),
                          ([{"name": "service", "op": "~", "value": "x"}], "")):
        answer = ok(env["responder"].post(f"{API}/silences", json={**body, "matchers": matchers}), 422)
        assert why in answer["fields"][0]["message"], answer
    assert env["responder"].post(f"{API}/silences", json={**body, "created_by": "mallory"}).status_code == 422
    assert env["viewer"].get(f"{API}/silences/999999").status_code == 404


def test_the_command_line_adds_lists_and_expires_silences_as_the_tokens_owner(env, tmp_path):
    def cli(*args: str, token: str = TOKENS["responder"]) -> tuple[int, str]:
        result = CliRunner().invoke(vigil, ["silence", *args], env={
            "XDG_CONFIG_HOME": str(tmp_path), "VIGIL_INCIDENTS_URL": str(env["viewer"].base_url).rstrip("/"),
            "VIGIL_API_TOKEN": token})
        return result.exit_code, result.output

    run = run_id()
    code, out = cli("add", f"run={run}", 'service=~"api|web"', "--for", "2h", "--comment", "deploy 1.4")
    assert code == 0, out
    silence_id = int(out.split("added silence ")[1].split(":")[0])
    assert f'run="{run}", service=~"api|web"' in out and "responder" in out and "deploy 1.4" in out
    code, out = cli("list", token=TOKENS["viewer"])
    assert code == 0 and f'run="{run}"' in out
    code, out = cli("add", "service=~(", "--for", "1h", "--comment", "x")
    assert code == 1 and "not a valid regular expression" in out, out
    code, out = cli("expire", str(silence_id), token=TOKENS["viewer"])
    assert code == 1 and "403" in out, out
    code, out = cli("expire", str(silence_id))
    assert code == 0 and f"expired silence {silence_id}" in out, out
    code, out = cli("list", "--state", "expired", "--json")
    assert code == 0 and silence_id in [s["id"] for s in json.loads(out)]


async def test_the_weekly_review_shows_the_weeks_silences_and_what_silences_and_windows_suppressed(env):
    run = run_id()
    s = silence(env, run, ends_in=timedelta(hours=1), alertname="Noisy")
    now = datetime.now(UTC)
    window = ok(env["responder"].post(f"{API}/maintenance-windows", json={
        "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
        "activity": f"upgrade {run}", "service": f"db-{run}"}), 201)
    await produce(env, alert(run, "Noisy", starts_at=now), alert(run, "InWindow", starts_at=now, service=f"db-{run}"))
    wait_for(lambda: held(env, s["id"]) and incidents_of(env, run), what="the silenced alert and the suppressed incident")
    review = ok(env["responder"].post(f"{API}/reports/weekly-review", json={}), 201)
    markdown = review["markdown"]
    assert "### Silences and maintenance" in markdown
    assert f'| {s["id"]} | run="{run}", alertname="Noisy" | responder' in markdown and "| deploying | 1 |" in markdown
    assert f"| {window['id']} | upgrade {run} | 1 | 1 |" in markdown
