"""`vigil dev` as a new user starts it: every service in one process against a real broker and a real
PostgreSQL (the session's, through VIGIL_KAFKA_BOOTSTRAP_SERVERS / VIGIL_DATABASE_URL, with this
module's own topics), on free ports. A clean start says nothing at warning or error level, the
"Vigil is running" banner comes only once every service answers its readiness probe, and a test
alert's way through the services is told by one info line per step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.local.kafka_broker import free_port
from tests.conftest import create_database

SERVICES = ("ingest", "incidents", "escalator", "slo", "notifier", "console")
BANNER = "Vigil is running"
QUIET_LEVELS = {"debug", "info"}


def _start(tmp_path: Path, kafka_broker, postgres_server, topic_prefix: str):
    ports = {name: free_port() for name in SERVICES}
    env = {
        **os.environ,
        "VIGIL_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "VIGIL_DATABASE_URL": create_database(postgres_server),
        "VIGIL_TOPIC_PREFIX": topic_prefix,
        "VIGIL_LOG_FORMAT": "json",
        **{f"VIGIL_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    for inherited in ("VIGIL_INGEST_TOKENS", "VIGIL_API_TOKENS", "VIGIL_NOTIFIER_SMTP_HOST", "VIGIL_LOG_LEVEL"):
        env.pop(inherited, None)
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "dev", "--state-dir", str(tmp_path / "state"),
         "--mail-port", str(free_port()), "--mail-viewer-port", str(free_port())],
        stdout=stdout.open("wb"), stderr=stderr.open("wb"), env=env, cwd=Path(__file__).resolve().parents[3],
    )
    return process, ports, stdout, stderr


def _loud_lines(text: str) -> list[str]:
    """Lines of the log (JSON lines) that are not at debug or info level, or are not log lines at all
    (a Python warning, a traceback, a library printing)."""
    loud = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            loud.append(line)
            continue
        if record.get("level") not in QUIET_LEVELS or "exception" in record:
            loud.append(line)
    return loud


def test_a_clean_start_is_quiet_announces_itself_once_ready_and_tells_each_alerts_story(
    tmp_path, kafka_broker, postgres_server, topic_prefix
):
    process, ports, stdout, stderr = _start(tmp_path, kafka_broker, postgres_server, topic_prefix)
    try:
        deadline = time.monotonic() + 50
        while BANNER not in stdout.read_text():
            assert process.poll() is None, f"vigil dev exited with {process.returncode}:\n{stderr.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no banner after 50 s:\n{stderr.read_text()[-3000:]}"
            time.sleep(0.1)
        # The banner came: every port answers now, without waiting.
        answers = {name: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code for name, port in ports.items()}
        assert answers == dict.fromkeys(SERVICES, 200)
        banner = stdout.read_text()
        for name, port in ports.items():
            assert f"http://127.0.0.1:{port}" in banner, name
        assert banner.count(BANNER) == 1
        # A user's first alert: the log tells its story, one info line per step, with the ids.
        fired = subprocess.run(
            [sys.executable, "-m", "services.cli", "alerts", "fire", "--url", f"http://127.0.0.1:{ports['ingest']}",
             "--token", (tmp_path / "state" / "ingest-token").read_text().strip()],
            capture_output=True, text=True, timeout=30, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")},
        )
        assert fired.returncode == 0, fired.stderr
        story = ["alerts received", "incident opened", "page sent", "delivery sent"]
        deadline = time.monotonic() + 20
        while not all(f'"event": "{line}"' in stderr.read_text() for line in story):
            assert time.monotonic() < deadline, f"the alert's story is incomplete:\n{stderr.read_text()[-3000:]}"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = stderr.read_text()
    assert "Traceback" not in log
    assert _loud_lines(log) == []
    assert "Started server process" not in log  # uvicorn's, once per service with one PID
    assert "kafka topics ready" in log
    told = {r["event"]: r for r in map(json.loads, log.splitlines()) if r["event"] in ("incident opened", "page sent", "delivery sent")}
    assert told["incident opened"]["incident_id"] == told["page sent"]["incident_id"] == told["delivery sent"]["incident_id"] == "INC-1"
    assert told["page sent"]["page_id"] == told["delivery sent"]["page_id"] and told["delivery sent"]["delivery_id"]
    assert {r["vigil_service"] for r in told.values()} == {"incidents", "escalator", "notifier"}
