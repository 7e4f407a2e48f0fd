"""The `vigil` command: `vigil dev` runs the whole system locally, `vigil serve <service>` one service."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from services.ops_cli import action_items_app, records_app, report_app  # HTTP clients only (httpx, typer)
from services.responder_cli.alerts import alerts_app
from services.responder_cli.heartbeats import heartbeats_app
from services.responder_cli.incidents import incidents_app
from services.responder_cli.integration_keys import integration_keys_app
from services.responder_cli.login import login, logout
from services.responder_cli.oncall import oncall, overrides_app
from services.responder_cli.slo import slo_app
from services.responder_cli.silences import silence_app
from services.responder_cli.tokens import tokens_app
from services.console.users_cli import users_app  # the console's accounts (PostgreSQL, no HTTP)
from services.env_cli import env_app  # compose's .env (files only)
from services.cli_help import literal_help
from shared.settings import BaseServiceSettings, SettingsError

app = typer.Typer(help="Vigil: alerts in, incidents, escalations, pages and SLOs out.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(action_items_app, name="action-items")
app.add_typer(records_app, name="records")
app.command("login")(login)
app.command("logout")(logout)
app.add_typer(alerts_app, name="alerts")
app.add_typer(incidents_app, name="incidents")
app.command("oncall")(oncall)
app.add_typer(overrides_app, name="overrides")
app.add_typer(slo_app, name="slo")
app.add_typer(silence_app, name="silence")
app.add_typer(tokens_app, name="tokens")
app.add_typer(users_app, name="users")
app.add_typer(env_app, name="env")
app.add_typer(integration_keys_app, name="integration-keys")
app.add_typer(heartbeats_app, name="heartbeats")


@dataclass(frozen=True)
class ServiceSpec:
    """How to build one service: its settings class, its app factory and which setting is its port."""

    load_settings: Callable[[], BaseServiceSettings]
    create_app: Callable[[BaseServiceSettings], object]
    port: Callable[[BaseServiceSettings], int]
    gc_thresholds: tuple[int, int, int] | None = None  # for a process that runs this service alone


def _ingest() -> ServiceSpec:
    from services.ingest.app import GC_THRESHOLDS, create_app
    from services.ingest.config import IngestSettings

    return ServiceSpec(IngestSettings.load, create_app, lambda s: s.ingest_port, GC_THRESHOLDS)


def _incidents() -> ServiceSpec:
    from services.incidents.app import create_app
    from services.incidents.config import IncidentsSettings

    return ServiceSpec(IncidentsSettings.load, create_app, lambda s: s.incidents_port)


def _escalator() -> ServiceSpec:
    from services.escalator.app import create_app
    from services.escalator.config import EscalatorSettings

    return ServiceSpec(EscalatorSettings.load, create_app, lambda s: s.escalator_port)


def _slo() -> ServiceSpec:
    from services.slo.app import GC_THRESHOLDS, create_app
    from services.slo.config import SloSettings

    return ServiceSpec(SloSettings.load, create_app, lambda s: s.slo_port, GC_THRESHOLDS)


def _notifier() -> ServiceSpec:
    from services.notifier.app import create_app
    from services.notifier.config import NotifierSettings

    return ServiceSpec(NotifierSettings.load, create_app, lambda s: s.notifier_port)


def _console() -> ServiceSpec:
    from services.console.app import create_app
    from services.console.config import ConsoleSettings

    return ServiceSpec(ConsoleSettings.load, create_app, lambda s: s.console_port)


# Every service that exists; `vigil dev` starts all of them.
SERVICES: dict[str, Callable[[], ServiceSpec]] = {
    "ingest": _ingest, "incidents": _incidents, "escalator": _escalator, "slo": _slo, "notifier": _notifier,
    "console": _console,
}


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def serve_one(name: str) -> None:
    from shared.runtime import Listener, configure_process, run, serve, tune_gc

    if name not in SERVICES:
        _fail(f"unknown service {name!r}; one of: {', '.join(SERVICES)}")
    spec = SERVICES[name]()
    try:
        settings = spec.load_settings()
    except SettingsError as exc:
        _fail(str(exc))
    configure_process(settings, service_name=f"vigil-{name}")
    tune_gc(spec.gc_thresholds)
    run(serve([Listener(name, spec.create_app(settings), settings.host, spec.port(settings))]))


@app.command("serve")
def serve_command(service: str = typer.Argument(..., help=f"one of: {', '.join(SERVICES)}")) -> None:
    """Run one service (what a container runs). Configuration comes from VIGIL_* variables."""
    serve_one(service)


def _dev_token(state_dir: Path, name: str) -> str:
    """A local token, kept in .local so configured clients (Alertmanager, scripts) keep working."""
    path = state_dir / name
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


RECEIVER_SNIPPET = """\
# Alertmanager receiver for this Vigil (alertmanager.yml):
receivers:
  - name: vigil
    webhook_configs:
      - url: {url}
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


@app.command("dev")
def dev(
    state_dir: Path = typer.Option(Path(".local"), help="Where the local broker and database keep their data."),
    kafka_port: int = typer.Option(9092, help="Port of the local Kafka broker."),
    postgres_port: int = typer.Option(55432, help="Port of the local PostgreSQL server."),
    mail_port: int = typer.Option(1025, help="SMTP port of the local mail sink (every page's e-mail goes there)."),
    mail_viewer_port: int = typer.Option(8025, help="Port of the mail sink's web page."),
) -> None:
    """Run the whole system locally in the foreground: a real Kafka broker (KRaft) and PostgreSQL
    unless VIGIL_KAFKA_BOOTSTRAP_SERVERS / VIGIL_DATABASE_URL point elsewhere, then every service.
    Without VIGIL_NOTIFIER_SMTP_HOST, a local mail sink receives every e-mail the notifier sends,
    shown at http://127.0.0.1:8025. Ctrl-C stops everything cleanly; data stays in --state-dir."""
    from shared.local.kafka_broker import LocalKafka
    from shared.local.mail_sink import MailSink
    from shared.local.postgres_server import LocalPostgres
    from shared.observability import configure_logging
    from shared.runtime import Listener, configure_process, run, tune_gc

    configure_logging(level=os.environ.get("VIGIL_LOG_LEVEL", "info"), fmt=os.environ.get("VIGIL_LOG_FORMAT", "auto"))
    state_dir.mkdir(parents=True, exist_ok=True)
    kafka = postgres = mail = None
    try:
        if not os.environ.get("VIGIL_KAFKA_BOOTSTRAP_SERVERS"):
            kafka = LocalKafka(state_dir / "kafka", port=kafka_port)
            kafka.start()
            os.environ["VIGIL_KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
        _prepare_kafka()
        if not os.environ.get("VIGIL_DATABASE_URL"):
            postgres = LocalPostgres(state_dir / "postgres", port=postgres_port)
            postgres.start()
            os.environ["VIGIL_DATABASE_URL"] = postgres.url
        if not os.environ.get("VIGIL_INGEST_TOKENS") and not os.environ.get("VIGIL_INGEST_ALLOW_UNAUTHENTICATED"):
            os.environ["VIGIL_INGEST_TOKENS"] = _dev_token(state_dir, "ingest-token")
        if not os.environ.get("VIGIL_API_TOKENS"):
            os.environ["VIGIL_API_TOKENS"] = _dev_token(state_dir, "api-admin-token") + ":admin"
        # The escalator clears lapsed acknowledgements through the local incident service.
        os.environ.setdefault("VIGIL_ESCALATOR_INCIDENTS_URL", f"http://127.0.0.1:{os.environ.get('VIGIL_INCIDENTS_PORT', '8081')}")
        os.environ.setdefault("VIGIL_ESCALATOR_INCIDENTS_TOKEN", os.environ["VIGIL_API_TOKENS"].split(",")[0].rpartition(":")[0])
        # The operations reports read the local SLO service, escalator and ingest.
        for var, port_var, port in (("VIGIL_INCIDENTS_SLO_URL", "VIGIL_SLO_PORT", "8083"),
                                    ("VIGIL_INCIDENTS_ESCALATOR_URL", "VIGIL_ESCALATOR_PORT", "8082"),
                                    ("VIGIL_INCIDENTS_INGEST_URL", "VIGIL_INGEST_PORT", "8080")):
            os.environ.setdefault(var, f"http://127.0.0.1:{os.environ.get(port_var, port)}")
        os.environ.setdefault("VIGIL_INCIDENTS_PEER_TOKEN", os.environ["VIGIL_API_TOKENS"].split(",")[0].rpartition(":")[0])
        mail = _notifier_environment(state_dir, mail_port, mail_viewer_port, MailSink)
        first_admin = _console_environment(state_dir)

        listeners = []
        for name, make_spec in SERVICES.items():
            spec = make_spec()
            try:
                settings = spec.load_settings()
            except SettingsError as exc:
                _fail(f"{name}: {exc}")
            configure_process(settings, service_name="vigil")
            listeners.append(Listener(name, spec.create_app(settings), settings.host, spec.port(settings)))
        # One process for every service, so one set of thresholds for all of them: ingest's (young
        # collections every 20,000 allocations), not the SLO consumer's extreme.
        tune_gc(SERVICES["ingest"]().gc_thresholds)
        if os.environ.get("VIGIL_LOG_LEVEL", "info") != "debug":
            # uvicorn's start-up and shutdown lines, once per service (with one PID): the banner says it.
            logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        run(_serve_and_announce(listeners, first_admin))
    finally:
        if mail is not None:
            mail.stop()
        if kafka is not None:
            kafka.stop()
        if postgres is not None:
            postgres.stop()


def _prepare_kafka() -> None:
    """Every topic created and the broker settled before the services start (shared/local/kafka_ready.py)."""
    import asyncio

    from shared.local.kafka_ready import prepare_kafka

    try:
        settings = BaseServiceSettings.load()
    except SettingsError as exc:
        _fail(str(exc))
    try:
        asyncio.run(prepare_kafka(settings))
    except TimeoutError as exc:
        _fail(f"{exc} (VIGIL_KAFKA_BOOTSTRAP_SERVERS={','.join(settings.kafka_bootstrap_servers)})")


async def _serve_and_announce(listeners: list, first_admin: tuple[str, str] | None, *, warn_after_s: float = 90.0) -> None:
    """Serve every service; print the banner once every one of them answers its /readyz."""
    import asyncio

    import structlog

    from shared.local.readiness import readyz_url, wait_ready
    from shared.runtime import serve

    async def announce() -> None:
        urls = {item.name: readyz_url(item.host, item.port) for item in listeners}
        if waiting := await wait_ready(urls, timeout_s=warn_after_s):
            structlog.get_logger("vigil.dev").warning("services not ready yet", waiting=waiting, after_s=warn_after_s)
            await wait_ready(urls, timeout_s=float("inf"))
        _print_banner(listeners, first_admin)

    announcing = asyncio.create_task(announce())
    try:
        await serve(listeners)
    finally:
        announcing.cancel()


def _notifier_environment(state_dir: Path, mail_port: int, mail_viewer_port: int, mail_sink_class):
    """The notifier's local settings: the local mail sink (started here, returned) unless an SMTP
    server is configured, links to itself signed with a kept key, acting through the incident service."""
    mail = None
    if not os.environ.get("VIGIL_NOTIFIER_SMTP_HOST"):
        mail = mail_sink_class(smtp_port=mail_port, http_port=mail_viewer_port).start()
        os.environ.update(VIGIL_NOTIFIER_SMTP_HOST="127.0.0.1", VIGIL_NOTIFIER_SMTP_PORT=str(mail.smtp_port),
                          VIGIL_NOTIFIER_SMTP_SECURITY="none", VIGIL_DEV_MAIL_URL=mail.http_url)
    port = os.environ.get("VIGIL_NOTIFIER_PORT", "8084")
    os.environ.setdefault("VIGIL_NOTIFIER_PUBLIC_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("VIGIL_NOTIFIER_LINK_KEYS", _dev_token(state_dir, "notifier-link-key"))
    os.environ.setdefault("VIGIL_NOTIFIER_WEBHOOK_KEY", _dev_token(state_dir, "notifier-webhook-key"))
    os.environ.setdefault("VIGIL_NOTIFIER_INCIDENTS_URL", f"http://127.0.0.1:{os.environ.get('VIGIL_INCIDENTS_PORT', '8081')}")
    os.environ.setdefault("VIGIL_NOTIFIER_INCIDENTS_TOKEN", os.environ["VIGIL_API_TOKENS"].split(",")[0].rpartition(":")[0])
    return mail


def _console_environment(state_dir: Path) -> tuple[str, str] | None:
    """Identity keys (kept in the state directory) for every service, the console's view of the local
    services, cookies over plain http://127.0.0.1, and a first admin account when there is none:
    returns its (name, password), to be shown once."""
    import asyncio

    from services.console.users_cli import ensure_first_admin

    os.environ.setdefault("VIGIL_IDENTITY_KEYS", _dev_token(state_dir, "identity-key"))
    for service, port in (("INCIDENTS", "8081"), ("ESCALATOR", "8082"), ("SLO", "8083"), ("NOTIFIER", "8084")):
        os.environ.setdefault(f"VIGIL_CONSOLE_{service}_URL", f"http://127.0.0.1:{os.environ.get(f'VIGIL_{service}_PORT', port)}")
    os.environ.setdefault("VIGIL_CONSOLE_COOKIE_SECURE", "false")  # http://127.0.0.1: a Secure cookie would not be sent
    # Pages (and their e-mails) link to the incident in the console.
    os.environ.setdefault("VIGIL_ESCALATOR_PUBLIC_URL", f"http://127.0.0.1:{os.environ.get('VIGIL_CONSOLE_PORT', '8085')}")
    password = asyncio.run(ensure_first_admin(os.environ["VIGIL_DATABASE_URL"], name="admin"))
    return ("admin", password) if password else None


def _print_banner(listeners: list, first_admin: tuple[str, str] | None = None) -> None:
    out = sys.stdout
    out.write("\nVigil is running. Ctrl-C stops everything.\n\n")
    for item in listeners:
        out.write(f"  {item.name:<10} http://{item.host}:{item.port}   (docs: /docs, health: /readyz)\n")
    ingest = next((i for i in listeners if i.name == "ingest"), None)
    if ingest is not None:
        url = f"http://{ingest.host}:{ingest.port}/api/v1/webhooks/alertmanager"
        tokens = os.environ.get("VIGIL_INGEST_TOKENS", "").split(",")
        out.write(f"\n  Ingest URL:   {url}\n  Ingest token: {tokens[0]}\n\n")
        out.write(RECEIVER_SNIPPET.format(url=url, token=tokens[0]))
        out.write(f"\n  PagerDuty Events v2: http://{ingest.host}:{ingest.port}/v2/enqueue   (Alertmanager's pagerduty_configs "
                  "`url:`; a routing key: `vigil integration-keys create <name> --service <service>`; docs/events-v2.md)\n")
    api_token = os.environ.get("VIGIL_API_TOKENS", "").split(",")[0].rpartition(":")[0]
    incidents = next((i for i in listeners if i.name == "incidents"), None)
    if api_token and incidents is not None:
        out.write(f"\n  API token (admin): {api_token}\n  e.g. curl -H 'Authorization: Bearer {api_token}' "
                  f"http://{incidents.host}:{incidents.port}/api/v1/incidents\n")
    console = next((i for i in listeners if i.name == "console"), None)
    if console is not None:
        out.write(f"\n  Console:  http://{console.host}:{console.port}/\n")
        if first_admin:
            out.write(f"  First admin account: {first_admin[0]}   password: {first_admin[1]}   (shown this once)\n")
        else:
            out.write("  Sign in with your console account.\n")
        # `vigil users` works on the console's database directly: it needs its URL.
        out.write(f"  People:   VIGIL_DATABASE_URL={os.environ.get('VIGIL_DATABASE_URL')} vigil users add <name>\n"
                  "            (`vigil users password <name>` with the same variable sets a new password)\n")
    if os.environ.get("VIGIL_DEV_MAIL_URL"):
        out.write(f"\n  Mail:     {os.environ['VIGIL_DEV_MAIL_URL']}   (every e-mail the notifier sends; pages of the example people)\n")
    out.write(f"\n  Kafka:    {os.environ.get('VIGIL_KAFKA_BOOTSTRAP_SERVERS')}\n")
    out.write(f"  Postgres: {os.environ.get('VIGIL_DATABASE_URL')}\n\n")
    out.flush()


literal_help(app)  # after every registration above: help shown as written, "[default: …]" too

if __name__ == "__main__":
    app()
