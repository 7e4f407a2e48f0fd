"""Plain-ASGI request plumbing of ingest's hot routes (the Alertmanager webhook, PagerDuty Events
v2's enqueue): headers, a body read under a size limit, a JSON answer, and a route put first in the
FastAPI router and into its OpenAPI document. FastAPI's per-request machinery was about a quarter of
the CPU of a 1-alert notification (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from starlette.routing import Route

Headers = list[tuple[bytes, bytes]]


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


def header(scope: dict, name: bytes) -> str | None:
    """A request header's value (the first; names are lower case in ASGI), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_body(scope: dict, receive, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes while reading (chunked bodies too)."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def respond(send, status: int, body: bytes, headers: Headers = ()) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers],
    })
    await send({"type": "http.response.body", "body": body})


def holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(holds_nul(v) for v in value)


def install_asgi_route(app: FastAPI, path: str, endpoint, document: Callable[[], tuple[dict, dict]],
                       security_schemes: dict | None = None) -> None:
    """Put a plain ASGI POST route first in `app`'s router, and its operation (`document()`: the
    operation and the component schemas it refers to) into the app's OpenAPI document."""
    app.router.routes.insert(0, Route(path, endpoint, methods=["POST"]))
    build_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = build_openapi()
            operation, components = document()
            spec["paths"] = {path: {"post": operation}, **spec.get("paths", {})}
            spec.setdefault("components", {}).setdefault("schemas", {}).update(components)
            if security_schemes:
                spec["components"].setdefault("securitySchemes", {}).update(security_schemes)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
