"""The composition root of the console: nothing is created at import time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
import structlog
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.console import repository, routes, service
from services.console.config import ConsoleSettings
from services.console.live import IncidentFeed, LiveIncidents
from services.console.pages import incidents, me, oidc, oncall, operations, signin, silences, slos
from services.console.peers import Peers
from services.console.sessions import CookiePolicy
from services.console.throttle import LoginLimit
from services.console.web import Pages, install_page_errors
from shared.clock import Clock, utc_now
from shared.events import Topic
from shared.service import Runtime, ServiceSpec, build_app

log = structlog.get_logger("vigil.console")
MIGRATIONS = Path(__file__).parent / "migrations"
STATIC = Path(__file__).parent / "static"
# The front-end packages' files the pages load (package.json at the repository root; npm ci).
VENDOR = {"htmx.min.js": "htmx.org/dist/htmx.min.js", "htmx-ext-sse.min.js": "htmx-ext-sse/dist/sse.min.js"}

SPEC = ServiceSpec(
    name="console", title="Vigil console", ce_source=service.CE_SOURCE,
    topics=(Topic.IDENTITY, Topic.INCIDENTS),
    description="The web console for people: sign-in and sessions, personal API tokens, and the incident pages, "
    "acting through the other services' APIs as the signed-in person.",
    routers=(routes.router, signin.router, oidc.router, incidents.router, oncall.router, slos.router, operations.router, silences.router, me.router), schema=repository.SCHEMA, migrations=MIGRATIONS,
)


@dataclass
class ConsoleContext:
    pool: asyncpg.Pool
    clock: Clock
    settings: ConsoleSettings
    peers: Peers
    live: LiveIncidents
    pages: Pages
    login_limit: LoginLimit
    cookies: CookiePolicy
    signing_key: bytes  # the first identity key: signs session assertions and new tokens


def create_app(settings: ConsoleSettings, *, clock: Clock = utc_now, run_relay: bool = True) -> FastAPI:
    missing = [name for name, path in VENDOR.items() if not (settings.console_assets_dir / path).is_file()]
    if missing:
        log.warning("front-end packages are not installed (run scripts/setup.sh, or npm ci): pages work, but do not "
                    "update live", missing=missing, assets_dir=str(settings.console_assets_dir))
    if not settings.console_incidents_url:
        log.warning("VIGIL_CONSOLE_INCIDENTS_URL is not set: the incident pages say so instead of showing incidents")
    key = settings.identity_key_bytes()[0]
    login_limit = LoginLimit(settings.console_login_max_failures, timedelta(seconds=settings.console_login_window_s))

    async def start(rt: Runtime) -> dict:
        peers = Peers(settings.peer_urls(), key=key, clock=clock, timeout_s=settings.console_peer_timeout_s)
        rt.on_stop(peers.close)
        live = LiveIncidents()
        feed = IncidentFeed(settings, live)
        rt.work.start("incident-feed", feed.run, feed.stop)
        rt.work.every("housekeeping", lambda: service.housekeeping(rt.pool, now=clock(), failure_window=login_limit.window),
                      interval_s=600, timeout_s=60)
        ctx = ConsoleContext(
            pool=rt.pool, clock=clock, settings=settings, peers=peers, live=live, pages=Pages(clock),
            login_limit=login_limit, signing_key=key,
            cookies=CookiePolicy(secure=settings.console_cookie_secure,
                                 lifetime=timedelta(seconds=settings.console_session_lifetime_s)),
        )
        rt.app.state.console = ctx
        return {"console": ctx}

    app = build_app(SPEC, settings, start=start, clock=clock, run_relay=run_relay)
    install_page_errors(app)

    @app.get("/static/vendor/{name}", include_in_schema=False)
    async def vendor(name: str) -> FileResponse:
        if name not in VENDOR or not (path := settings.console_assets_dir / VENDOR[name]).is_file():
            raise HTTPException(404, detail={"error": "not_found", "message": f"{name} is not installed (npm ci)"})
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
