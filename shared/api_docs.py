"""Every service's `/docs`: Swagger UI served from this machine, never from a CDN, so the page works
without internet. Its files come from the npm package `swagger-ui-dist` (package.json at the
repository root, installed into node_modules/ by `make setup` / `npm ci`; the image copies them).

`VIGIL_ASSETS_DIR` names the node_modules directory (default: the repository's). Without the
package, `/docs` answers 503 with a page saying how to install it; `/openapi.json` works either way.
The OpenAPI document declares the bearer scheme (shared/api_auth.py), hence the Authorize button."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS_ENV = "VIGIL_ASSETS_DIR"
PACKAGE = "swagger-ui-dist"
DOCS, ASSETS = "/docs", "/docs/assets"
# What the page loads; the package's other files (its demo index.html loads the Petstore from the
# internet) are not served.
JS, CSS, FAVICON = "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"
SERVED = frozenset({JS, CSS, FAVICON})


def assets_dir() -> Path:
    """The node_modules directory holding swagger-ui-dist: `VIGIL_ASSETS_DIR`, else the repository's."""
    configured = os.environ.get(ASSETS_ENV)
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "node_modules"


class _SwaggerFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope):
        if path not in SERVED:
            raise HTTPException(404)
        return await super().get_response(path, scope)


def missing_page(package_dir: Path) -> HTMLResponse:
    message = (f"This page shows the API with Swagger UI, whose files are not installed here ({package_dir} is missing). "
               "Install them with `make setup` (or `npm ci` at the repository root), or set VIGIL_ASSETS_DIR to a "
               "node_modules directory that holds swagger-ui-dist, and restart the service. "
               "The OpenAPI document itself is at /openapi.json.")
    return HTMLResponse(f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>API documentation unavailable"
                        f"</title></head><body><h1>API documentation unavailable</h1><p>{escape(message)}</p></body></html>",
                        status_code=503, headers={"Retry-After": "3600"})


def install_api_docs(app: FastAPI, *, title: str, node_modules: Path) -> None:
    """`GET /docs` (Swagger UI on the app's OpenAPI document) and its files under `/docs/assets/`.
    The app must be built with `docs_url=None` (FastAPI's own page loads from a CDN)."""
    package_dir = node_modules / PACKAGE
    present = all((package_dir / name).is_file() for name in SERVED)
    if present:
        app.mount(ASSETS, _SwaggerFiles(directory=package_dir), name="swagger-ui")

    @app.get(DOCS, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        if not present:
            return missing_page(package_dir)
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"), title=f"{title} — API",
            swagger_js_url=f"{root}{ASSETS}/{JS}", swagger_css_url=f"{root}{ASSETS}/{CSS}",
            swagger_favicon_url=f"{root}{ASSETS}/{FAVICON}",
            swagger_ui_parameters={"persistAuthorization": True},  # the token survives a reload
        )
