"""The incident service under test, in its own process: `python -m bench.serve_incidents --port P`.

The real app, `create_app(IncidentsSettings.load(...))`, configured from the VIGIL_* environment the
benchmark sets (broker address, database URL, API token, consumer group), with the logging and
tracing set-up of a deployment (`configure_process`), under uvicorn with the settings of
bench/serve.py: one worker, uvloop, httptools, no access log, 127.0.0.1 only. Its lifespan runs the
migrations and starts the consumer loops and the outbox relay. SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn


def build_app(port: int):
    from services.incidents.app import create_app
    from services.incidents.config import IncidentsSettings
    from shared.runtime import configure_process

    settings = IncidentsSettings.load(incidents_port=port, host="127.0.0.1")
    configure_process(settings, service_name="vigil-incidents")
    return create_app(settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the incident service for the benchmark.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    import services

    print(f"bench.serve_incidents: services from {Path(services.__file__).parent}", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        build_app(args.port),
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
