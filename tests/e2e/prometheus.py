"""A real Prometheus (Debian's `prometheus`) for end-to-end tests, and a small exporter process
whose counters follow a known error ratio that changes over time: started on 127.0.0.1 with free
ports, storage and log in a throw-away directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from shared.local.kafka_broker import free_port

# The exporter: requests at RATE per second, BASE ones before it started (so that Prometheus'
# extrapolation to zero treats every series alike); an error ratio of ERRORS_A for PHASE_A_S
# seconds, then ERRORS_B for PHASE_B_S seconds, then the counters stop (traffic ended). Latency:
# FAST_A / FAST_B of the requests within 0.25 s (and a fixed share of those within 0.1 s).
EXPORTER = r'''
import math, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, rate, a_s, b_s, err_a, err_b, fast_a, fast_b = int(sys.argv[1]), *map(float, sys.argv[2:])
start = time.time()
BASE_TOTAL, BASE_ERRORS = 50_000, 400

def counts():
    e = min(time.time() - start, a_s + b_s)
    in_a, in_b = min(e, a_s), max(0.0, e - a_s)
    total = BASE_TOTAL + math.floor(rate * e)
    errors = BASE_ERRORS + math.floor(rate * (in_a * err_a + in_b * err_b))
    fast = BASE_TOTAL * 0.9 + rate * (in_a * fast_a + in_b * fast_b)
    buckets = [("0.1", math.floor(fast * 0.5)), ("0.25", math.floor(fast)), ("0.5", math.floor((fast + total) / 2)), ("+Inf", total)]
    return total, errors, buckets

class Metrics(BaseHTTPRequestHandler):
    def do_GET(self):
        total, errors, buckets = counts()
        lines = ["# TYPE shop_requests_total counter",
                 f'shop_requests_total{{code="200"}} {total - errors}', f'shop_requests_total{{code="500"}} {errors}',
                 "# TYPE shop_request_duration_seconds histogram"]
        lines += [f'shop_request_duration_seconds_bucket{{le="{le}"}} {n}' for le, n in buckets]
        lines += [f"shop_request_duration_seconds_sum {total * 0.12}", f"shop_request_duration_seconds_count {total}"]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", port), Metrics).serve_forever()
'''


class PrometheusError(RuntimeError):
    pass


def find_prometheus() -> str:
    found = os.environ.get("VIGIL_PROMETHEUS_BIN") or shutil.which("prometheus")
    if not found:
        raise PrometheusError("Prometheus is not installed (no `prometheus` on PATH): run `bash scripts/setup.sh` "
                              "(Debian's prometheus) or set VIGIL_PROMETHEUS_BIN")
    return found


class Exporter:
    def __init__(self, *, port: int, rate: float, phase_a_s: float, phase_b_s: float, errors_a: float, errors_b: float,
                 fast_a: float, fast_b: float) -> None:
        self.port = port
        args = [rate, phase_a_s, phase_b_s, errors_a, errors_b, fast_a, fast_b]
        self.process = subprocess.Popen([sys.executable, "-c", EXPORTER, str(self.port), *map(str, args)])
        self.started = time.monotonic()
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise PrometheusError("the exporter did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class LocalPrometheus:
    """`prometheus` scraping `targets` every second, remote-writing to `write_url` with a bearer token."""

    def __init__(self, *, targets: list[str], write_url: str, token: str, keep: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vigil-prometheus-"))
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "shop", "static_configs": [{"targets": targets}]}],
            "remote_write": [{
                "url": write_url, "authorization": {"credentials": token},
                "write_relabel_configs": [{"source_labels": ["__name__"], "regex": keep, "action": "keep"}],
                "queue_config": {"batch_send_deadline": "500ms", "min_backoff": "100ms", "max_backoff": "1s"},
            }],
        }
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(self.dir / "prometheus.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [find_prometheus(), f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PrometheusError(f"prometheus did not start: {self.log_tail()}")
            time.sleep(0.1)

    def query(self, promql: str) -> float | None:
        """The value of an instant query that yields one sample (None: no result, or NaN)."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5).json()
        result = answer["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if value != value else value

    def log_tail(self, lines: int = 30) -> str:
        path = self.dir / "prometheus.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
