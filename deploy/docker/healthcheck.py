"""The image's HEALTHCHECK: GET /healthz of the service this container runs.

Standard library only, so a check costs a few milliseconds, not an import of the service. The
service is the argument of `vigil serve <name>` in PID 1's command line (or argv[1]); its port is
`VIGIL_<NAME>_PORT`, else the service's default (tests/deploy checks these against the settings).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {"ingest": 8080, "incidents": 8081, "escalator": 8082, "slo": 8083, "notifier": 8084, "console": 8085}


def service_of(cmdline: bytes) -> str | None:
    """`.../vigil serve incidents` (NUL-separated, as in /proc/1/cmdline) -> `incidents`."""
    args = [a.decode() for a in cmdline.split(b"\0") if a]
    for i, arg in enumerate(args[:-1]):
        if arg == "serve":
            return args[i + 1]
    return None


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        name = argv[1]
    else:
        with open("/proc/1/cmdline", "rb") as f:
            name = service_of(f.read())
    if name not in DEFAULT_PORTS:
        print(f"healthcheck: unknown service {name!r}", file=sys.stderr)
        return 1
    port = int(os.environ.get(f"VIGIL_{name.upper()}_PORT", DEFAULT_PORTS[name]))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {name} on port {port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
