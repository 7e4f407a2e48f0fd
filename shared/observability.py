"""Logging, tracing, metrics and health endpoints, set up the same way in every service."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from fastapi import APIRouter, Response
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_configured = False
_spans_exported = False


def _add_trace_ids(_logger, _method, event_dict):
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


class _Lines:
    """Where structlog's rendered lines go: one flushed write per line, one writer at a time."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        with self._lock:
            self._stream.write(message + "\n")
            self._stream.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


# What aiokafka logs at warning or error level on every retry while a reachable broker's topics,
# partition leaders or group coordinators are still being set up (a fresh cluster, services that
# create the topics others read starting together). A broker that cannot be reached is not in here.
KAFKA_START_UP_RETRIES = (
    "not found in cluster metadata", "NotLeaderForPartitionError", "LeaderNotAvailableError",
    "GroupCoordinatorNotAvailableError", "CoordinatorLoadInProgressError", "Marking the coordinator dead",
)
START_UP_GRACE_S = 60.0
_grace_until: float | None = None


class KafkaStartUpGrace(logging.Filter):
    """Keeps the process's first `START_UP_GRACE_S` seconds quiet about Kafka clients retrying what
    start-up races make them retry: those aiokafka records are dropped (kept at debug level). After
    the grace period they come through at their own level: then they mean something is wrong."""

    def __init__(self, *, until: float, debug: bool) -> None:
        super().__init__()
        self._until = until
        self._debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.levelno > logging.INFO and record.name.startswith("aiokafka") and time.monotonic() < self._until
                and any(text in record.getMessage() for text in KAFKA_START_UP_RETRIES)):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self._debug
        return True


def configure_logging(*, level: str = "info", fmt: str = "auto", stream=None) -> None:
    """structlog for the whole process: JSON lines, or coloured console output on a TTY.

    Vigil's own lines go from structlog straight to stderr (no stdlib `logging` record in between:
    that path cost ~3x as much per line, and the services log a line per incident opened, page sent
    and notification received). Lines below `level` cost one method call. Standard-library loggers
    (uvicorn, aiokafka) are routed through the same processors and renderer. `stream`: where the
    lines go, stderr by default."""
    global _configured, _grace_until
    stream = stream or sys.stderr
    if _grace_until is None:  # the process's start: its first configuration
        _grace_until = time.monotonic() + START_UP_GRACE_S
    json_output = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    renderer = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    exceptions = structlog.processors.format_exc_info if json_output else (lambda _l, _m, d: d)
    structlog.configure(
        processors=[*shared, exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=lambda *_args, lines=_Lines(stream): lines,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, exceptions, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(KafkaStartUpGrace(until=_grace_until, debug=_LEVELS[level] <= logging.DEBUG))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # aiokafka is chatty about every reconnect attempt, httpx about every request (peers, the CLI);
    # their warnings and errors still come through.
    for chatty in ("aiokafka", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(_LEVELS[level], logging.WARNING))
    logging.getLogger("uvicorn.access").setLevel(max(_LEVELS[level], logging.WARNING))
    _configured = True


def configure_tracing(*, service_name: str, otlp_endpoint: str | None) -> None:
    """An OpenTelemetry tracer provider for the process; spans are exported over OTLP/HTTP when an
    endpoint is configured, and otherwise only used to carry trace ids through logs and Kafka."""
    global _spans_exported
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # one provider per process (`vigil dev` runs every service in one)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        _spans_exported = True
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)


def spans_exported() -> bool:
    """True when this process exports spans (an OTLP endpoint is configured)."""
    return _spans_exported


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})")
_INVALID_TRACE_ID = "0" * 32


def child_traceparent(parent: str | None) -> str:
    """A W3C `traceparent` for a new span under `parent` (a caller's header), or for a new trace
    when there is none or it is malformed: the same ids a recording span would carry, for hot paths
    that only need to pass the trace on and export nothing (see `spans_exported`)."""
    span_id = random.getrandbits(64) or 1
    match = _TRACEPARENT.fullmatch(parent.strip()) if parent else None
    if match and match.group(1) != _INVALID_TRACE_ID:
        return f"00-{match.group(1)}-{span_id:016x}-{match.group(2)}"
    return f"00-{random.getrandbits(128) or 1:032x}-{span_id:016x}-01"


Check = Callable[[], Awaitable[bool]]


def health_router(
    checks: dict[str, Check], *, timeout_s: float = 3.0, died: Callable[[], dict[str, str]] | None = None,
    registries: Sequence[CollectorRegistry] = (REGISTRY,),
) -> APIRouter:
    """`/healthz` (the process is alive), `/readyz` (every dependency in `checks` answers) and
    `/metrics` (Prometheus text format: the series of `registries`, the service's own — see
    shared/metrics.py). With `died`, `/readyz` also names the background tasks that died and why
    (`checks` then holds the check that fails for them)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: Kafka (and Postgres where used) reachable")
    async def readyz(response: Response) -> dict:
        names = list(checks)
        results = await asyncio.gather(*(_run_check(checks[n], timeout_s) for n in names))
        status = dict(zip(names, ("ok" if ok else "unavailable" for ok in results), strict=True))
        ready = all(results)
        response.status_code = 200 if ready else 503
        body = {"status": "ok" if ready else "unavailable", "checks": status}
        if died is not None and (dead := died()):
            body["died"] = dead
        return body

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(b"".join(generate_latest(r) for r in registries), media_type=CONTENT_TYPE_LATEST)

    return router


async def _run_check(check: Check, timeout_s: float) -> bool:
    try:
        return await asyncio.wait_for(check(), timeout_s)
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
