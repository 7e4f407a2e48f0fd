"""Running Vigil services in tests: one way to start each of them (the `running_<service>` fixtures
in tests/conftest.py call `start_service`). A service runs for real (uvicorn in a thread, the
session's Kafka broker, the module's PostgreSQL database), on a free port, with the module's topic
prefix, so test modules never read each other's events, and is ready (`/readyz` 200) when the
`with` block starts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.clock import Clock, utc_now
from shared.local.kafka_broker import free_port
from tests.support import ServerThread, wait_for

# One token per role; the actor a token acts under is "<role>-token-<n>", n its place in this list.
TOKENS = {
    "viewer": "test-viewer-token-00000001",
    "responder": "test-responder-token-0002",
    "admin": "test-admin-token-000000003",
}
API_TOKENS = [f"{token}:{role}" for role, token in TOKENS.items()]
INGEST_TOKEN = "test-ingest-token-0000000001"


@dataclass
class Running:
    """A started service: its URL, app, settings, and HTTP clients per role (closed at the end)."""

    server: ServerThread
    app: Any
    settings: Any
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, role: str | None = "admin", *, token: str | None = None, timeout_s: float = 30) -> httpx.Client:
        """A client with that role's API token (`role=None`: no token; `token=`: that one)."""
        secret = token or (TOKENS[role] if role else None)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        client = httpx.Client(base_url=self.url, timeout=timeout_s, headers=headers)
        self._clients.append(client)
        return client


# name -> (module of create_app, settings class path, consumer group setting or None)
SERVICES: dict[str, tuple[str, str, str | None]] = {
    "ingest": ("services.ingest.app", "services.ingest.config:IngestSettings", None),
    "incidents": ("services.incidents.app", "services.incidents.config:IncidentsSettings", "incidents_consumer_group"),
    "escalator": ("services.escalator.app", "services.escalator.config:EscalatorSettings", "escalator_consumer_group"),
    "slo": ("services.slo.app", "services.slo.config:SloSettings", "slo_consumer_group"),
    "notifier": ("services.notifier.app", "services.notifier.config:NotifierSettings", "notifier_consumer_group"),
    "console": ("services.console.app", "services.console.config:ConsoleSettings", None),
}
# The console requires identity keys (it signs what the other services verify); a test that runs a
# service beside it passes the same keys to that one (`identity_keys=IDENTITY_KEYS`).
IDENTITY_KEYS = ["test-identity-key-0000000000000001"]


def _import(path: str) -> Any:
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name) if name else importlib.import_module(module)


def service_settings(name: str, *, bootstrap: str, database_url: str | None, topic_prefix: str, **overrides: Any):
    """The settings a test service runs with: the session broker, the module's database and topic
    prefix, the test tokens, its own consumer group; `overrides` win."""
    app_module, settings_path, group_setting = SERVICES[name]
    values: dict[str, Any] = {"kafka_bootstrap_servers": bootstrap, "topic_prefix": topic_prefix}
    if name == "ingest":  # a database only when given: ingest serves Events v2 with one (running_ingest gives none)
        values.update(ingest_tokens=[INGEST_TOKEN], database_url=database_url, api_tokens=API_TOKENS)
    else:
        values.update(database_url=database_url, api_tokens=API_TOKENS)
    if group_setting:
        values[group_setting] = f"{name}-{uuid.uuid4().hex[:8]}"
    if name == "console":
        values.update(identity_keys=IDENTITY_KEYS, console_cookie_secure=False)
    return _import(settings_path).load(**{**values, **overrides})


@contextmanager
def start_service(
    name: str, settings: Any, *, clock: Clock = utc_now, ready: bool = True, ready_timeout_s: float = 60, **app_options: Any,
) -> Iterator[Running]:
    """Serve `name` built with `settings` until the block ends; `app_options` go to its
    `create_app` (e.g. `run_relay=False`)."""
    create_app: Callable = _import(SERVICES[name][0]).create_app
    app = create_app(settings, clock=clock, **app_options)
    with ServerThread(app, free_port()) as server:
        running = Running(server=server, app=app, settings=settings)
        try:
            if ready:
                with httpx.Client(base_url=server.url, timeout=5) as probe:
                    wait_for(lambda: probe.get("/readyz").status_code == 200, timeout_s=ready_timeout_s,
                             what=f"{name} ready")
            yield running
        finally:
            for client in running._clients:
                client.close()
