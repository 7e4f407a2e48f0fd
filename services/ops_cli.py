"""`vigil report …`, `vigil action-items …` and `vigil records …`: the operations records through the
incident service's HTTP API (never its database). Reports print their Markdown, lists a table (or
"no … records"); `--json` prints the JSON, for scripts.

The API is `--url` / `VIGIL_INCIDENTS_API_URL` / `VIGIL_INCIDENTS_URL`, else the URL `vigil login`
stored (default http://127.0.0.1:8081); the token `--token` / `VIGIL_API_TOKEN`, else the one `vigil
login` stored, else the admin token `vigil dev` keeps in `.local/api-admin-token`."""

from __future__ import annotations

import json
from typing import Any

import typer

from services.record_tables import TABLES, records_table
from services.responder_cli import credentials
from services.responder_cli.client import ApiError, Unreachable, open_client, request
from services.responder_cli.common import local_zone

report_app = typer.Typer(help="Operations reports: daily check, weekly/monthly reviews, incident reports, postmortems, handoffs.",
                         no_args_is_help=True)
action_items_app = typer.Typer(help="Action items: list (overdue), add, update.", no_args_is_help=True)

URL = typer.Option(None, "--url", envvar=["VIGIL_INCIDENTS_API_URL", "VIGIL_INCIDENTS_URL"],
                   help="Incident service URL (default: stored by `vigil login`, else http://127.0.0.1:8081)")
TOKEN = typer.Option(None, "--token", envvar="VIGIL_API_TOKEN",
                     help="API token, responder to write (default: stored by `vigil login`, else .local/api-admin-token)")
AS_JSON = typer.Option(False, "--json", help="Print the JSON instead of the Markdown.")


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _call(url: str | None, token: str | None, method: str, path: str, **kwargs) -> Any:
    try:
        stored = credentials.load()
    except ValueError as exc:
        _fail(str(exc))
    secret = credentials.token_for(token, stored)
    if not secret:
        _fail("no API token: run `vigil login`, pass --token or set VIGIL_API_TOKEN")
    with open_client(credentials.url_for("incidents", url, stored), secret, timeout_s=60) as client:
        try:
            return request(client, method, f"/api/v1{path}", **kwargs)
        except Unreachable as exc:
            _fail(f"cannot reach the incident service: {exc.reason}")
        except ApiError as exc:
            _fail(str(exc))


def _show(result: Any, as_json: bool) -> None:
    if as_json or not isinstance(result, dict | list):
        typer.echo(json.dumps(result, indent=2) if isinstance(result, dict | list) else result)
    elif isinstance(result, dict) and "markdown" in result:
        typer.echo(result["markdown"])
    else:
        typer.echo(json.dumps(result, indent=2))


def _generate(kind: str, body: dict, url, token, as_json: bool) -> None:
    _show(_call(url, token, "POST", f"/reports/{kind}", json={k: v for k, v in body.items() if v is not None}), as_json)


@report_app.command("daily-check")
def daily_check(day: str = typer.Option(None, help="YYYY-MM-DD [default: today in the report zone]"),
                url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Run and store the daily operations check."""
    _generate("daily-check", {"day": day}, url, token, as_json)


@report_app.command("weekly")
def weekly(week_of: str = typer.Option(None, help="any day of the week, YYYY-MM-DD [default: this week]"),
           url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Generate and store the weekly operations review."""
    _generate("weekly-review", {"week_of": week_of}, url, token, as_json)


@report_app.command("monthly")
def monthly(month: str = typer.Option(None, help="YYYY-MM [default: this month]"),
            url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Generate and store the monthly operations review."""
    _generate("monthly-review", {"month": month}, url, token, as_json)


@report_app.command("incident")
def incident(ref: str = typer.Argument(..., help="INC-<n>"), url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """The incident's declaration and resolution records."""
    _show(_call(url, token, "GET", f"/incidents/{ref}/report"), as_json)


@report_app.command("postmortem")
def postmortem(ref: str = typer.Argument(..., help="INC-<n>"), url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """The incident's postmortem."""
    found = _call(url, token, "GET", "/postmortems", params={"incident": ref})
    if not found:
        _fail(f"{ref} has no postmortem")
    _show(found[0], as_json)


@report_app.command("show")
def show(kind: str = typer.Argument(..., help="daily_check, weekly_review or monthly_review"),
         period: str = typer.Argument(None, help="2026-12-01, 2026-W49, 2026-12 [default: the latest]"),
         url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """A stored report."""
    params = {"kind": kind, "limit": 1, **({"period": period} if period else {})}
    found = _call(url, token, "GET", "/reports", params=params)
    if not found:
        _fail(f"no stored {kind}" + (f" for {period}" if period else ""))
    _show(found[0], as_json)


@report_app.command("handoff")
def handoff(from_person: str = typer.Option(..., "--from"), to_person: str = typer.Option(..., "--to"),
            note: str = typer.Option(None), watch: list[str] = typer.Option([], help="a thing to watch; repeatable"),  # noqa: B008
            url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Write the on-call handoff (outgoing engineer)."""
    body = {"from_person": from_person, "to_person": to_person, "note": note, "things_to_watch": list(watch)}
    _show(_call(url, token, "POST", "/handoffs", json=body), as_json)


@report_app.command("complete-handoff")
def complete_handoff(handoff_id: int = typer.Argument(..., help="the drafted handoff's id (in the message you got)"),
                     note: str = typer.Option(None), watch: list[str] = typer.Option([], help="a thing to watch; repeatable"),  # noqa: B008
                     url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Complete the handoff drafted for you at a shift change (outgoing engineer): the prefilled open
    items stay; add a note and the things to watch."""
    body = {"note": note, "things_to_watch": list(watch)}
    _show(_call(url, token, "PUT", f"/handoffs/{handoff_id}", json=body), as_json)


@report_app.command("ack-handoff")
def ack_handoff(handoff_id: int = typer.Argument(...),
                by: str = typer.Option(None, help="the incoming engineer (default: the token's person)"),
                url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Acknowledge a handoff (incoming engineer)."""
    _show(_call(url, token, "POST", f"/handoffs/{handoff_id}/acknowledge", json={"by": by} if by else {}), as_json)


def _item_line(item: dict) -> str:
    flag = " OVERDUE" if item["overdue"] else ""
    source = f" [{item['incident']}]" if item["incident"] else ""
    return f"#{item['id']} {item['priority']} {item['status']:<11} due {item['due_on']}{flag}  {item['owner']}: {item['title']}{source}"


@action_items_app.command("list")
def list_items(overdue: bool = typer.Option(False, help="only open items past their due date"),
               owner: str = typer.Option(None), incident: str = typer.Option(None, help="INC-<n>"),
               url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Action items, due first."""
    params = {"overdue": str(overdue).lower(), **({"owner": owner} if owner else {}), **({"incident": incident} if incident else {})}
    items = _call(url, token, "GET", "/action-items", params=params)
    if as_json:
        _show(items, True)
        return
    for item in items:
        typer.echo(_item_line(item))
    if not items:
        typer.echo("no action items")


@action_items_app.command("add")
def add_item(title: str = typer.Argument(...), owner: str = typer.Option(...), priority: str = typer.Option(..., help="P1, P2 or P3"),
             due: str = typer.Option(None, help="YYYY-MM-DD [default: by priority]"), incident: str = typer.Option(None, help="INC-<n>"),
             url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Create an action item."""
    body = {"title": title, "owner": owner, "priority": priority, "due_on": due, "incident": incident}
    item = _call(url, token, "POST", "/action-items", json={k: v for k, v in body.items() if v is not None})
    _show(item, True) if as_json else typer.echo(_item_line(item))


@action_items_app.command("update")
def update_item(item_id: int = typer.Argument(...), status: str = typer.Option(None, help="open, in_progress, done, wont_do"),
                owner: str = typer.Option(None), priority: str = typer.Option(None), due: str = typer.Option(None),
                title: str = typer.Option(None), url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Update an action item."""
    body = {"status": status, "owner": owner, "priority": priority, "due_on": due, "title": title}
    item = _call(url, token, "PATCH", f"/action-items/{item_id}", json={k: v for k, v in body.items() if v is not None})
    _show(item, True) if as_json else typer.echo(_item_line(item))


records_app = typer.Typer(help="Runbooks, toil, reliability gaps, deployments and maintenance windows.", no_args_is_help=True)
RECORD_KINDS = tuple(TABLES)
WITH_REVIEW = ("runbooks", "toil", "reliability-gaps")  # kinds the API renders as the process's review document


def _kind(kind: str) -> str:
    if kind not in RECORD_KINDS:
        _fail(f"unknown record kind {kind!r}; one of: {', '.join(RECORD_KINDS)}")
    return kind


def _fields(pairs: list[str]) -> dict[str, Any]:
    """`name=value` pairs; a value that is JSON (a number, true, a list) is sent as such."""
    body: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            _fail(f"{pair!r} is not name=value")
        try:
            body[name] = json.loads(value)
        except ValueError:
            body[name] = value
    return body


FIELDS = typer.Argument(None, help="name=value pairs, e.g. name='DB failover' owner=kim next_review_on=2027-01-15")


@records_app.command("list")
def list_records(kind: str = typer.Argument(..., help=", ".join(RECORD_KINDS)),
                 markdown: bool = typer.Option(False, "--markdown", help=f"The review document instead ({', '.join(WITH_REVIEW)})."),
                 url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """The records of one kind as a table (runbooks with their outdated status, toil with monthly totals)."""
    kind = _kind(kind)
    if markdown and as_json:
        _fail("--markdown or --json, not both")
    if markdown:
        if kind not in WITH_REVIEW:
            _fail(f"{kind} have no review document; without --markdown they are shown as a table")
        typer.echo(_call(url, token, "GET", f"/{kind}", params={"format": "markdown"}))
        return
    rows = _call(url, token, "GET", f"/{kind}")
    _show(rows, True) if as_json else typer.echo(records_table(kind, rows, local_zone()))


@records_app.command("add")
def add_record(kind: str = typer.Argument(..., help=", ".join(RECORD_KINDS)), fields: list[str] = FIELDS,
               url: str = URL, token: str = TOKEN) -> None:
    """Create a record (responder)."""
    _show(_call(url, token, "POST", f"/{_kind(kind)}", json=_fields(fields or [])), True)


@records_app.command("update")
def update_record(kind: str = typer.Argument(..., help=", ".join(RECORD_KINDS)), record_id: int = typer.Argument(...),
                  fields: list[str] = FIELDS, url: str = URL, token: str = TOKEN) -> None:
    """Change fields of a record (responder)."""
    _show(_call(url, token, "PATCH", f"/{_kind(kind)}/{record_id}", json=_fields(fields or [])), True)
