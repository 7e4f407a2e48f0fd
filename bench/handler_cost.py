"""CPU time per webhook request inside the ingest process, without the network and without Kafka.

`python -m bench.handler_cost [--shape single|batch50] [--requests N] [--fastapi-telemetry on|off|no-operation-spans]`

Builds the real ingest app (`create_app`, tracing configured as in a deployment) and calls it
as ASGI in-process, N times, timing process CPU. The Kafka producer is replaced by a stub that
still encodes every event (`shared.events.encode`, with the traceparent) but sends nothing, so
the number is the cost of HTTP framework + auth + validation + events + encoding + metrics +
tracing, i.e. everything of a request except uvicorn's socket I/O and aiokafka. Being CPU time
of one process, it is far less sensitive to other load on the machine than the load benchmark.

`--fastapi-telemetry` is a what-if: FastAPI's built-in OpenTelemetry instrumentation becomes
active once a tracer provider is configured (ingest configures one); `off` and
`no-operation-spans` flip it in this process only, to show what it costs.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.payloads import bodies
from services.ingest.app import CE_SOURCE, create_app
from services.ingest.config import IngestSettings
from shared.events import encode
from shared.kafka import EventProducer, current_traceparent
from shared.observability import configure_logging

TOKEN = "bench-handler-cost-token-0123456789"


async def _stub_publish(self, events, *, timeout_s, traceparent=None):  # noqa: ARG001 - same signature as publish
    traceparent = traceparent or current_traceparent()
    for event in events:
        encode(event, ce_source=CE_SOURCE, traceparent=traceparent)


def _no_start(self) -> None:
    return None


async def measure(shape: str, requests: int, telemetry: str) -> dict:
    EventProducer.start = _no_start  # type: ignore[method-assign] - this process only
    EventProducer.publish = _stub_publish  # type: ignore[method-assign]
    settings = IngestSettings(ingest_tokens=[TOKEN], log_level="info", log_format="json")
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    app = create_app(settings)
    if telemetry == "off":
        app._telemetry["tracing"] = False  # noqa: SLF001 - what-if only
    elif telemetry == "no-operation-spans":
        app._telemetry["operation_spans"] = False  # noqa: SLF001 - what-if only

    body = bodies(shape)[0]
    state: dict = {}
    startup: asyncio.Queue = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def lifespan_send(message: dict) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}, startup.get, lifespan_send)
    )
    await asyncio.wait_for(started.wait(), 10)
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"user-agent", b"Alertmanager/0.25.0"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"content-type", b"application/json"),
    ]

    async def one() -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/api/v1/webhooks/alertmanager",
            "raw_path": b"/api/v1/webhooks/alertmanager", "query_string": b"", "root_path": "",
            "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
            "state": dict(state),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if messages:
                return messages.pop()
            return {"type": "http.disconnect"}

        statuses: list[int] = []

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        if statuses != [200]:
            raise RuntimeError(f"expected 200, got {statuses}")

    for _ in range(min(200, requests)):  # warm caches
        await one()
    cpu0 = time.process_time()
    for _ in range(requests):
        await one()
    cpu = time.process_time() - cpu0
    await startup.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 10)
    per_request = cpu / requests
    alerts = 1 if shape == "single" else 50
    return {
        "shape": shape,
        "fastapi_telemetry": telemetry,
        "us_per_request": round(per_request * 1e6, 1),
        "us_per_alert": round(per_request * 1e6 / alerts, 1),
        "one_core_req_per_s_bound": round(1 / per_request),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("single", "batch50"), default="single")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--fastapi-telemetry", choices=("on", "off", "no-operation-spans"), default="on")
    args = parser.parse_args(argv)
    import uvloop

    result = uvloop.run(measure(args.shape, max(1, min(args.requests, 1_000_000)), args.fastapi_telemetry))
    print(
        f"{result['shape']:<8} fastapi-telemetry={result['fastapi_telemetry']:<19} "
        f"{result['us_per_request']:>8.1f} us CPU/request  {result['us_per_alert']:>7.1f} us/alert  "
        f"(bound on one core without I/O: {result['one_core_req_per_s_bound']:,} req/s)"
    )


if __name__ == "__main__":
    main()
