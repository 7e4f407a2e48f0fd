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

from shared.clock import utc_now
from shared.events import PageRequested, decode
from shared.local.kafka_broker import free_port
from tests.conftest import create_database
from tests.escalator_support import CONFIG, START, escalation, incident_event, new_incident_id, page_records, pages_cursor, pages_of, publish, run_escalator, warm_up
from tests.services import TOKENS
from tests.support import REPO, ManualClock, wait_for

pytestmark = pytest.mark.integration


async def test_two_escalators_on_one_database_page_every_step_exactly_once(kafka_broker, topic_prefix, running_escalator, tmp_path):
    clock = ManualClock(START)
    group = f"escalator-pair-{uuid.uuid4().hex[:6]}"  # the two replicas share the consumer group, as in production
    with run_escalator(running_escalator, tmp_path, clock=clock, escalator_consumer_group=group) as one, \
            run_escalator(running_escalator, tmp_path, clock=clock, escalator_consumer_group=group) as two:
        api, api2 = one.client("admin"), two.client("admin")
        await warm_up(kafka_broker, api, clock, prefix=topic_prefix)
        cursor = await pages_cursor(kafka_broker, prefix=topic_prefix)
        ids = [new_incident_id() for _ in range(12)]
        await publish(kafka_broker, *(incident_event(i, kind="opened", version=1, at=clock()) for i in ids), prefix=topic_prefix)
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


async def test_an_escalator_killed_while_a_timer_is_pending_fires_it_once_after_restart(kafka_broker, postgres_server, topic_prefix,
                                                                                        tmp_path):
    # A process of its own (SIGKILL), on the real clock, with its own database and topics: the
    # restarted escalator reads no incident of the test above (whose pages are due by now).
    prefix = f"{topic_prefix}kill."
    config_file = tmp_path / "escalator.yaml"
    config_file.write_text(FAST_POLICY)
    port = free_port()
    env = {
        **os.environ, "VIGIL_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "VIGIL_DATABASE_URL": create_database(postgres_server), "VIGIL_API_TOKENS": f"{TOKENS['admin']}:admin",
        "VIGIL_ESCALATOR_PORT": str(port), "VIGIL_ESCALATOR_CONFIG_FILE": str(config_file),
        "VIGIL_ESCALATOR_CONSUMER_GROUP": f"escalator-kill-{uuid.uuid4().hex[:6]}", "VIGIL_LOG_FORMAT": "json",
        "VIGIL_TOPIC_PREFIX": prefix,
    }
    log_path = tmp_path / "escalator.log"
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKENS['admin']}"}, timeout=10)

    def ready() -> bool:
        try:
            return api.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    process = start_escalator(env, log_path)
    try:
        wait_for(ready, timeout_s=60, what="escalator process ready")
        await warm_up(kafka_broker, api, utc_now, prefix=prefix)
        cursor = await pages_cursor(kafka_broker, prefix=prefix)
        iid = new_incident_id()
        await publish(kafka_broker, incident_event(iid, kind="opened", version=1, at=utc_now()), prefix=prefix)
        [primary] = await pages_of(cursor, iid, prefix=prefix, expected=1, settle_s=0)
        backup_due = primary.due_at.timestamp() + 4
        assert time.time() < backup_due, "too slow to kill before the backup's due time"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        # The behaviour under test: the backup's timer falls due in real time (the process's clock)
        # while no escalator runs; nothing to await but the clock passing it.
        time.sleep(max(backup_due - time.time(), 0) + 1.0)
        restarted_at = time.time()
        process = start_escalator(env, log_path)
        records = await page_records(cursor, iid, prefix=prefix, expected=2, timeout_s=60, settle_s=1.5)
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
