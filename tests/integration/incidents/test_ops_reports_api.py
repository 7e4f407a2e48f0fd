"""Reports rendered from a seeded dataset, against the real incident service (with a clock the test
moves), broker and PostgreSQL, compared with values worked out by hand: the weekly and monthly
reviews in America/New_York (an incident at 03:00 UTC on Monday belongs to the week before there,
and to November), alerts vs noise, deployments, carried-over action items, the daily check with an
unreachable peer, the incident report, handoffs, runbooks and toil; MTTA and time to detection per
SEV; the severity definitions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.events import AlertEvent, Topic, encode
from shared.local.kafka_broker import free_port
from tests.services import TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration

API = "/api/v1"
ZONE = "America/New_York"


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def env(running_incidents, kafka_broker, topic_prefix):
    clock = MovableClock(utc(2020, 11, 30, 3, 0))
    closed_port = free_port()  # nothing listens there: the escalator is configured but unreachable
    with running_incidents(
        clock=clock, incidents_report_zone=ZONE, incidents_escalator_url=f"http://127.0.0.1:{closed_port}",
        incidents_peer_timeout_s=1, incidents_runbook_max_age_days=90,
    ) as svc:
        c = {role: svc.client(role) for role in TOKENS}
        c["anonymous"] = svc.client(None)
        seeded = seed(c, clock, kafka_broker.bootstrap_servers, alerts_topic=topic_prefix + Topic.ALERTS)
        yield c, clock, seeded


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def incident_at(c, clock, at: datetime, sev: int, *, ack_min: int, resolve_min: int) -> str:
    """Declare at `at`, acknowledge and resolve so many minutes later (the clock moves)."""
    clock.now = at
    number = ok(c["responder"].post(f"{API}/incidents", json={"title": f"seed SEV{sev} {at:%d %H:%M}", "severity": sev}), 201)["number"]
    clock.now = at + timedelta(minutes=ack_min)
    ok(c["responder"].post(f"{API}/incidents/{number}/acknowledge"))
    clock.now = at + timedelta(minutes=resolve_min)
    ok(c["responder"].post(f"{API}/incidents/{number}/resolve", json={"root_cause": "seeded", "fix_applied": "restarted"}))
    return number


def seed(c, clock, bootstrap: str, *, alerts_topic: str) -> dict:
    # UTC times; New York is UTC-5. The week of Monday 30 November there is 30 Nov 05:00 UTC – 7 Dec 05:00 UTC.
    s = {
        "d": incident_at(c, clock, utc(2020, 11, 30, 3, 0), 2, ack_min=10, resolve_min=30),  # Sun 22:00 NY: last week, November
        "a": incident_at(c, clock, utc(2020, 11, 30, 14, 0), 1, ack_min=4, resolve_min=40),   # met, 40 min
        "b": incident_at(c, clock, utc(2020, 12, 1, 10, 0), 2, ack_min=20, resolve_min=60),   # missed, 60 min
        "c": incident_at(c, clock, utc(2020, 12, 2, 9, 0), 3, ack_min=30, resolve_min=90),    # met, 90 min
    }
    clock.now = utc(2020, 12, 2, 12, 0)
    ok(c["responder"].post(f"{API}/incidents/{s['c']}/noise", json={"reason": "flapping probe"}))
    # Three alerts in two groups (SEV4, never acknowledged), started 3 min before Vigil received them at
    # Thu 3 Dec 12:00 UTC = 07:00 in New York, before business hours (09:00-17:00): due at 17:00 that day.
    clock.now = utc(2020, 12, 3, 12, 0)
    run = uuid.uuid4().hex[:8]
    asyncio.run(produce_alerts(bootstrap, alerts_topic, run, clock.now))
    found = wait_for(lambda: alert_incidents(c, run) if len(alert_incidents(c, run)) == 2 else None, timeout_s=30, what="2 alert incidents")
    s["noisy"], s["real"] = found["noisy"], found["real"]
    wait_for(lambda: len(ok(c["viewer"].get(f"{API}/incidents/{s['noisy']}/alerts"))) == 2, what="both alerts of the noisy group")
    ok(c["responder"].post(f"{API}/incidents/{s['noisy']}/noise"))
    ok(c["responder"].post(f"{API}/deployments", json={"change": "v2.1.5", "service": "api", "deployed_at": "2020-12-01T15:00:00+00:00"}), 201)
    ok(c["responder"].post(f"{API}/deployments", json={"change": "v2.1.4", "status": "rolled_back", "issues": "error spike", "deployed_at": "2020-11-20T15:00:00+00:00"}), 201)
    clock.now = utc(2020, 11, 30, 4, 0)  # before the week (in New York): carried over
    s["old_item"] = ok(c["responder"].post(f"{API}/action-items", json={"title": "disk alert", "owner": "kim", "priority": "P1", "due_on": "2020-12-02", "incident": s["d"]}), 201)["id"]
    clock.now = utc(2020, 12, 3, 13, 0)
    s["new_item"] = ok(c["responder"].post(f"{API}/action-items", json={"title": "probe fix", "owner": "lee", "priority": "P2", "incident": s["c"]}), 201)["id"]
    return s


async def produce_alerts(bootstrap: str, topic: str, run: str, now: datetime) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n, group in enumerate(["noisy", "noisy", "real"]):
            fingerprint = f"{run}{n}"
            started = now - timedelta(minutes=3)
            event = AlertEvent(
                event_id=AlertEvent.id_for(source="alertmanager", fingerprint=fingerprint, status="firing", starts_at=started, ends_at=None),
                occurred_at=now, source="alertmanager", fingerprint=fingerprint, status="firing", starts_at=started,
                labels={"alertname": f"Probe{group}", "severity": "low", "run": run}, group_key=f"{run}:{group}",
            )
            key, value, headers = encode(event, ce_source="/test")
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def alert_incidents(c, run: str) -> dict:
    items = ok(c["viewer"].get(f"{API}/incidents", params={"limit": 500}))["items"]
    return {i["title"].removeprefix("Probe"): i["number"] for i in items if i["labels"].get("run") == run}


def weekly(c, clock) -> dict:
    clock.now = utc(2020, 12, 4, 18, 0)  # Friday afternoon in New York
    return ok(c["responder"].post(f"{API}/reports/weekly-review", json={}), 201)


def test_the_weekly_review_counts_mttr_and_attainment_per_sev_in_the_report_zone(env):
    c, clock, s = env
    report = weekly(c, clock)
    data = report["data"]
    assert report["period"] == "2020-W49" and data["period"]["start"] == "2020-11-30T05:00:00+00:00"
    numbers = [i["number"] for i in data["incidents"]]  # in detection order; the two alert incidents at the same time
    assert numbers[:3] == [s["a"], s["b"], s["c"]] and set(numbers[3:]) == {s["noisy"], s["real"]}  # not d
    by_sev = {r["severity"]: (r["count"], r["mttr_s"], r["target_met"], r["target_missed"], r["target_pending"], r["attainment_percent"])
              for r in data["severity_summary"]}
    assert by_sev == {1: (1, 2400.0, 1, 0, 0, 100.0), 2: (1, 3600.0, 0, 1, 0, 0.0), 3: (1, 5400.0, 1, 0, 0, 100.0),
                      4: (2, None, 0, 2, 0, 0.0)}  # SEV4: due at Thursday's close in New York, never acknowledged
    assert data["attainment_percent"] == 40.0  # 2 of 5 decided
    # MTTA from detection to acknowledgement; time to detection only where the start is known (the
    # alerts' startsAt, 3 min before Vigil received them), not for incidents declared without one.
    ack_detect = {r["severity"]: (r["acknowledged"], r["mtta_s"], r["detection_measured"], r["mttd_s"]) for r in data["severity_summary"]}
    assert ack_detect == {1: (1, 240.0, 0, None), 2: (1, 1200.0, 0, None), 3: (1, 1800.0, 0, None), 4: (0, None, 2, 180.0)}
    assert data["alerts"] == {"total": 3, "actionable": 1, "false_positive": 2}
    assert [(i["number"], i["noise"]) for i in data["incidents"] if i["noise"]] == [(s["c"], True), (s["noisy"], True)]
    assert [d["change"] for d in data["deployments"]] == ["v2.1.5"]
    assert [(a["id"], a["carried_over"], a["overdue"]) for a in data["action_items"]] == [(s["old_item"], True, True), (s["new_item"], False, False)]
    assert data["slo"]["state"] == "not_configured" and data["capacity"]["state"] == "not_configured"
    md = report["markdown"]
    for line in [
        "**Week of:** 2020-11-30 – 2020-12-06 (2020-W49, America/New_York)",
        f"| {s['a']} | SEV1 | 40 min | Resolved |",
        f"| {s['c']} | SEV3 (noise) | 1.5 hr | Resolved |",
        "| Severity | Count | MTTR | MTTA | Time to detection | Response target met |",
        "| SEV1 | 1 | 40 min | 4 min | no data | 100% (1/1) |",
        "| SEV2 | 1 | 60 min | 20 min | no data | 0% (0/1) |",
        "| SEV4 | 2 | N/A | no data | 3 min | 0% (0/2) |",
        "Response targets met overall: 40%",
        "- Total: 3\n- Actionable: 1\n- False positives: 2",
        "| v2.1.5 (api) | Success | None |",
        "SLO service: not configured.",
        "- [ ] disk alert (P1, kim, due 2020-12-02, overdue, from " + s["d"] + ") — carried over",
    ]:
        assert line in md, f"{line!r} not in\n{md}"


def test_the_monthly_review_of_november_in_new_york_holds_the_sunday_evening_incident(env):
    c, clock, s = env
    clock.now = utc(2020, 12, 4, 18, 0)
    ok(c["responder"].post(f"{API}/runbooks", json={"name": "db failover", "owner": "kim", "last_updated_on": "2020-06-01"}), 201)
    ok(c["responder"].post(f"{API}/toil", json={"task": "Log rotation", "frequency": "daily", "minutes_per_occurrence": 15, "month": "2020-11-17", "automation_effort": "1 day"}), 201)
    ok(c["responder"].post(f"{API}/reliability-gaps", json={"gap": "Single DB", "impact": "SPOF", "priority": "P1", "owner": "kim"}), 201)
    nov = ok(c["responder"].post(f"{API}/reports/monthly-review", json={"month": "2020-11"}), 201)
    assert [i["number"] for i in nov["data"]["incidents"]] == [s["d"], s["a"]]
    assert {r["severity"]: (r["count"], r["mttr_s"]) for r in nov["data"]["severity_summary"]}[2] == (1, 1800.0)
    assert [t["monthly_total_minutes"] for t in nov["data"]["toil"]["rows"]] == [450]
    md = nov["markdown"]
    for line in ["**Month:** 2020-11 (America/New_York)", "| SEV2 | 1 | 30 min | 10 min | no data | 100% (1/1) |",
                 "| db failover | 2020-06-01 | Outdated | Update (updated 186 days ago (max 90)) |",
                 "| Log rotation | Daily | 15 min | 7.5 hr |", "| Single DB | SPOF | P1 | kim | — | Planned |"]:
        assert line in md, f"{line!r} not in\n{md}"
    assert nov["data"]["growth"]["volume"][0] == {"what": "incidents", "current": 2, "previous": 0, "change_percent": None}
    assert "| Incidents | 0 | 2 | none in 2020-10 |" in md and "No cost data: Vigil has no source of spend" in md
    dec = ok(c["responder"].post(f"{API}/reports/monthly-review", json={"month": "2020-12"}), 201)
    assert sorted(i["number"] for i in dec["data"]["incidents"]) == sorted([s["b"], s["c"], s["noisy"], s["real"]])
    # Month over month: 4 incidents after November's 2 (+100%), 3 alerts after none.
    assert [(g["what"], g["previous"], g["current"], g["change_percent"]) for g in dec["data"]["growth"]["volume"]] == [
        ("incidents", 2, 4, 100.0), ("alerts", 0, 3, None)]
    assert "| Incidents | 2 | 4 | +100% |" in dec["markdown"]
    assert ok(c["responder"].post(f"{API}/reports/monthly-review", json={"month": "2020-13"}), 409)["error"] == "conflict"


def test_what_a_person_adds_to_a_review_survives_regeneration(env):
    c, clock, _ = env
    weekly(c, clock)
    edited = ok(c["responder"].patch(f"{API}/reports/weekly-review/2020-W49", json={"attendees": ["ana", "bo"], "recommendations": ["alert on disk"]}))
    assert "**Attendees:** ana, bo" in edited["markdown"] and "1. alert on disk" in edited["markdown"]
    again = weekly(c, clock)
    assert again["manual"] == {"attendees": ["ana", "bo"], "recommendations": ["alert on disk"]} and "1. alert on disk" in again["markdown"]
    stored = ok(c["viewer"].get(f"{API}/reports", params={"kind": "weekly_review", "period": "2020-W49"}))
    assert [r["id"] for r in stored] == [again["id"]]
    text = c["viewer"].get(f"{API}/reports", params={"kind": "weekly_review", "format": "markdown"})
    assert text.headers["content-type"].startswith("text/markdown") and text.text.startswith("## Weekly Ops Review")
    assert c["viewer"].patch(f"{API}/reports/weekly-review/2020-W49", json={"attendees": []}).status_code == 403
    assert c["responder"].patch(f"{API}/reports/weekly-review/2019-W01", json={"attendees": []}).status_code == 404
    assert c["viewer"].post(f"{API}/reports/weekly-review", json={}).status_code == 403


def test_the_daily_check_records_an_unreachable_peer_and_outdated_runbooks_and_takes_manual_ticks(env):
    c, clock, _ = env
    clock.now = utc(2020, 12, 4, 13, 0)
    report = ok(c["responder"].post(f"{API}/reports/daily-check"), 201)
    assert report["period"] == "2020-12-04"
    checks = {x["key"]: x["status"] for x in report["data"]["checks"]}
    # The module's own alert topic and database: the seeded SEV1 is resolved, so no SEV1 is open.
    open_sev1 = ok(c["viewer"].get(f"{API}/incidents", params={"severity": 1, "status": ["investigating", "mitigating"]}))["items"]
    assert open_sev1 == []
    # What it could not look at is "not checked" (no SLO service URL), never a pass.
    assert {k: v for k, v in checks.items() if k not in ("overnight_alerts", "pending_tickets")} == {
        "services_healthy": "fail", "no_critical_incidents": "pass", "error_rates_nominal": "not_checked",
        "latency_within_slo": "not_checked", "error_budgets": "not_checked", "resource_utilization": "not_checked",
        "oncall_coverage": "unknown", "runbooks_current": "fail"}
    assert report["data"]["passed"] is False
    assert report["data"]["health"]["escalator"]["state"] == "unreachable"
    assert report["data"]["health"]["slo"]["state"] == "not_configured" and report["data"]["health"]["incidents"]["state"] == "ok"
    observations = [a["observation"] for a in report["data"]["anomalies"]]
    assert any(o.startswith("escalator not ready (unreachable") for o in observations)
    assert "runbook db failover outdated: updated 186 days ago (max 90)" in observations
    edited = ok(c["responder"].patch(f"{API}/reports/daily-check/2020-12-04", json={
        "operator": "ana", "checks": {"overnight_alerts": True}, "anomalies": [{"time": "08:15", "observation": "disk at 85%", "action": "rotated"}]}))
    md = edited["markdown"]
    for line in ["**Operator:** ana", "- [x] Review overnight alerts", "- [ ] Check pending tickets",
                 "- [ ] Latency within SLO — not checked: the SLO service is not configured (VIGIL_INCIDENTS_SLO_URL)", "| 08:15 | disk at 85% | rotated |"]:
        assert line in md, f"{line!r} not in\n{md}"


def test_the_incident_report_renders_declaration_and_resolution(env):
    c, _, s = env
    report = ok(c["viewer"].get(f"{API}/incidents/{s['b']}/report"))
    assert report["response_target_met"] is False and report["time_to_resolve_s"] == 3600
    md = c["viewer"].get(f"{API}/incidents/{s['b']}/report", params={"format": "markdown"}).text
    for line in [f"## Incident: {s['b']}", "**Severity:** SEV2", "- Root cause: seeded", "- Fix applied: restarted",
                 "- Time to resolution: 60 min", "- Response target: missed", "- [ ] Postmortem scheduled (postmortem draft)"]:
        assert line in md, f"{line!r} not in\n{md}"
    assert c["viewer"].get(f"{API}/incidents/INC-999999/report").status_code == 404


def test_a_handoff_lists_open_items_and_maintenance_and_only_the_incoming_engineer_acknowledges_it(env):
    c, clock, s = env
    clock.now = utc(2020, 12, 4, 14, 0)
    ok(c["responder"].post(f"{API}/maintenance-windows", json={"starts_at": "2020-12-06T02:00:00+00:00", "activity": "DB upgrade", "impact": "read-only 10 min"}), 201)
    ok(c["responder"].post(f"{API}/maintenance-windows", json={"starts_at": "2021-02-01T02:00:00+00:00", "activity": "far away"}), 201)
    handoff = ok(c["responder"].post(f"{API}/handoffs", json={"from_person": "ana", "to_person": "bo", "note": "quiet week", "things_to_watch": ["disk on db-2"]}), 201)
    md = handoff["markdown"]
    for line in ["**From:** ana", "**To:** bo", "**Acknowledged:** not yet", "quiet week", "- disk on db-2",
                 "| 2020-12-05 21:00 EST – 22:00 | DB upgrade | read-only 10 min |", f"| {s['noisy']}: Probenoisy | SEV4 | investigating |",
                 f"| action item #{s['old_item']}: disk alert | P1 | kim, due 2020-12-02 (overdue) |"]:
        assert line in md, f"{line!r} not in\n{md}"
    assert "far away" not in md
    url = f"{API}/handoffs/{handoff['id']}/acknowledge"
    assert c["responder"].post(url, json={"by": "ana"}).status_code == 409
    acked = ok(c["responder"].post(url, json={"by": "bo"}))
    assert acked["acknowledged_by"] == "bo" and "**Acknowledged:** bo, 2020-12-04 09:00 EST" in acked["markdown"]
    assert ok(c["responder"].post(url, json={"by": "bo"}))["acknowledged_at"] == acked["acknowledged_at"]
    assert c["responder"].post(f"{API}/handoffs/999999/acknowledge").status_code == 404
    assert [h["id"] for h in ok(c["viewer"].get(f"{API}/handoffs"))][0] == handoff["id"]


def test_records_update_delete_and_refuse_duplicates_and_bad_values(env):
    c, _, _ = env
    rb = ok(c["responder"].post(f"{API}/runbooks", json={"name": "rollback", "last_updated_on": "2020-12-01", "last_tested_on": "2020-11-01", "last_test_result": "pass"}), 201)
    assert rb["status"] == "Current"
    assert c["responder"].post(f"{API}/runbooks", json={"name": "rollback"}).status_code == 409
    assert ok(c["responder"].patch(f"{API}/runbooks/{rb['id']}", json={"last_test_result": "fail"}))["status"] == "Outdated"
    text = c["viewer"].get(f"{API}/runbooks", params={"format": "markdown"}).text
    assert "| rollback | 2020-11-01 | Fail | — |" in text
    assert c["responder"].delete(f"{API}/runbooks/{rb['id']}").status_code == 403
    assert ok(c["admin"].delete(f"{API}/runbooks/{rb['id']}")) == {"deleted": f"runbook {rb['id']}"}
    assert c["admin"].delete(f"{API}/runbooks/{rb['id']}").status_code == 404
    assert c["responder"].post(f"{API}/toil", json={"task": "x", "frequency": "hourly", "minutes_per_occurrence": 5}).status_code == 422
    assert c["responder"].post(f"{API}/maintenance-windows", json={"starts_at": "2020-12-06T02:00:00+00:00", "ends_at": "2020-12-06T01:00:00+00:00", "activity": "x"}).status_code == 422
    assert c["responder"].patch(f"{API}/reliability-gaps/abc", json={"status": "done"}).status_code == 404
    assert c["anonymous"].get(f"{API}/toil").status_code == 401


def test_the_severity_definitions_and_the_sev4_deadline_follow_the_business_calendar(env):
    c, _, s = env
    table = ok(c["viewer"].get(f"{API}/severities"))
    assert [(r["label"], r["definition"], r["examples"]) for r in table][:2] == [
        ("SEV1", "Complete outage, all users affected", ["Site down", "Data loss"]),
        ("SEV2", "Major impact, most users affected", ["Core feature broken"])]
    assert table[3]["response_due"].startswith("close of business (17:00 America/New_York) on the next business day")
    assert c["anonymous"].get(f"{API}/severities").status_code == 401
    assert "/api/v1/severities" in ok(c["viewer"].get("/openapi.json"))["paths"]
    # Received at 07:00 New York time on Thursday, before business hours: due at that day's close.
    incident = ok(c["viewer"].get(f"{API}/incidents/{s['real']}"))
    assert incident["response_due_at"] == "2020-12-03T22:00:00Z" and incident["response_target_met"] is False
