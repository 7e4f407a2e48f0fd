"""A real Alertmanager (Debian's `prometheus-alertmanager`) for end-to-end tests: started on
127.0.0.1 with free ports, clustering off, storage and log in a throw-away directory, and a
generated config whose receivers are webhooks to Vigil ingest, or its PagerDuty Events v2 endpoint
through Alertmanager's native `pagerduty_configs`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from shared.local.kafka_broker import free_port

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
WEBHOOK_PATH = "/api/v1/webhooks/alertmanager"

# The e2e config: the default route goes to RECEIVER with the right token; alerts carrying
# WRONG_TOKEN_LABEL go to WRONG_TOKEN_RECEIVER, which presents a wrong one.
RECEIVER = "vigil"
WRONG_TOKEN_RECEIVER = "vigil-wrong-token"
WRONG_TOKEN_LABEL = ("scenario", "wrong-token")


class AlertmanagerError(RuntimeError):
    pass


def find_binary() -> str:
    """The Alertmanager executable (`$VIGIL_ALERTMANAGER_BIN` wins); fails loudly if there is none:
    an end-to-end test that silently skips is a test nobody runs."""
    explicit = os.environ.get("VIGIL_ALERTMANAGER_BIN")
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise AlertmanagerError(f"VIGIL_ALERTMANAGER_BIN={explicit!r} is not an executable file")
        return explicit
    for name in BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise AlertmanagerError(
        "Alertmanager is not installed (no `prometheus-alertmanager` on PATH): the e2e tests need a "
        "real one. Run `bash scripts/setup.sh` (installs Debian's prometheus-alertmanager) or set "
        "VIGIL_ALERTMANAGER_BIN to an alertmanager executable."
    )


@dataclass(frozen=True)
class WebhookReceiver:
    """A receiver that posts to ingest with `Authorization: Bearer <token>`; alerts carrying the
    label `match` (name, value) are routed to it (None: the default route)."""

    name: str
    url: str
    token: str
    match: tuple[str, str] | None = None
    group_interval: str | None = None

    def receiver_config(self) -> dict:
        return {"name": self.name, "webhook_configs": [{
            "url": self.url, "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": self.token}},
        }]}


@dataclass(frozen=True)
class PagerDutyReceiver:
    """A receiver that speaks PagerDuty Events API v2 (Alertmanager's own `pagerduty_configs`) to
    `url` (Vigil's `/v2/enqueue`) with `routing_key` (a Vigil integration key); `severity` and the
    rest are Alertmanager templates or plain text, as in its configuration."""

    name: str
    url: str
    routing_key: str
    severity: str = "error"
    pd_class: str | None = None
    details: dict[str, str] | None = None
    match: tuple[str, str] | None = None
    group_interval: str | None = None

    def receiver_config(self) -> dict:
        config: dict = {"routing_key": self.routing_key, "url": self.url, "send_resolved": True, "severity": self.severity}
        if self.pd_class:
            config["class"] = self.pd_class
        if self.details is not None:
            config["details"] = self.details
        return {"name": self.name, "pagerduty_configs": [config]}


def render_config(
    receivers: list[WebhookReceiver | PagerDutyReceiver],
    *,
    group_by: list[str],
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
) -> str:
    default = [r for r in receivers if r.match is None]
    if len(default) != 1:
        raise ValueError("exactly one receiver must be the default (match=None)")
    routes = []
    for r in receivers:
        if r.match is None:
            continue
        route: dict = {"matchers": [f'{r.match[0]}="{r.match[1]}"'], "receiver": r.name}
        if r.group_interval:
            route["group_interval"] = r.group_interval
        routes.append(route)
    config = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": default[0].name,
            "group_by": group_by,
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "routes": routes,
        },
        "receivers": [r.receiver_config() for r in receivers],
    }
    return yaml.safe_dump(config, sort_keys=False)


def rfc3339(value: datetime) -> str:
    """Millisecond precision, `Z`: what Prometheus sends, and exact through the whole round trip."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def postable_alert(
    labels: dict[str, str],
    *,
    starts_at: datetime,
    ends_at: datetime | None = None,
    annotations: dict[str, str] | None = None,
    generator_url: str = "",
) -> dict:
    """One element of `POST /api/v2/alerts`."""
    alert: dict = {
        "labels": labels,
        "annotations": annotations or {},
        "startsAt": rfc3339(starts_at),
        "generatorURL": generator_url,
    }
    if ends_at is not None:
        alert["endsAt"] = rfc3339(ends_at)
    return alert


@dataclass
class LocalAlertmanager:
    config_yaml: str
    binary: str = field(default_factory=find_binary)  # first: no temp dir is made when it is missing
    base_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vigil-test-am-")))
    port: int = field(default_factory=free_port)
    keep_files: bool = False  # set when a test failed: the log stays for a look afterwards
    _proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "alertmanager.log"

    @property
    def config_file(self) -> Path:
        return self.base_dir / "alertmanager.yml"

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_file}",
            f"--storage.path={self.base_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}",
            "--cluster.listen-address=",  # no HA: no gossip port, no peer wait before notifying
            "--log.level=debug",
        ]

    def start(self, *, timeout_s: float = 20.0) -> LocalAlertmanager:
        (self.base_dir / "data").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config_yaml)
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.base_dir, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    code = self._proc.returncode
                    self.stop()
                    self.keep_files = True
                    raise AlertmanagerError(f"alertmanager exited with {code}:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        self.keep_files = True
        raise AlertmanagerError(f"alertmanager was not ready in {timeout_s}s:\n{self.log_tail()}")

    def stop(self, *, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def cleanup(self) -> None:
        if not self.keep_files:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 80, width: int = 600) -> str:
        """The end of Alertmanager's log, long lines (debug dumps of whole groups) shortened."""
        try:
            with open(self.log_file, "rb") as f:
                f.seek(max(0, self.log_file.stat().st_size - 256_000))
                text = f.read().decode(errors="replace")
        except OSError as exc:
            return f"(no alertmanager log: {exc})"
        tail = text.splitlines()[-lines:]
        return "\n".join(line if len(line) <= width else line[:width] + " …" for line in tail)

    async def post_alerts(self, client: httpx.AsyncClient, alerts: Iterable[dict]) -> None:
        response = await client.post(f"{self.url}/api/v2/alerts", json=list(alerts))
        if response.status_code != 200:
            raise AlertmanagerError(f"POST /api/v2/alerts answered {response.status_code}: {response.text[:500]}")

    async def alerts(self, client: httpx.AsyncClient, **matchers: str) -> list[dict]:
        """`GET /api/v2/alerts` filtered by label equality: each alert with its `fingerprint`."""
        params = [("filter", f'{k}="{v}"') for k, v in matchers.items()]
        response = await client.get(f"{self.url}/api/v2/alerts", params=params)
        response.raise_for_status()
        return response.json()


@contextmanager
def running_alertmanager(config_yaml: str) -> Iterator[LocalAlertmanager]:
    """A started Alertmanager with this configuration, stopped (and its files removed unless a test
    failed) afterwards. No Alertmanager installed fails the test, saying how to install one."""
    import pytest

    try:
        am = LocalAlertmanager(config_yaml)
    except AlertmanagerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        am.start()
        yield am
    finally:
        am.stop()
        am.cleanup()
