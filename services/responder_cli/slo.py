"""`vigil slo list|show`: the SLO service's dashboard table and one SLO's budgets and burn rates."""

from __future__ import annotations

from urllib.parse import quote

import typer

from services.responder_cli import parse, render
from services.responder_cli.common import AS_JSON, TOKEN, USAGE, call, connect, fail, local_zone, show, url_option

slo_app = typer.Typer(help="SLOs: the error budgets left and what is burning.", no_args_is_help=True)
URL = url_option("slo")


@slo_app.command("list")
def list_slos(service: str = typer.Option(None, "--service", help="Only this service's SLOs."),
              url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Every SLO: target, current value, met, the rolling 30-day budget left, alerts firing."""
    answer = call(connect("slo", url, token), "GET", "/slos", params={"service": service} if service else {})
    show(answer, as_json, lambda: render.slo_list(answer))


@slo_app.command("show")
def show_slo(slo: str = typer.Argument(..., help="<service>:<slo> as `vigil slo list` shows it, or the service."),
             name: str = typer.Argument(None, help="The SLO's name when the first argument is the service."),
             url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """One SLO: its budgets (30 days and calendar month) and every burn-rate rule."""
    try:
        service_name, slo_name = parse.slo_id(slo, name)
    except ValueError as exc:
        fail(str(exc), USAGE)
    detail = call(connect("slo", url, token), "GET", f"/slos/{quote(service_name, safe='')}/{quote(slo_name, safe='')}",
                  missing=f"no SLO {service_name}:{slo_name}: `vigil slo list` shows the evaluated ones")
    show(detail, as_json, lambda: render.slo_detail(detail, local_zone()))
