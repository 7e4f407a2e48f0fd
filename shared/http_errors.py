"""One error shape for every Vigil API: `{"error": <code>, "message": <text>, ...}`."""

from __future__ import annotations

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, TypeAdapter
from starlette.exceptions import HTTPException  # FastAPI's own 400 (a body it cannot read), 404, 405 too

from shared.kafka import MessageTooLarge, ProducerUnavailable

log = structlog.get_logger("vigil.http")
RETRY_AFTER_S = 5
# A dependency that is down or restarting, not a bug of the request: PostgreSQL refusing or
# dropping connections (a restart, a failover, too many clients), a pool connection that died
# under the route, Kafka not acknowledging, a call that ran out of time.
UNAVAILABLE = (
    OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.TooManyConnectionsError, ProducerUnavailable,
)
LOCAL_FILE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
# A value of the request the database refuses: PostgreSQL's data exceptions (a NUL character in
# text, a number out of range) and asyncpg's own check of a query argument (an id beyond 64 bits).
REFUSED_VALUES = (asyncpg.exceptions.DataError, asyncpg.exceptions._base.DataError)


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of every error answer (some add fields of their own)."""

    model_config = ConfigDict(extra="allow")
    error: str
    message: str
    fields: list[FieldError] | None = None


ERRORS = {
    400: "The body cannot be read (not UTF-8, not JSON or YAML)",
    401: "A valid API token is required (`Authorization: Bearer <token>`)",
    403: "The token's role is below what this needs",
    404: "No such resource",
    409: "Refused: the change does not fit the resource's state",
    413: "The body is too large",
    422: "Not a valid request (`fields` names each offending field), or a value the database does not accept",
    503: "A dependency (PostgreSQL or Kafka) is unavailable: retry after `Retry-After` seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict]:
    """The OpenAPI `responses` of these error answers, for a router's or a route's `responses=`."""
    return {code: {"model": Problem, "description": ERRORS[code]} for code in codes}


def request_body(body_type: object) -> dict:
    """The `openapi_extra` of a route that reads its JSON body itself (to limit its size while
    reading, or to take YAML too): the body is a `body_type`. The schema is inlined: an operation's
    schema cannot carry `$defs` of its own (pydantic's nested models; not for recursive ones)."""
    schema = TypeAdapter(body_type).json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: object) -> object:
        if isinstance(node, dict):
            if str(node.get("$ref", "")).startswith("#/$defs/"):
                target = defs[node["$ref"].removeprefix("#/$defs/")]
                return inline({**target, **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def field_path(loc: tuple) -> str:
    """`("body", "alerts", 3, "startsAt")` → `alerts[3].startsAt` (the "body" prefix dropped)."""
    path = ""
    for part in loc:
        if part == "body" and not path:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def validation_fields(errors: list[dict]) -> list[dict]:
    return [{"field": field_path(tuple(e["loc"])), "message": e["msg"]} for e in errors[:50]]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": "error", "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        message = "the request is not valid JSON" if any(e["type"] == "json_invalid" for e in errors) else "invalid request"
        return JSONResponse(
            {"error": "invalid_request", "message": message, "fields": validation_fields(errors)}, status_code=422
        )

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, LOCAL_FILE_ERRORS):  # our own files, not a dependency: a bug, said as one
            log.error("internal error", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
            return JSONResponse({"error": "internal", "message": "internal error"}, status_code=500)
        log.warning("a dependency is unavailable; answering 503", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
        return JSONResponse(
            {"error": "unavailable", "message": "a dependency (PostgreSQL or Kafka) is unavailable; retry later"},
            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    async def refused_by_database(request: Request, exc: Exception) -> JSONResponse:
        log.info("a value the database does not accept; answering 422", path=request.url.path, error=str(exc))
        return JSONResponse(
            {"error": "invalid_request", "message": f"a value is not accepted: {str(exc).splitlines()[0][:200]}"},
            status_code=422,
        )

    async def too_large(_request: Request, exc: MessageTooLarge) -> JSONResponse:
        return JSONResponse({"error": "too_large", "message": str(exc)}, status_code=413)

    app.add_exception_handler(MessageTooLarge, too_large)
    for exc_class in UNAVAILABLE:
        app.add_exception_handler(exc_class, unavailable)
    for exc_class in REFUSED_VALUES:  # before InterfaceError in the MRO: checked first
        app.add_exception_handler(exc_class, refused_by_database)
