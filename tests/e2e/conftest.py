"""End-to-end fixtures: Vigil ingest served for real against the session Kafka broker, and a real
Alertmanager whose webhook receivers point at it. Alertmanager's log tail is attached to the report
of any e2e test that fails."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest

from services.ingest.app import create_app
from services.ingest.config import IngestSettings
from shared.local.kafka_broker import free_port
from tests.e2e.alertmanager import (
    RECEIVER,
    WEBHOOK_PATH,
    WRONG_TOKEN_LABEL,
    WRONG_TOKEN_RECEIVER,
    AlertmanagerError,
    LocalAlertmanager,
    WebhookReceiver,
    render_config,
)
from tests.support import ServerThread


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    am = getattr(item, "funcargs", {}).get("alertmanager")
    if isinstance(am, LocalAlertmanager):
        am.keep_files = True
        state = "running" if am.running else "not running"
        report.sections.append((f"alertmanager log tail ({am.log_file}, {state})", am.log_tail()))


def wait_ready(url: str, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout_s}s: {last}")


@pytest.fixture(scope="module")
def ingest_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def ingest(kafka_broker, ingest_token):
    """Ingest on a free port, ready (producer connected, topics created) before any test posts."""
    settings = IngestSettings.load(kafka_bootstrap_servers=kafka_broker.bootstrap_servers, ingest_tokens=[ingest_token])
    with ServerThread(create_app(settings), free_port()) as server:
        wait_ready(f"{server.url}/readyz", timeout_s=30)
        yield server


@pytest.fixture(scope="module")
def alertmanager(ingest, ingest_token):
    """A real Alertmanager: the default route goes to ingest with the right bearer token; alerts
    labelled scenario="wrong-token" go to ingest with a wrong one (notified once: its
    group_interval outlasts the test, and 4xx answers are not retried)."""
    webhook = f"{ingest.url}{WEBHOOK_PATH}"
    config = render_config(
        [
            WebhookReceiver(RECEIVER, webhook, ingest_token),
            WebhookReceiver(
                WRONG_TOKEN_RECEIVER, webhook, "wrong-" + secrets.token_urlsafe(24),
                match=WRONG_TOKEN_LABEL, group_interval="10m",
            ),
        ],
        group_by=["alertname"], group_wait="1s", group_interval="1s", repeat_interval="1h",
    )
    try:
        am = LocalAlertmanager(config)
    except AlertmanagerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        am.start()
        yield am
    finally:
        am.stop()
        am.cleanup()
