"""`vigil heartbeats add|list|pause|resume|delete|ping`: heartbeat monitors (dead-man's switches)
through ingest's API (`{ingest}/api/v1/heartbeats`; viewer to list, responder to change). A monitor's
ping token is shown once, when it is made (docs/heartbeats.md)."""

from __future__ import annotations

import uuid

import typer

from services.responder_cli import render
from services.responder_cli.common import (
    AS_JSON,
    TOKEN,
    call,
    connect,
    local_zone,
    parsed,
    show,
    url_option,
)
from services.responder_cli.parse import duration, label

heartbeats_app = typer.Typer(
    help="Heartbeat monitors: an alert when a job stops pinging (add, list, pause, resume, delete, ping).",
    no_args_is_help=True)
URL = url_option("ingest")
MONITOR = typer.Argument(..., help="The monitor's name or id (`vigil heartbeats list`).")


def _seconds(text: str) -> int:
    return int(duration(text).total_seconds())


def _monitor_id(target, monitor: str) -> str:
    """The id of the monitor named `monitor` (or `monitor` itself when it is an id)."""
    try:
        return str(uuid.UUID(monitor))
    except ValueError:
        pass
    for item in call(target, "GET", "/heartbeats"):
        if item["name"] == monitor:
            return item["id"]
    raise typer.BadParameter(f"no heartbeat monitor named {monitor!r}: `vigil heartbeats list` lists them")


def schedule_text(m: dict) -> str:
    return f"every {render_seconds(m['period_s'])}" if m.get("period_s") else f"cron {m['cron']} ({m['timezone']})"


def render_seconds(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def created_text(m: dict, ingest_url: str) -> str:
    ping = f"{ingest_url}{m['ping_path']}"
    return "\n".join([
        f"created heartbeat monitor {m['id']} ({m['name']}: service {m['service']}, {schedule_text(m)}, "
        f"grace {render_seconds(m['grace_s'])}, severity {m['severity']})",
        "Its ping token is shown this once; keep it now:",
        f"  {m['token']}",
        "At the end of the job (crontab):",
        f"  ... && curl -fsS -m 10 --retry 5 -H 'Authorization: Bearer {m['token']}' {ping}",
        "It is 'new' until the first ping; its alert fires when a ping is later than the schedule plus the grace time.",
    ])


def monitors_text(items: list[dict]) -> str:
    if not items:
        return "no heartbeat monitors: `vigil heartbeats add <name> --service <service> --every 5m` makes one"
    zone = local_zone()
    rows = ((m["id"], m["name"], m["service"], m["status"] + (" (running)" if m.get("running") else ""), schedule_text(m),
             render_seconds(m["grace_s"]), render.when(m["last_ping_at"], zone), render.when(m["down_at"], zone))
            for m in items)
    return render.table(("ID", "NAME", "SERVICE", "STATUS", "SCHEDULE", "GRACE", "LAST PING", "DOWN AT"), rows)


@heartbeats_app.command("add")
def add(name: str = typer.Argument(..., help="Unique; the `monitor` label of its alert, e.g. 'nightly-backup'."),
        service: str = typer.Option(..., "--service", help="The `service` label of its alert."),
        every: str = typer.Option(None, "--every", callback=parsed(_seconds), help="A ping every so long: 5m, 1h, 1d."),
        cron: str = typer.Option(None, "--cron", help="Or a ping at each time of this cron expression, e.g. '30 2 * * *'."),
        zone: str = typer.Option("UTC", "--tz", help="The cron expression's IANA time zone, e.g. Europe/Berlin."),
        grace: str = typer.Option("5m", "--grace", callback=parsed(_seconds),
                                  help="How late a ping may be before the alert fires."),
        severity: str = typer.Option("high", "--severity", help="critical, high, medium or low."),
        label_: list[str] = typer.Option(None, "--label", callback=parsed(label), help="name=value; repeatable."),
        summary: str = typer.Option(None, "--summary", help="What its alert says when a ping is missed (the incident's title)."),
        url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Make a monitor (responder). Its ping token is printed this once."""
    if (every is None) == (cron is None):
        raise typer.BadParameter("give --every or --cron")
    body = {"name": name, "service": service, "grace_s": grace, "severity": severity, "labels": dict(label_ or []),
            "summary": summary}
    body.update({"period_s": every} if every is not None else {"cron": cron, "timezone": zone})
    target = connect("ingest", url, token)
    created = call(target, "POST", "/heartbeats", json=body)
    show(created, as_json, lambda: created_text(created, target.url))


@heartbeats_app.command("list")
def list_monitors(url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """The monitors and their status now (new, up, late, down, paused)."""
    items = call(connect("ingest", url, token), "GET", "/heartbeats")
    show(items, as_json, lambda: monitors_text(items))


def _act(monitor: str, path: str, method: str, url: str | None, token: str | None) -> dict | None:
    target = connect("ingest", url, token)
    return call(target, method, f"/heartbeats/{_monitor_id(target, monitor)}{path}",
                missing=f"no heartbeat monitor {monitor}: `vigil heartbeats list` lists them")


@heartbeats_app.command("pause")
def pause(monitor: str = MONITOR, url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """No expectations and no alert until resumed or pinged; a firing alert resolves."""
    answer = _act(monitor, "/pause", "POST", url, token)
    show(answer, as_json, lambda: f"paused heartbeat monitor {answer['name']}")


@heartbeats_app.command("resume")
def resume(monitor: str = MONITOR, url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Resume a paused monitor: it is 'new' again until its next ping."""
    answer = _act(monitor, "/resume", "POST", url, token)
    show(answer, as_json, lambda: f"resumed heartbeat monitor {answer['name']} (new until its next ping)")


@heartbeats_app.command("delete")
def delete(monitor: str = MONITOR, url: str = URL, token: str = TOKEN) -> None:
    """Delete a monitor; an alert firing for it resolves."""
    _act(monitor, "", "DELETE", url, token)
    typer.echo(f"deleted heartbeat monitor {monitor}")


@heartbeats_app.command("ping")
def ping(monitor: str = MONITOR,
         start: bool = typer.Option(False, "--start", help="A run started (it must finish within the grace time)."),
         failed: bool = typer.Option(False, "--fail", help="A run failed: the alert fires at once."),
         url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Ping a monitor with your API token (responder): a run finished, or with --start / --fail."""
    if start and failed:
        raise typer.BadParameter("--start or --fail, not both")
    answer = _act(monitor, "/start" if start else "/fail" if failed else "/ping", "POST", url, token)
    zone = local_zone()
    show(answer, as_json, lambda: f"{monitor}: {answer['status']}"
         + (f", down at {render.when(answer['down_at'], zone)} without a ping" if answer.get("down_at") else ""))
