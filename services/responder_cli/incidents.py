"""`vigil incidents list|show|ack|resolve|note|declare`: the incident service's API for a responder.
An incident is named `INC-42` or `42`; the actor written into its timeline is whoever the token
belongs to."""

from __future__ import annotations

import typer

from services.responder_cli import parse, render
from services.responder_cli.common import AS_JSON, TOKEN, call, connect, local_zone, now, parsed, show, url_option

incidents_app = typer.Typer(help="See and act on incidents: list, show, ack, note, resolve, declare.",
                            no_args_is_help=True)

URL = url_option("incidents")
REF = typer.Argument(..., metavar="INC-N", help="The incident: INC-42 or 42.", callback=parsed(parse.incident_ref))
OPEN = ["investigating", "mitigating"]


def _change(ref: str, action: str, body: dict | None, url: str | None, token: str | None, as_json: bool) -> None:
    """POST one lifecycle action and print the incident as it is now."""
    service = connect("incidents", url, token)
    incident = call(service, "POST", f"/incidents/{ref}/{action}", json=body, missing=f"no incident {ref}")
    show(incident, as_json, lambda: render.incident_summary(incident))


@incidents_app.command("list")
def list_incidents(
    status: list[str] = typer.Option([], "--status", help="investigating, mitigating or resolved; repeatable (default: open ones)"),  # noqa: B008
    show_all: bool = typer.Option(False, "--all", help="Resolved ones too."),
    severity: list[str] = typer.Option([], "--sev", help="1-4 or SEV1-SEV4; repeatable", callback=parsed(parse.severity)),  # noqa: B008
    text: str = typer.Option(None, "--search", "-q", help="Text in the title, impact or root cause."),
    limit: int = typer.Option(50, min=1, max=500, help="At most this many, newest first."),
    url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON,
) -> None:
    """Incidents, newest first: open ones unless --all or --status."""
    statuses = status or ([] if show_all else OPEN)
    params = {"status": statuses, "severity": severity, "limit": limit, **({"q": text} if text else {})}
    page = call(connect("incidents", url, token), "GET", "/incidents", params=params)
    show(page, as_json, lambda: render.incident_list(page, now(), open_only=statuses == OPEN and not severity and not text))


@incidents_app.command("show")
def show_incident(ref: str = REF, url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """One incident: its state, response target, alerts with runbooks, and timeline."""
    incident = call(connect("incidents", url, token), "GET", f"/incidents/{ref}", missing=f"no incident {ref}")
    show(incident, as_json, lambda: render.incident_detail(incident, now(), local_zone()))


@incidents_app.command("ack")
def acknowledge(ref: str = REF, url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Acknowledge: you are on it (stops further escalation; idempotent)."""
    _change(ref, "acknowledge", None, url, token, as_json)


@incidents_app.command("resolve")
def resolve(
    ref: str = REF,
    root_cause: str = typer.Option(None, "--root-cause", help="What caused it."),
    contributing: str = typer.Option(None, "--contributing-factors", help="What made it worse or possible."),
    fix: str = typer.Option(None, "--fix", help="The fix applied."),
    even_if_firing: bool = typer.Option(False, "--even-if-firing",
                                        help="Resolve although its alerts still fire (refused without it)."),
    url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON,
) -> None:
    """Resolve, with the resolution fields (a SEV1/SEV2 gets a postmortem draft from them)."""
    body = {"root_cause": root_cause, "contributing_factors": contributing, "fix_applied": fix,
            "even_if_firing": even_if_firing or None}
    _change(ref, "resolve", {k: v for k, v in body.items() if v is not None}, url, token, as_json)


@incidents_app.command("note")
def note(ref: str = REF, text: str = typer.Argument(..., help="The note, e.g. 'rolled back 1.4.2'."),
         url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Add a note to the timeline."""
    service = connect("incidents", url, token)
    timeline = call(service, "POST", f"/incidents/{ref}/notes", json={"text": text}, missing=f"no incident {ref}")
    show(timeline, as_json, lambda: f"note added to {ref} by {timeline[-1].get('actor') or '?'}" if timeline else f"note added to {ref}")


@incidents_app.command("declare")
def declare(
    title: str = typer.Argument(..., help="What is wrong, e.g. 'checkout returns 500'."),
    severity: str = typer.Option(..., "--sev", help="1-4 or SEV1-SEV4 (1 is the most severe).", callback=parsed(parse.severity)),
    description: str = typer.Option(None, "--description", help="The impact, as known now."),
    commander: str = typer.Option(None, "--commander", help="Who leads the response."),
    label: list[str] = typer.Option([], "--label", help="name=value, e.g. service=checkout; repeatable", callback=parsed(parse.label)),  # noqa: B008
    url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON,
) -> None:
    """Declare an incident (e.g. from a user report); it is escalated like one an alert opened."""
    body = {"title": title, "severity": severity, "description": description, "commander": commander, "labels": dict(label)}
    incident = call(connect("incidents", url, token), "POST", "/incidents", json={k: v for k, v in body.items() if v is not None})
    show(incident, as_json, lambda: f"declared {render.incident_summary(incident)}")
