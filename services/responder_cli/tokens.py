"""`vigil tokens create|list|revoke`: personal API tokens, through the console's token API
(`{console}/api/v1/tokens`). A token is shown once, when it is created; the console keeps its hash."""

from __future__ import annotations

import typer

from services.responder_cli import render
from services.responder_cli.common import AS_JSON, TOKEN, call, connect, local_zone, now, show, url_option

tokens_app = typer.Typer(help="Your personal API tokens: create, list, revoke.", no_args_is_help=True)
URL = url_option("console")


def created_text(created: dict) -> str:
    return "\n".join([
        f"created token {created.get('id')} ({created.get('name')}, {created.get('role')}"
        + (f", expires {render.when(created['expires_at'], local_zone(), with_zone=True)})" if created.get("expires_at") else ", no expiry)"),
        "It is shown this once; keep it now:",
        f"  {created['token']}",
        "Use it: `vigil login --token <it>`, or `Authorization: Bearer <it>` in scripts.",
    ])


@tokens_app.command("create")
def create(name: str = typer.Argument(..., help="What the token is for, e.g. 'laptop' or 'deploy script'."),
           role: str = typer.Option(None, "--role", help="viewer, responder or admin; at most your own (default: your role)."),
           expires_in_days: int = typer.Option(None, "--expires-in-days", min=1, help="Expire after this many days (default: never)."),
           url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Create a personal API token acting as you (timelines name you)."""
    body = {"name": name, "role": role, "expires_in_days": expires_in_days}
    created = call(connect("console", url, token), "POST", "/tokens", json={k: v for k, v in body.items() if v is not None})
    show(created, as_json, lambda: created_text(created))


@tokens_app.command("list")
def list_tokens(person: str = typer.Option(None, "--person", help="Admin: this person's tokens (default: yours)."),
                everyone: bool = typer.Option(False, "--all", help="Admin: everyone's tokens."),
                url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Your tokens (their prefix only): created, expiry, last use, state."""
    params = {**({"person": person} if person else {}), **({"all": "true"} if everyone else {})}
    items = call(connect("console", url, token), "GET", "/tokens", params=params)
    show(items, as_json, lambda: render.tokens(items, now(), local_zone()))


@tokens_app.command("revoke")
def revoke(token_id: str = typer.Argument(..., help="The token's id (`vigil tokens list`)."),
           url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Revoke a token: every service refuses it within seconds."""
    revoked = call(connect("console", url, token), "DELETE", f"/tokens/{token_id}",
                   missing=f"no token {token_id} of yours: `vigil tokens list` lists them")
    show(revoked, as_json, lambda: f"revoked token {token_id} ({revoked.get('name')}, {revoked.get('person')})")
