"""Never twice, never lost: two escalators on one database page each step once, and an escalator
killed with SIGKILL while a timer is pending fires it once, right after it is started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from services.escalator.app import create_app
from shared.clock import utc_now
from shared.events import PageRequested, Topic, decode
from shared.local.kafka_broker import free_port
from tests.conftest import create_database
from tests.escalator_support import ADMIN, CONFIG, START, escalation, incident_event, new_incident_id, page_records, pages_of, publish, settings_for, warm_up
from tests.support import REPO, ManualClock, ServerThread, TopicCursor, wait_for

pytestmark = pytest.mark.integration


async def test_two_escalators_on_one_database_page_every_step_exactly_once(kafka_broker, database_url, tmp_path):
    clock = ManualClock(START)
    config_file = tmp_path / "escalator.yaml"
    config_file.write_text(CONFIG)
    group = f"escalator-pair-{uuid.uuid4().hex[:6]}"
    apps = [create_app(settings_for(kafka_broker, database_url, config_file, escalator_consumer_group=group), clock=clock)
            for _ in range(2)]
    with ServerThread(apps[0], free_port()) as one, ServerThread(apps[1], free_port()) as two:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=one.url, headers=auth, timeout=30) as api, httpx.Client(base_url=two.url, headers=auth, timeout=30) as api2:
            wait_for(lambda: api.get("/readyz").status_code == 200 and api2.get("/readyz").status_code == 200, what="ready")
            await warm_up(kafka_broker, api, clock)
            cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.PAGES)
            ids = [new_incident_id() for _ in range(12)]
            await publish(kafka_broker, *(incident_event(i, kind="opened", version=1, at=clock()) for i in ids))
            wait_for(lambda: all(len(escalation(api, i).get("pages", [])) == 1 for i in ids), timeout_s=20, what="primary pages")
            clock.advance(minutes=5)
            wait_for(lambda: all(len(escalation(api2, i).get("pages", [])) == 2 for i in ids), timeout_s=20, what="backup pages")
            records = await cursor.read(expected=len(ids) * 2, timeout_s=20, settle_s=1.0)
    pages = [p for p in (decode(PageRequested, r.value) for r in records) if p.incident_id in set(ids)]
    assert len(pages) == len(ids) * 2, f"{len(pages)} pages for {len(ids)} incidents × 2 steps"
    assert len({p.page_id for p in pages}) == len(pages), "a page id was sent twice"
    for iid in ids:
        assert sorted(p.role for p in pages if p.incident_id == iid) == ["backup", "primary"]


FAST_POLICY = CONFIG + """
policy:
  critical:
    steps:
      - {action: page, role: primary}
      - {after: 4s, action: page, role: backup}
    repeat: 0
"""


def start_escalator(env: dict, log_path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "escalator"], cwd=REPO, env=env,
        stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
    )


async def test_an_escalator_killed_while_a_timer_is_pending_fires_it_once_after_restart(kafka_broker, postgres_server, tmp_path):
    config_file = tmp_path / "escalator.yaml"
    config_file.write_text(FAST_POLICY)
    port = free_port()
    env = {
        **os.environ, "VIGIL_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "VIGIL_DATABASE_URL": create_database(postgres_server), "VIGIL_API_TOKENS": f"{ADMIN}:admin",
        "VIGIL_ESCALATOR_PORT": str(port), "VIGIL_ESCALATOR_CONFIG_FILE": str(config_file),
        "VIGIL_ESCALATOR_CONSUMER_GROUP": f"escalator-kill-{uuid.uuid4().hex[:6]}", "VIGIL_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "escalator.log"
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)

    def ready() -> bool:
        try:
            return api.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    process = start_escalator(env, log_path)
    try:
        wait_for(ready, timeout_s=60, what="escalator process ready")
        await warm_up(kafka_broker, api, utc_now)
        cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, Topic.PAGES)
        iid = new_incident_id()
        await publish(kafka_broker, incident_event(iid, kind="opened", version=1, at=utc_now()))
        [primary] = await pages_of(cursor, iid, expected=1, settle_s=0)
        backup_due = primary.due_at.timestamp() + 4
        assert time.time() < backup_due, "too slow to kill before the backup's due time"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        time.sleep(max(backup_due - time.time(), 0) + 1.0)  # down past the due time
        restarted_at = time.time()
        process = start_escalator(env, log_path)
        records = await page_records(cursor, iid, expected=2, timeout_s=60, settle_s=1.5)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    pages = [decode(PageRequested, r.value) for r in records]
    assert [(p.target, p.role) for p in pages] == [("bob", "primary"), ("dave", "backup")], log_path.read_text()[-3000:]
    backup = pages[1]
    assert backup.occurred_at.timestamp() >= backup.due_at.timestamp(), "fired early"
    assert backup.occurred_at.timestamp() >= restarted_at, "fired before the restart?"
    assert backup.occurred_at.timestamp() - restarted_at < 20, "not fired right after the restart"
    api.close()
