"""One error shape for every Vigil API: `{"error": <code>, "message": <text>, ...}`."""

from __future__ import annotations

import asyncpg
import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
