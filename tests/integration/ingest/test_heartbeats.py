"""Heartbeat monitors on ingest against the real broker and PostgreSQL, with a clock the test moves:
a monitor that stops pinging fires one AlertEvent on vigil.alerts.v1 once its grace time passed
(never before), a ping resolves it, /fail fires at once, two replicas fire a deadline once, an
ingest that was stopped while monitors went down fires each once when it is back; tokens and roles."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import asyncpg
import httpx
import pytest

from services.ingest.events_v2.store import MIGRATIONS
from services.ingest.heartbeats import repository as repo
from services.ingest.heartbeats import states
from services.ingest.heartbeats.alerts import fingerprint_of
from services.ingest.heartbeats.schedule import Schedule
from services.ingest.heartbeats.service import SCHEMA
from services.ingest.heartbeats.states import Monitor
from shared.db import migrate
from shared.events import AlertEvent, Topic
from shared.local.kafka_broker import free_port
from tests.conftest import create_database
from tests.services import API_TOKENS, TOKENS
from tests.support import ManualClock, TopicCursor, fixture_bytes, wait_for

pytestmark = pytest.mark.integration

API = "/api/v1/heartbeats"
FAST = {"api_tokens": API_TOKENS, "ingest_heartbeat_max_idle_s": 0.2}


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def ingest(running_ingest, database_url, clock):
    with running_ingest(database_url=database_url, clock=clock, **FAST) as svc:
        yield svc


@pytest.fixture(scope="module")
def alerts(kafka_broker, topic_prefix):
    return lambda: TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)


def ready(client: httpx.Client) -> httpx.Client:
    """Heartbeats answer once ingest's database is connected (in the background)."""
    deadline = time.monotonic() + 20
    while client.get(API).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    return client


def create(client: httpx.Client, **fields) -> dict:
    body = {"name": f"job-{uuid.uuid4().hex[:8]}", "service": "backup", "severity": "critical", "period_s": 60,
            "grace_s": 30, **fields}
    made = ready(client).post(API, json=body)
    assert made.status_code == 201, made.text
    return made.json()


def ping(client: httpx.Client, monitor: dict, kind: str = "ping", *, method: str = "POST") -> dict:
    answer = client.request(method, f"{API}/{monitor['id']}/{kind}", headers={"Authorization": f"Bearer {monitor['token']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def events_of(cursor: TopicCursor, monitors: list[dict], expected: int, *, settle_s: float = 0.7,
                    timeout_s: float = 15) -> list[AlertEvent]:
    """The AlertEvents of `monitors` after the cursor, once `expected` of them arrived (and `settle_s`
    more, so that one too many is seen) or `timeout_s` passed."""
    fingerprints = {fingerprint_of(m["id"]) for m in monitors}
    deadline = time.monotonic() + timeout_s
    while True:
        records = await cursor.read(expected=expected, timeout_s=max(deadline - time.monotonic(), 0.5), settle_s=settle_s)
        mine = [e for e in (AlertEvent.model_validate_json(r.value) for r in records) if e.fingerprint in fingerprints]
        if len(mine) >= expected or time.monotonic() > deadline:
            return mine


async def test_a_monitor_that_stops_pinging_fires_once_its_grace_passed_and_a_ping_resolves_it(ingest, clock, alerts):
    admin = ingest.client("admin")
    monitor = create(admin, labels={"team": "storage"})
    assert monitor["status"] == "new" and len(monitor["token"]) >= 32 and "token" not in admin.get(API).json()[0]
    pinged_at = clock.now
    answer = ping(ingest.client(None), monitor)
    assert answer["status"] == "up" and answer["down_at"].startswith((pinged_at + timedelta(seconds=90)).isoformat()[:19])
    cursor = await alerts()
    clock.advance(seconds=61)
    assert admin.get(f"{API}/{monitor['id']}").json()["status"] == "late"
    clock.advance(seconds=28.9)  # 0.1 s before the deadline: nothing
    assert await events_of(cursor, [monitor], 1, timeout_s=1.0) == []
    clock.advance(seconds=0.2)
    [fired] = await events_of(cursor, [monitor], 1)
    assert fired.status == "firing" and fired.source == "heartbeat" and fired.starts_at == pinged_at + timedelta(seconds=90)
    assert fired.labels == {"team": "storage", "alertname": "HeartbeatMissing", "monitor": monitor["name"],
                            "service": "backup", "severity": "critical"}
    assert "missed its ping" in fired.annotations["summary"] and fired.annotations["last_ping_at"]
    assert admin.get(f"{API}/{monitor['id']}").json()["status"] == "down"
    clock.advance(seconds=600)  # many periods later: still the one alert
    cursor = await alerts()
    resumed = ingest.client(None).get(f"{API}/{monitor['id']}/ping", params={"token": monitor["token"]})
    assert resumed.status_code == 200 and resumed.json()["status"] == "up"
    [resolved] = await events_of(cursor, [monitor], 1)
    assert (resolved.status, resolved.starts_at, resolved.ends_at) == ("resolved", fired.starts_at, clock.now)
    metrics = ingest.client(None).get("/metrics").text
    assert "vigil_ingest_heartbeat_check_lateness_seconds_count" in metrics
    assert admin.delete(f"{API}/{monitor['id']}").status_code == 204


async def test_a_fail_ping_fires_at_once_and_a_start_without_finish_fires_after_the_grace_time(ingest, clock, alerts):
    admin = ingest.client("admin")
    monitor = create(admin, period_s=3600, grace_s=120)
    ping(ingest.client(None), monitor)
    cursor = await alerts()
    failed_at = clock.now
    assert ping(ingest.client(None), monitor, "fail")["status"] == "down"
    [fired] = await events_of(cursor, [monitor], 1)
    assert fired.status == "firing" and fired.starts_at == failed_at and "reported a failure" in fired.annotations["summary"]
    cursor = await alerts()
    ping(ingest.client(None), monitor)
    assert ping(ingest.client(None), monitor, "start", method="GET")["down_at"].startswith(
        (clock.now + timedelta(seconds=120)).isoformat()[:19])
    clock.advance(seconds=121)
    resolved, unfinished = await events_of(cursor, [monitor], 2)
    assert (resolved.status, resolved.starts_at) == ("resolved", failed_at)
    assert unfinished.status == "firing" and "did not finish within 2 min" in unfinished.annotations["summary"]
    assert admin.delete(f"{API}/{monitor['id']}").status_code == 204


async def test_alertmanagers_watchdog_posted_to_the_ping_url_keeps_a_monitor_up_and_its_silence_opens_a_sev1(
        ingest, running_incidents, clock, alerts):
    """The Watchdog idiom: Alertmanager's receiver for the always-firing Watchdog is a webhook whose
    URL is the monitor's ping URL (its notification body is ignored); when the notifications stop,
    the monitor's own summary fires as a critical alert, which the incident service opens as SEV1;
    the next notification resolves it."""
    admin = ingest.client("admin")
    silent = f"Alerting pipeline silent {uuid.uuid4().hex[:8]}: Alertmanager's Watchdog stopped arriving"
    watchdog = create(admin, name=f"alerting-pipeline-{uuid.uuid4().hex[:6]}", service="alertmanager", period_s=60,
                      grace_s=180, summary=silent)
    notification = fixture_bytes("01-single-firing.json")

    def notify() -> httpx.Response:
        return ingest.client(None).post(f"{API}/{watchdog['id']}/ping", content=notification,
                                        headers={"Authorization": f"Bearer {watchdog['token']}",
                                                 "Content-Type": "application/json", "User-Agent": "Alertmanager/0.28.1"})

    sent = notify()
    assert sent.status_code == 200 and sent.json()["status"] == "up"
    with running_incidents() as incidents:
        api = incidents.client("viewer")

        def incident():
            items = api.get("/api/v1/incidents", params={"q": silent.split(":")[0]}).json()["items"]
            return items[0] if items else None

        cursor = await alerts()
        clock.advance(seconds=241)
        [fired] = await events_of(cursor, [watchdog], 1, settle_s=0.2)
        assert fired.annotations["summary"] == silent
        assert fired.labels["severity"] == "critical" and fired.labels["service"] == "alertmanager"
        opened = wait_for(incident, timeout_s=20, what="the SEV1 incident")
        assert opened["severity"] == 1 and opened["title"] == silent and opened["labels"]["alertname"] == "HeartbeatMissing"
        assert notify().json()["status"] == "up"
        # SEV1 waits for a person once its alerts resolved (mitigating), with nobody more paged.
        assert wait_for(lambda: (i := incident()) and i["status"] == "mitigating" and i, what="alerts resolved")
    assert admin.delete(f"{API}/{watchdog['id']}").status_code == 204


async def test_two_replicas_fire_each_missed_deadline_once(ingest, running_ingest, database_url, clock, alerts):
    admin = ingest.client("admin")
    monitors = [create(admin, period_s=30, grace_s=10) for _ in range(12)]
    for monitor in monitors:
        ping(ingest.client(None), monitor)
    with running_ingest(database_url=database_url, clock=clock, **FAST) as second:
        ready(second.client("viewer"))
        cursor = await alerts()
        clock.advance(seconds=41)
        fired = await events_of(cursor, monitors, len(monitors), settle_s=1.0)
    assert len(fired) == len(monitors) and {e.fingerprint for e in fired} == {fingerprint_of(m["id"]) for m in monitors}
    assert {e.status for e in fired} == {"firing"}
    for monitor in monitors:
        assert admin.delete(f"{API}/{monitor['id']}").status_code == 204


async def test_an_ingest_back_after_downtime_fires_each_monitor_that_went_down_once(running_ingest, postgres_server, alerts):
    """The monitor was pinged (its state written as a ping writes it) while no ingest ran; ten
    minutes, sixty periods, later an ingest starts: one alert, for the first missed deadline."""
    database, clock = create_database(postgres_server), ManualClock()
    monitor = Monitor(id=str(uuid.uuid4()), name="restarted", service="backup", severity="high", labels={},
                      schedule=Schedule(period_s=10), grace_s=5)
    pinged_at = clock.now
    conn = await asyncpg.connect(database)
    try:
        await migrate(conn, schema=SCHEMA, directory=MIGRATIONS)
        await repo.insert(conn, monitor=monitor, token_sha256=b"x" * 32, token_hint="xxxx", now=pinged_at, by="test")
        await repo.save_states(conn, [states.ping(monitor, "success", pinged_at).monitor], now=pinged_at)
    finally:
        await conn.close()
    cursor = await alerts()
    clock.advance(minutes=10)
    with running_ingest(database_url=database, clock=clock, **FAST) as after:
        [fired] = await events_of(cursor, [{"id": monitor.id}], 1, settle_s=1.5)
        assert fired.starts_at == pinged_at + timedelta(seconds=15)
        assert ready(after.client("viewer")).get(f"{API}/{monitor.id}").json()["status"] == "down"


def test_pings_need_the_monitors_token_and_changes_a_responder(ingest):
    admin, anonymous = ingest.client("admin"), ingest.client(None)
    monitor = create(admin)
    url = f"{API}/{monitor['id']}/ping"
    assert anonymous.post(url).status_code == 401
    assert anonymous.post(url, headers={"Authorization": "Bearer not-the-token-of-this-monitor"}).status_code == 401
    assert anonymous.get(url, params={"token": monitor["token"] + "x"}).status_code == 401
    assert anonymous.post(f"{API}/{uuid.uuid4()}/ping", params={"token": monitor["token"]}).status_code == 401  # no id oracle
    assert ingest.client("responder").post(f"{API}/{uuid.uuid4()}/ping").status_code == 404
    assert ingest.client("viewer").post(url).status_code == 403  # an API token pings as a responder at least
    assert ingest.client("responder").post(url).json()["status"] == "up"
    viewer = ingest.client("viewer")
    assert viewer.post(API, json={"name": "x", "service": "y", "period_s": 60, "grace_s": 1}).status_code == 403
    assert viewer.delete(f"{API}/{monitor['id']}").status_code == 403
    assert [m["id"] for m in viewer.get(API).json() if m["id"] == monitor["id"]] == [monitor["id"]]
    assert admin.post(API, json={"name": monitor["name"], "service": "y", "period_s": 60, "grace_s": 1}).status_code == 409
    bad = admin.post(API, json={"name": "z", "service": "y", "cron": "0 3 * * *", "timezone": "Mars/Olympus", "grace_s": 1})
    assert bad.status_code == 422 and "IANA" in bad.text
    never = admin.post(API, json={"name": "z", "service": "y", "cron": "0 0 30 2 *", "grace_s": 1})
    assert never.status_code == 422 and "matches no date" in never.text
    edited = ingest.client("responder").patch(f"{API}/{monitor['id']}", json={"cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    assert edited.status_code == 200 and (edited.json()["cron"], edited.json()["period_s"]) == ("30 2 * * *", None)
    assert ingest.client("responder").post(f"{API}/{monitor['id']}/pause").json()["status"] == "paused"
    assert admin.delete(f"{API}/{monitor['id']}").status_code == 204
    assert admin.get(f"{API}/{monitor['id']}").status_code == 404


def test_heartbeats_answer_503_while_ingests_database_is_away_and_the_webhook_still_works(running_ingest):
    away = f"postgresql://vigil@127.0.0.1:{free_port()}/vigil"
    with running_ingest(database_url=away, api_tokens=API_TOKENS) as svc:
        answer = svc.client("admin").get(API)
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert svc.client(None).post(f"{API}/{uuid.uuid4()}/ping", params={"token": "x" * 32}).status_code == 503
        assert svc.client(None).get("/readyz").status_code == 200


def test_vigil_heartbeats_add_list_ping_pause_delete_against_ingest(ingest, tmp_path):
    from typer.testing import CliRunner

    from services.cli import app as vigil_app

    def vigil(*args: str, role: str = "responder") -> tuple[int, str]:
        env = {"XDG_CONFIG_HOME": str(tmp_path), "VIGIL_API_TOKEN": TOKENS[role], "VIGIL_INGEST_URL": ingest.url}
        result = CliRunner().invoke(vigil_app, list(args), env=env)
        return result.exit_code, result.output

    ready(ingest.client("viewer"))
    code, out = vigil("heartbeats", "add", "cli-backup", "--service", "db", "--cron", "30 2 * * *", "--tz", "Europe/Berlin",
                      "--grace", "1h", "--label", "team=dba")
    assert code == 0, out
    token = out.split("keep it now:\n")[1].split()[0]
    assert f"Bearer {token}" in out and "/api/v1/heartbeats/" in out and "cron 30 2 * * * (Europe/Berlin)" in out
    code, out = vigil("heartbeats", "list", role="viewer")
    [line] = [line for line in out.splitlines() if "cli-backup" in line]
    assert " new " in line and "1h" in line and token not in out
    code, out = vigil("heartbeats", "ping", "cli-backup")
    assert code == 0 and out.startswith("cli-backup: up, down at"), out
    code, out = vigil("heartbeats", "pause", "cli-backup")
    assert code == 0 and "paused" in out, out
    code, out = vigil("heartbeats", "delete", "cli-backup")
    assert code == 0, out
    code, out = vigil("heartbeats", "ping", "cli-backup")
    assert code == 2 and "no heartbeat monitor named" in out
