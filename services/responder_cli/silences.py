"""`vigil silence add|list|expire|alerts`: the incident service's silences. Matchers are written as
Alertmanager's (`service=api`, `env!=prod`, `service=~"api|web"`, `team!~"db.*"`); the service
checks them. The creator is whoever the token belongs to."""

from __future__ import annotations

from datetime import datetime, tzinfo

import typer

from services.responder_cli import parse, render
from services.responder_cli.common import AS_JSON, TOKEN, USAGE, call, connect, fail, local_zone, now, parsed, show, url_option

silence_app = typer.Typer(help="Silence alerts: add, list, expire, and see what a silence held.", no_args_is_help=True)
URL = url_option("incidents")
SILENCE_ID = typer.Argument(..., help="The silence's id (`vigil silence list`).")
HEADERS = ("ID", "STATE", "MATCHERS", "STARTS", "ENDS", "BY", "ALERTS", "COMMENT")


def _instant(text: str) -> datetime:
    return parse.instant(text, now=now(), zone=local_zone())


def silence_row(silence: dict, zone: tzinfo) -> tuple:
    alerts = silence.get("suppressed_alerts")
    held = silence.get("held_alerts")
    counted = None if alerts is None else f"{alerts} ({held} held)" if held else str(alerts)
    return (silence["id"], silence["state"], silence["matchers_text"], render.when(silence["starts_at"], zone),
            render.when(silence["ends_at"], zone), silence["created_by"], counted, silence["comment"])


def silences_text(items: list[dict], zone: tzinfo, *, empty: str) -> str:
    if not items:
        return empty
    return render.table(HEADERS, [silence_row(s, zone) for s in items])


@silence_app.command("add")
def add(
    matchers: list[str] = typer.Argument(..., help='Matchers, all of which must match: service=api env!=prod service=~"api|web"'),  # noqa: B008
    comment: str = typer.Option(..., "--comment", "-c", help="Why: what is being worked on, a ticket."),
    start: str = typer.Option("now", "--from", help="Start: now, +1h, 2026-12-07T09:00 (local), …", callback=parsed(_instant)),
    end: str = typer.Option(None, "--until", help="End: +2h, 2026-12-07T17:00, …", callback=parsed(_instant)),
    length: str = typer.Option(None, "--for", help="Instead of --until: how long, e.g. 2h, 30m.", callback=parsed(parse.duration)),
    url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON,
) -> None:
    """Add a silence: matching alerts that start firing while it is active open no incident and page
    nobody. When it ends, alerts it still holds open (or join) incidents and page."""
    if (end is None) == (length is None):
        fail("say when the silence ends: --until TIME or --for DURATION (one of them)", USAGE)
    body = {"matchers": matchers, "starts_at": start.isoformat(), "ends_at": (end or start + length).isoformat(), "comment": comment}
    created = call(connect("incidents", url, token), "POST", "/silences", json=body)
    show(created, as_json, lambda: f"added silence {created['id']}:\n" + silences_text([created], local_zone(), empty=""))


@silence_app.command("list")
def list_silences(
    state: str = typer.Option(None, "--state", help="active, pending or expired (default: active and pending)."),
    url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON,
) -> None:
    """Silences, latest end first, with the alerts each suppressed (and holds now)."""
    items = call(connect("incidents", url, token), "GET", "/silences", params={"state": state} if state else {})
    if state is None:
        items = [s for s in items if s["state"] != "expired"]
    show(items, as_json, lambda: silences_text(items, local_zone(), empty="no silences" + (f" {state}" if state else " in force")))


@silence_app.command("expire")
def expire(silence_id: int = SILENCE_ID, url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """End a silence now: the alerts it holds that still fire open (or join) incidents and page."""
    expired = call(connect("incidents", url, token), "POST", f"/silences/{silence_id}/expire",
                   missing=f"no silence {silence_id}: `vigil silence list` lists them")
    show(expired, as_json, lambda: f"expired silence {silence_id} ({expired['matchers_text']})")


@silence_app.command("alerts")
def alerts(silence_id: int = SILENCE_ID, url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """The alerts a silence suppressed: held, resolved, or the incident each joined when it ended."""
    items = call(connect("incidents", url, token), "GET", f"/silences/{silence_id}/alerts",
                 missing=f"no silence {silence_id}: `vigil silence list` lists them")
    zone = local_zone()
    rows = [(a["alertname"], a["status"], "held" if a["held"] else a["incident"], render.when(a["starts_at"], zone),
             render.pairs(a["labels"])) for a in items]
    show(items, as_json, lambda: render.table(("ALERT", "STATUS", "NOW", "STARTED", "LABELS"), rows) if rows
         else f"silence {silence_id} has suppressed no alert")
