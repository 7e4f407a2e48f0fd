"""What every responder command shares: the `--url`, `--token` and `--json` options, a call to one
service, and how a failure reads and exits: 0 ok, 1 refused or not found, 2 usage, 3 unreachable."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, NoReturn

import typer

from services.responder_cli import credentials
from services.responder_cli.client import ApiError, Unreachable, open_client, request

OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3
LABELS = {"incidents": "incident service", "escalator": "escalator", "slo": "SLO service", "console": "console",
          "ingest": "ingest"}
UNAVAILABLE = {502, 503, 504}

TOKEN = typer.Option(None, "--token", envvar="VIGIL_API_TOKEN", show_envvar=True,
                     help="API token (default: the one `vigil login` stored)")
AS_JSON = typer.Option(False, "--json", help="Print the API's JSON answer as it is (for scripts).")


def url_option(service: str) -> Any:
    return typer.Option(None, "--url", envvar=f"VIGIL_{service.upper()}_URL", show_envvar=True,
                        help=f"The {LABELS[service]}'s URL (default: stored by `vigil login`, else "
                        f"{credentials.DEFAULT_URLS[service]})")


@dataclass(frozen=True)
class Service:
    name: str
    url: str
    token: str

    @property
    def label(self) -> str:
        return LABELS[self.name]


def fail(message: str, code: int) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def connect(name: str, url: str | None, token: str | None) -> Service:
    try:
        stored = credentials.load()
    except ValueError as exc:
        fail(str(exc), USAGE)
    secret = credentials.token_for(token, stored)
    if not secret:
        fail("no API token: run `vigil login` (or pass --token, set VIGIL_API_TOKEN)", REFUSED)
    return Service(name, credentials.url_for(name, url, stored), secret)


def failure(error: ApiError, service: Service, missing: str | None) -> tuple[str, int]:
    """The sentence and exit code of an error answer; `missing`: what a 404 means here."""
    if error.status == 401:
        return f"your token was refused by the {service.label}: run `vigil login`", REFUSED
    if error.status == 404 and missing:
        return missing, REFUSED
    if error.status in UNAVAILABLE:
        return f"the {service.label} at {service.url} is unavailable ({error.status}): {error.message}", UNREACHABLE
    fields = f" ({error.fields})" if error.fields else ""
    return f"the {service.label} refused ({error.status}): {error.message}{fields}", REFUSED


def attempt(service: Service, method: str, path: str, **kwargs: Any) -> Any:
    """`method /api/v1<path>` on the service: the answer, or client.Unreachable / client.ApiError."""
    with open_client(service.url, service.token, timeout_s=30) as client:
        return request(client, method, f"/api/v1{path}", **kwargs)


def call(service: Service, method: str, path: str, *, missing: str | None = None, **kwargs: Any) -> Any:
    """`attempt`, and a failure ends the command with its message and exit code."""
    try:
        return attempt(service, method, path, **kwargs)
    except Unreachable as exc:
        fail(f"cannot reach the {service.label} at {service.url}: {exc.reason}", UNREACHABLE)
    except ApiError as exc:
        fail(*failure(exc, service, missing))


def show(answer: Any, as_json: bool, text: Callable[[], str]) -> None:
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False) if as_json else text())


def parsed(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A typer callback: the parsed value, or a usage error (exit 2) with the parser's sentence."""

    def callback(value: Any) -> Any:
        if value is None:
            return None
        try:
            return [parse(v) for v in value] if isinstance(value, list | tuple) else parse(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


def now() -> datetime:
    return datetime.now(UTC)


def local_zone() -> tzinfo:
    return datetime.now().astimezone().tzinfo or UTC
