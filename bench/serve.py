"""One server under test, in its own process: `python -m bench.serve {ingest,ceiling,incidents,escalator} --port P`.

Both run under the same uvicorn settings: one worker, uvloop, httptools, no access log,
127.0.0.1 only. Ingest is the real app (`create_app(IngestSettings.load(...))`), configured from
the VIGIL_* environment the benchmark sets (broker address, bearer token) and with the logging and
tracing set-up a deployed ingest has (`configure_process`). The incident service is the real app too,
configured the same way (broker, database URL, API token, consumer group); its lifespan runs the
migrations and starts the consumer loops and the outbox relay. SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn


def build_app(name: str, port: int):
    if name == "ingest":
        from services.ingest.app import GC_THRESHOLDS, create_app
        from services.ingest.config import IngestSettings
        from shared.runtime import configure_process, tune_gc

        settings = IngestSettings.load(ingest_port=port, host="127.0.0.1")
        configure_process(settings, service_name="vigil-ingest")
        tune_gc(GC_THRESHOLDS)  # as `vigil serve ingest` does
        return create_app(settings)
    if name == "incidents":
        from services.incidents.app import create_app
        from services.incidents.config import IncidentsSettings
        from shared.runtime import configure_process

        settings = IncidentsSettings.load(incidents_port=port, host="127.0.0.1")
        configure_process(settings, service_name="vigil-incidents")
        return create_app(settings)
    if name == "escalator":
        from services.escalator.app import create_app
        from services.escalator.config import EscalatorSettings
        from shared.runtime import configure_process

        settings = EscalatorSettings.load(escalator_port=port, host="127.0.0.1")
        configure_process(settings, service_name="vigil-escalator")
        return create_app(settings)
    if name == "ceiling":
        from bench.ceiling_app import create_app

        return create_app(os.environ["VIGIL_KAFKA_BOOTSTRAP_SERVERS"])
    raise SystemExit(f"unknown app {name!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one benchmarked server.")
    parser.add_argument("app", choices=("ingest", "ceiling", "incidents", "escalator"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    import services

    print(f"bench.serve {args.app}: services from {Path(services.__file__).parent}", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        build_app(args.app, args.port),
        host="127.0.0.1",
        port=args.port,
        loop=args.loop,
        http="httptools",
        workers=1,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
