"""`python -m bench.console_serve <incidents|escalator|console>`: one service as `python -m
services.<name>` runs it (services/cli.py `serve_one`: settings from VIGIL_*, the process's logging,
uvloop, `shared.runtime.serve`), without importing the command line's other modules, so that the
benchmark does not depend on them."""

from __future__ import annotations

import importlib
import sys

from shared.runtime import Listener, configure_process, run, serve

APPS = {name: (f"services.{name}.app", f"services.{name}.config", settings)
        for name, settings in (("incidents", "IncidentsSettings"), ("escalator", "EscalatorSettings"),
                               ("console", "ConsoleSettings"))}


def main(name: str) -> None:
    app_module, config_module, settings_class = APPS[name]
    settings = getattr(importlib.import_module(config_module), settings_class).load()
    configure_process(settings, service_name=f"vigil-{name}")
    app = importlib.import_module(app_module).create_app(settings)
    run(serve([Listener(name, app, settings.host, getattr(settings, f"{name}_port"))]))


if __name__ == "__main__":
    main(sys.argv[1])
