"""End-to-end fixtures: Vigil ingest served for real against the session Kafka broker (on the test
module's topic prefix, so a module's Kafka reads see its own alerts), and a real Alertmanager whose
webhook receivers point at it. Alertmanager's log tail is attached to the report of any e2e test
that fails."""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.alertmanager import (
    RECEIVER,
    WEBHOOK_PATH,
    WRONG_TOKEN_LABEL,
    WRONG_TOKEN_RECEIVER,
    LocalAlertmanager,
    WebhookReceiver,
    render_config,
    running_alertmanager,
)
from tests.services import INGEST_TOKEN


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


@pytest.fixture(scope="module")
def ingest(running_ingest):
    """Ingest on a free port and the module's topics, ready (producer connected, topics created)
    before any test posts."""
    with running_ingest() as svc:
        yield svc


@pytest.fixture(scope="module")
def alertmanager(ingest):
    """A real Alertmanager: the default route goes to ingest with the right bearer token; alerts
    labelled scenario="wrong-token" go to ingest with a wrong one (notified once: its
    group_interval outlasts the test, and 4xx answers are not retried)."""
    webhook = f"{ingest.url}{WEBHOOK_PATH}"
    config = render_config(
        [
            WebhookReceiver(RECEIVER, webhook, INGEST_TOKEN),
            WebhookReceiver(
                WRONG_TOKEN_RECEIVER, webhook, "wrong-" + secrets.token_urlsafe(24),
                match=WRONG_TOKEN_LABEL, group_interval="10m",
            ),
        ],
        group_by=["alertname"], group_wait="1s", group_interval="1s", repeat_interval="1h",
    )
    with running_alertmanager(config) as am:
        yield am
