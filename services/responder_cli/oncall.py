"""`vigil oncall` and `vigil overrides add|remove|list`: the escalator's on-call API. Times are
`now`, `+2h`, `2026-12-07`, `2026-12-07T09:00` (local time) or with an offset; shown in local time."""

from __future__ import annotations

from datetime import datetime

import typer

from services.responder_cli import parse, render
from services.responder_cli.common import (
    AS_JSON, TOKEN, USAGE, call, connect, fail, local_zone, now, parsed, show, url_option,
)

overrides_app = typer.Typer(help="Cover someone's shift: list, add, remove overrides.", no_args_is_help=True)
URL = url_option("escalator")
SCHEDULE = typer.Argument(..., help="The schedule, e.g. platform (see `vigil oncall`).")


def _instant(text: str) -> datetime:
    return parse.instant(text, now=now(), zone=local_zone())


def oncall(
    schedule: str = typer.Option(None, "--schedule", "-s", help="Only this schedule (default: every one)."),
    at: str = typer.Option(None, "--at", help="When: now, +8h, 2026-12-07T09:00 (local), …", callback=parsed(_instant)),
    url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON,
) -> None:
    """Who is on call now, or --at a time.

    Primary and backup of every schedule; during a handoff overlap both people are shown: both are paged."""
    params = {**({"schedule": schedule} if schedule else {}), **({"at": at.isoformat()} if at else {})}
    missing = f"no schedule {schedule!r}: `vigil oncall` lists them" if schedule else None
    entries = call(connect("escalator", url, token), "GET", "/oncall", params=params, missing=missing)
    show(entries, as_json, lambda: render.oncall(entries, local_zone()))


@overrides_app.command("list")
def list_overrides(schedule: str = SCHEDULE, url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """The schedule's overrides that are not over yet."""
    items = call(connect("escalator", url, token), "GET", f"/schedules/{schedule}/overrides", missing=f"no schedule {schedule!r}")
    show(items, as_json, lambda: render.overrides(schedule, items, local_zone()))


@overrides_app.command("add")
def add_override(
    schedule: str = SCHEDULE,
    person: str = typer.Argument(..., help="Who covers ('' for nobody: a deliberate gap)."),
    start: str = typer.Option("now", "--from", help="Start: now, +1h, 2026-12-07T09:00, …", callback=parsed(_instant)),
    end: str = typer.Option(None, "--until", help="End: +8h, 2026-12-07T17:00, …", callback=parsed(_instant)),
    length: str = typer.Option(None, "--for", help="Instead of --until: how long, e.g. 8h, 2d.", callback=parsed(parse.duration)),
    tier: str = typer.Option("primary", "--tier", help="primary or backup."),
    url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON,
) -> None:
    """Add an override: PERSON covers a shift.

    PERSON covers SCHEDULE's --tier from --from until --until (or --for): they are paged instead of
    whoever is scheduled, in escalations already running too."""
    if (end is None) == (length is None):
        fail("say when the override ends: --until TIME or --for DURATION (one of them)", USAGE)
    body = {"tier": tier, "person": person, "start_at": start.isoformat(), "end_at": (end or start + length).isoformat()}
    override = call(connect("escalator", url, token), "POST", f"/schedules/{schedule}/overrides", json=body,
                    missing=f"no schedule {schedule!r}: `vigil oncall` lists them")
    show(override, as_json, lambda: f"added override {override['id']} on {schedule}:\n"
         + render.table(render.OVERRIDE_HEADERS, [render.override_row(override, local_zone())]))


@overrides_app.command("remove")
def remove_override(schedule: str = SCHEDULE, override_id: int = typer.Argument(..., help="The override's id (`vigil overrides list`)."),
                    url: str = URL, token: str = TOKEN) -> None:
    """Remove an override: the scheduled person is on call again."""
    call(connect("escalator", url, token), "DELETE", f"/schedules/{schedule}/overrides/{override_id}",
         missing=f"no override {override_id} on {schedule!r}: `vigil overrides list {schedule}` lists them")
    typer.echo(f"removed override {override_id} from {schedule}")
