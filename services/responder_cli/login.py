"""`vigil login` and `vigil logout`: keep (or forget) the token the `vigil` command sends and the
services' URLs, in the user's config directory (credentials.py says where and how)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import typer

from services.responder_cli import credentials, parse, render
from services.responder_cli.client import ApiError, Unreachable, open_client, request
from services.responder_cli.common import (
    REFUSED, UNREACHABLE, USAGE, Service, attempt, call, connect, fail, failure, local_zone,
)
from services.responder_cli.credentials import Credentials


def urls_of(incidents: str | None, given: dict[str, str | None], stored: Credentials) -> dict[str, str]:
    """Each service's URL: given, else (with --url) the same host at its `vigil dev` port, else the
    stored one, else the local default."""
    urls = {}
    for service in credentials.DEFAULT_URLS:
        explicit = incidents if service == "incidents" else given.get(service)
        if not explicit and incidents:
            explicit = credentials.sibling_url(incidents, service)
        urls[service] = credentials.url_for(service, explicit, stored)
    return urls


def identity_text(token: str) -> str:
    claims = parse.token_claims(token)
    if claims is None:
        return "a service account's token (VIGIL_API_TOKENS)"
    expiry = claims.get("x")
    expires = (f", expires {render.when(datetime.fromtimestamp(expiry, UTC), local_zone(), with_zone=True)}"
               if isinstance(expiry, int) else "")
    return f"{claims.get('p')} ({claims.get('r')}{expires}; token {claims.get('i')})"


def _try_token(service: Service) -> None:
    """Read one incident with the token; refuse to store one the incident service refuses."""
    try:
        attempt(service, "GET", "/incidents", params={"limit": 1})
    except Unreachable as exc:
        fail(f"cannot reach the incident service at {service.url}: {exc.reason}\n"
             "nothing stored (`--no-check` stores the token without trying it)", UNREACHABLE)
    except ApiError as exc:
        if exc.status == 401:
            fail(f"the incident service at {service.url} refused this token: nothing stored", REFUSED)
        fail(*failure(exc, service, None))


def _token_for_person(console_url: str, user: str) -> str:
    """Sign in to the console with name and password (asked for, not echoed) and create a personal
    token for this command: the first token of someone who has only a console account."""
    password = typer.prompt(f"{user}'s console password", hide_input=True)
    body = {"name": f"vigil CLI on {socket.gethostname()}"[:100]}
    with open_client(console_url, None, basic=(user, password), timeout_s=30) as client:
        try:
            created = request(client, "POST", "/api/v1/tokens", json=body)
        except Unreachable as exc:
            fail(f"cannot reach the console at {console_url}: {exc.reason}\nnothing stored", UNREACHABLE)
        except ApiError as exc:
            if exc.status == 401:
                fail(f"the console at {console_url} refused that name and password: nothing stored", REFUSED)
            fail(f"the console refused ({exc.status}): {exc.message}", REFUSED)
    typer.echo(f"created token {created['id']} ({created['name']}) at the console")
    return created["token"]


def login(
    url: str = typer.Option(None, "--url", help=f"The incident service's URL (default: {credentials.DEFAULT_URLS['incidents']}); "
                            "the other services are taken on the same host at their usual ports unless given."),
    escalator_url: str = typer.Option(None, "--escalator-url", help="The escalator's URL."),
    slo_url: str = typer.Option(None, "--slo-url", help="The SLO service's URL."),
    console_url: str = typer.Option(None, "--console-url", help="The console's URL."),
    token: str = typer.Option(None, "--token", help="The API token (default: asked for, not echoed)."),
    user: str = typer.Option(None, "--user", help="Instead of a token: your console name; the password is asked for and "
                             "a personal token is created for this command."),
    check: bool = typer.Option(True, "--check/--no-check", help="Try the token on the incident service before storing it."),
) -> None:
    """Store your API token and the services' URLs for every `vigil` command.

    The token is a personal one (`vgt_…`, from the console's Me page, `vigil tokens create`, or made
    now with --user and your console password) or a service account's; it is tried on the incident
    service, then stored readable by you alone."""
    if token and user:
        fail("either --token or --user, not both", USAGE)
    try:
        stored = credentials.load()
    except ValueError:
        stored = Credentials()  # replaced below
    urls = urls_of(url, {"escalator": escalator_url, "slo": slo_url, "console": console_url}, stored)
    secret = _token_for_person(urls["console"], user) if user else (token or typer.prompt("API token", hide_input=True)).strip()
    if not secret:
        fail("no token given: nothing stored", REFUSED)
    if check:
        _try_token(Service("incidents", urls["incidents"], secret))
    path = credentials.save(Credentials(token=secret, urls=urls))
    typer.echo(f"logged in as {identity_text(secret)}\nsaved in {path} (readable by you alone)")
    for service, service_url in urls.items():
        typer.echo(f"  {service:<10} {service_url}")


def logout(revoke: bool = typer.Option(False, "--revoke", help="Revoke the token at the console too, not just forget it here.")) -> None:
    """Forget the stored token (with --revoke: revoke it everywhere first)."""
    if revoke:
        claims = parse.token_claims(credentials.load().token or "")
        if not claims or not claims.get("i"):
            fail("the stored token is not a personal token: nothing to revoke (nothing forgotten)", REFUSED)
        console = connect("console", None, None)
        call(console, "DELETE", f"/tokens/{claims['i']}", missing=f"the console has no token {claims['i']} (nothing forgotten)")
        typer.echo(f"revoked token {claims['i']}")
    removed = credentials.forget()
    typer.echo(f"logged out: removed {removed}" if removed else f"not logged in (no {credentials.credentials_path()})")
