"""The console in a real browser: Debian's Chromium (`/usr/bin/chromium`, never a downloaded one)
driven by Playwright, against one stack for the whole package — a real Alertmanager, ingest, the
incident service, the escalator (the example on-call configuration), the SLO service and the
console with its peers, on the session's Kafka broker and PostgreSQL — seeded with a few incidents,
an acknowledgement and SLO metrics, so the pages look like a working day.

Playwright's sync API is used: while its browser is open, no asyncio test or fixture may run in this
package (Playwright keeps its own loop running on the main thread); Kafka is read from a worker
thread instead (`run_async`)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import httpx
import pytest

from tests.browser.seed import PEOPLE, seed
from tests.conftest import create_database
from tests.e2e.alertmanager import RECEIVER, WEBHOOK_PATH, AlertmanagerError, LocalAlertmanager, WebhookReceiver, render_config
from tests.services import IDENTITY_KEYS, INGEST_TOKEN, TOKENS, Running, service_settings, start_service

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # Debian's chromium, never a download
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000


@dataclass
class Stack:
    """The running services, admin API clients, and what the seed made (incident numbers by role)."""

    console: Running
    incidents: Running
    escalator: Running
    slo: Running
    alertmanager: LocalAlertmanager
    database_url: str
    bootstrap: str
    topic_prefix: str
    seeded: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, list] = field(default_factory=dict)  # a signed-in person's, once they signed in

    @cached_property
    def admin_api(self) -> httpx.Client:
        return self.incidents.client("admin")

    def post_alerts(self, alerts: list[dict]) -> None:
        response = httpx.post(f"{self.alertmanager.url}/api/v2/alerts", json=alerts, timeout=10)
        assert response.status_code == 200, response.text


def _start_all(started: list, bootstrap: str, database_url: str, prefix: str, wanted: dict[str, dict]) -> dict[str, Running]:
    """Start these services at once (each waits for Kafka and PostgreSQL on its own); each one that
    started goes into `started`, for `_stop_all`."""
    managers = {name: start_service(name, service_settings(name, bootstrap=bootstrap, database_url=database_url,
                                                           topic_prefix=prefix, **overrides))
                for name, overrides in wanted.items()}
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = {name: pool.submit(manager.__enter__) for name, manager in managers.items()}
    started.extend(managers[name] for name, future in futures.items() if future.exception() is None)
    return {name: future.result() for name, future in futures.items()}  # raises the first failure


def _stop_all(started: list) -> None:
    """Stop them at once too: each one's consumers leave their groups, which takes a while."""
    if started:
        with ThreadPoolExecutor(len(started)) as pool:
            for manager in started:
                pool.submit(manager.__exit__, None, None, None)


@pytest.fixture(scope="package")
def console_stack(kafka_broker, postgres_server) -> Iterator[Stack]:
    bootstrap = kafka_broker.bootstrap_servers
    database_url = create_database(postgres_server)
    prefix = f"t{uuid.uuid4().hex[:10]}."
    keys = {"identity_keys": IDENTITY_KEYS}
    started: list = []
    with ExitStack() as services:
        services.callback(_stop_all, started)
        first = _start_all(started, bootstrap, database_url, prefix, {
            "ingest": {}, "incidents": keys, "slo": {"slo_evaluate_interval_s": 1, **keys}})
        ingest, incidents, slo = first["ingest"], first["incidents"], first["slo"]
        escalator = _start_all(started, bootstrap, database_url, prefix, {"escalator": {
            "escalator_incidents_url": incidents.url, "escalator_incidents_token": TOKENS["admin"], **keys}})["escalator"]
        console = _start_all(started, bootstrap, database_url, prefix, {"console": {
            "console_incidents_url": incidents.url, "console_escalator_url": escalator.url, "console_slo_url": slo.url}})["console"]
        config = render_config([WebhookReceiver(RECEIVER, f"{ingest.url}{WEBHOOK_PATH}", INGEST_TOKEN)],
                               group_by=["alertname"], group_wait="0s", group_interval="1s", repeat_interval="1h")
        try:
            alertmanager = LocalAlertmanager(config)
        except AlertmanagerError as exc:
            pytest.fail(str(exc), pytrace=False)
        services.callback(alertmanager.cleanup)
        services.callback(alertmanager.stop)
        alertmanager.start()
        stack = Stack(console, incidents, escalator, slo, alertmanager, database_url, bootstrap, prefix)
        stack.seeded = seed(stack)
        yield stack


@pytest.fixture(scope="package")
def chromium():
    """One Chromium for the package (contexts are cheap; a browser start is not)."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses to run as root
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="package")
def signed_in(console_stack, chromium):
    """`signed_in(name, **context_options)`: a new browser context with that person signed in through
    the form (once per person; later contexts reuse the cookies)."""
    opened = []

    def context(name: str | None, **options):
        ctx = chromium.new_context(base_url=console_stack.console.url, **options)
        ctx.set_default_timeout(TIMEOUT_MS)  # a page that fails says so soon, not after Playwright's 30 s
        opened.append(ctx)
        if name is None:
            return ctx
        if name not in console_stack.cookies:
            page = ctx.new_page()
            sign_in(page, name)
            page.close()
            console_stack.cookies[name] = ctx.cookies()
        else:
            ctx.add_cookies(console_stack.cookies[name])
        return ctx

    yield context
    for ctx in opened:
        ctx.close()


def sign_in(page, name: str) -> None:
    """Through the sign-in form, as a person does."""
    page.goto("/signin")
    page.fill("#name", name)
    page.fill("#password", PEOPLE[name][1])
    page.click("[data-testid=sign-in]")
    page.wait_for_url("**/incidents")


@pytest.fixture(scope="session")
def shots_dir() -> Path:
    """Where screenshots go: `VIGIL_SCREENSHOTS_DIR` (make screenshots: docs/console), else a temporary
    directory, so `make test` never changes the working tree."""
    chosen = os.environ.get("VIGIL_SCREENSHOTS_DIR")
    path = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="vigil-console-shots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path
