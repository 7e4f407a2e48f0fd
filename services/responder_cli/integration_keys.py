"""`vigil integration-keys create|list|revoke`: the routing keys of PagerDuty Events v2 senders,
through ingest's API (`{ingest}/api/v1/integration-keys`, admin). A key is shown once, when it is
made; ingest keeps its SHA-256 (docs/events-v2.md)."""

from __future__ import annotations

import typer

from services.responder_cli import render
from services.responder_cli.common import AS_JSON, TOKEN, call, connect, local_zone, show, url_option

integration_keys_app = typer.Typer(
    help="Integration keys for PagerDuty Events v2 senders (Alertmanager's pagerduty_configs, …): create, list, revoke.",
    no_args_is_help=True)
URL = url_option("ingest")


def _labels_option(values: list[str] | None) -> dict[str, str]:
    labels = {}
    for value in values or []:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{value!r} is not name=value")
        labels[name] = text
    return labels


def created_text(created: dict, ingest_url: str) -> str:
    return "\n".join([
        f"created integration key {created['id']} ({created['name']}: service {created['service']}"
        + "".join(f", {k}={v}" for k, v in created["labels"].items()) + ")",
        "It is shown this once; keep it now:",
        f"  {created['key']}",
        "Alertmanager (alertmanager.yml):",
        "  pagerduty_configs:",
        f"    - url: {ingest_url}{created.get('enqueue_path', '/v2/enqueue')}",
        f"      routing_key: {created['key']}",
        f"Any other PagerDuty Events v2 sender: POST {ingest_url}/v2/enqueue with this routing_key.",
    ])


def keys_text(items: list[dict]) -> str:
    if not items:
        return "no integration keys: `vigil integration-keys create <name> --service <service>` makes one"
    zone = local_zone()
    rows = ((k["id"], k["name"], k["service"], ",".join(f"{n}={v}" for n, v in k["labels"].items()), f"…{k['key_hint']}",
             render.when(k["created_at"], zone), k["created_by"],
             f"revoked {render.when(k['revoked_at'], zone)}" if k.get("revoked_at") else "in use") for k in items)
    return render.table(("ID", "NAME", "SERVICE", "LABELS", "KEY", "CREATED", "BY", "STATE"), rows)


@integration_keys_app.command("create")
def create(name: str = typer.Argument(..., help="What sends with it, e.g. 'alertmanager-prod'; its acknowledgements name it."),
           service: str = typer.Option(..., "--service", help="The `service` label of its alerts."),
           label: list[str] = typer.Option(None, "--label", help="name=value: another label of its alerts; repeatable."),
           url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Make an integration key (admin). The key is printed this once."""
    target = connect("ingest", url, token)
    created = call(target, "POST", "/integration-keys", json={"name": name, "service": service, "labels": _labels_option(label)})
    show(created, as_json, lambda: created_text(created, target.url))


@integration_keys_app.command("list")
def list_keys(revoked: bool = typer.Option(False, "--revoked", help="Include revoked keys."),
              url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """The integration keys (their last 4 characters, never the keys)."""
    items = call(connect("ingest", url, token), "GET", "/integration-keys", params={"revoked": str(revoked).lower()})
    show(items, as_json, lambda: keys_text(items))


@integration_keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key's id (`vigil integration-keys list`)."),
           url: str = URL, token: str = TOKEN, as_json: bool = AS_JSON) -> None:
    """Revoke a key: every ingest replica refuses it within seconds."""
    revoked = call(connect("ingest", url, token), "DELETE", f"/integration-keys/{key_id}",
                   missing=f"no integration key {key_id}: `vigil integration-keys list --revoked` lists them")
    show(revoked, as_json, lambda: f"revoked integration key {key_id} ({revoked.get('name')}, service {revoked.get('service')})")
