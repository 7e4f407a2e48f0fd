"""`vigil alerts fire`: a test alert posted to ingest exactly as Alertmanager posts one (webhook
payload v4), to see it go through: ingest → an incident → a page → an e-mail. `--resolved` sends the
resolve Alertmanager would send for it (same labels, same start), which closes the incident's alert."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from services.responder_cli import credentials
from services.responder_cli.common import USAGE, Service, call, fail, now, url_option

alerts_app = typer.Typer(help="Test alerts: send one through ingest as Alertmanager would.", no_args_is_help=True)

DEV_INGEST_TOKEN = Path(".local/ingest-token")  # written by `vigil dev`
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert


def webhook_payload(*, labels: dict[str, str], summary: str, starts_at: datetime, resolved_at: datetime | None) -> dict:
    """One alert in a webhook notification (v4), as a real Alertmanager groups it by `alertname`."""
    status = "firing" if resolved_at is None else "resolved"
    alert = {
        "status": status, "labels": labels,
        "annotations": {"summary": summary, "description": "Sent by `vigil alerts fire` to try Vigil out."},
        "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
        "endsAt": ZERO_TIME if resolved_at is None else resolved_at.isoformat().replace("+00:00", "Z"),
        "generatorURL": "",
    }
    group = {"alertname": labels["alertname"]}
    return {
        "version": "4", "status": status, "receiver": "vigil", "truncatedAlerts": 0,
        "groupKey": '{}:{alertname="%s"}' % labels["alertname"], "groupLabels": group,
        "commonLabels": labels, "commonAnnotations": alert["annotations"], "externalURL": "http://alertmanager.local:9093",
        "alerts": [alert],
    }


def _started_path() -> Path:
    return credentials.config_dir() / "test-alerts.json"


def _starts(labels: dict[str, str], *, firing_now: datetime | None) -> datetime:
    """The start of the test alert with `labels`: now when it fires (kept), the kept one when it resolves."""
    path, key = _started_path(), json.dumps(labels, sort_keys=True)
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        kept = {}
    if firing_now is not None:
        kept[key] = firing_now.isoformat()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(kept, indent=1))
        return firing_now
    if key not in kept:
        fail("no test alert with these labels was fired from here: fire it first (without --resolved)", USAGE)
    return datetime.fromisoformat(kept[key])


def _ingest_token(explicit: str | None) -> str:
    if explicit:
        return explicit
    if DEV_INGEST_TOKEN.is_file():
        return DEV_INGEST_TOKEN.read_text().strip()
    fail("no ingest token: pass --token or set VIGIL_INGEST_TOKEN (`vigil dev` keeps one in .local/ingest-token)", USAGE)


@alerts_app.command("fire")
def fire(
    name: str = typer.Option("VigilTestAlert", "--name", help="The alert's `alertname`."),
    severity: str = typer.Option("critical", "--severity", help="critical, high, warning, info…: its SEV follows."),
    service: str = typer.Option("checkout", "--service", help="The `service` label."),
    summary: str = typer.Option("Checkout answers 5xx to 12% of requests", "--summary", help="Its summary annotation."),
    resolved: bool = typer.Option(False, "--resolved", help="Send its resolve instead (same labels, same start)."),
    url: str = url_option("ingest"),
    token: str = typer.Option(None, "--token", envvar="VIGIL_INGEST_TOKEN", show_envvar=True,
                              help="An ingest token (default: .local/ingest-token, kept by `vigil dev`)."),
) -> None:
    """Send a test alert to ingest, as Alertmanager would (webhook payload v4)."""
    labels = {"alertname": name, "severity": severity, "service": service, "env": "dev"}
    at = now().replace(microsecond=0)
    starts_at = _starts(labels, firing_now=None if resolved else at)
    payload = webhook_payload(labels=labels, summary=summary, starts_at=starts_at, resolved_at=at if resolved else None)
    try:
        stored = credentials.load()  # the ingest URL `vigil login` kept, if any
    except ValueError:
        stored = credentials.Credentials()
    ingest = Service("ingest", credentials.url_for("ingest", url, stored), _ingest_token(token))
    answer = call(ingest, "POST", "/webhooks/alertmanager", json=payload)
    typer.echo(f"{name} ({severity}, service {service}) {'resolved' if resolved else 'firing'}: "
               f"ingest accepted {answer.get('alerts', 1)} alert at {ingest.url}")
