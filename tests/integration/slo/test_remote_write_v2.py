"""Prometheus remote-write 2.0 into the SLO service, sent by the Prometheus project's own Go client
(client_golang's exp/api/remote, through tests/rw2client) against the real service and PostgreSQL:
the same samples give the same SLIs as through 1.0; the spec's `-Written` headers say what was
taken (native histograms and exemplars: none); malformed requests 400, other messages 415.

The client is built once per version of tests/rw2client into .cache/rw2client/ (the first build
fetches its modules from the Go module proxy and compiles them: about 80 s on a 2-core machine)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import cramjam
import httpx
import pytest

from services.slo.series.remote_write import encode_write_request
from services.slo.series.remote_write_v2 import request_class
from tests.services import TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
CLIENT = ROOT / "tests" / "rw2client"
V1, V2 = f"v1-{uuid.uuid4().hex[:6]}", f"v2-{uuid.uuid4().hex[:6]}"  # one service fed by each protocol
HEADERS_V1 = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf", "X-Prometheus-Remote-Write-Version": "0.1.0"}
HEADERS_V2 = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
              "X-Prometheus-Remote-Write-Version": "2.0.0"}
WRITTEN = ("X-Prometheus-Remote-Write-Samples-Written", "X-Prometheus-Remote-Write-Histograms-Written",
           "X-Prometheus-Remote-Write-Exemplars-Written")


def _slos(service: str) -> str:
    return f"""
  - {{name: availability, title: Availability, service: {service}, indicator: success_ratio, target: 0.99,
     total: 'http_requests_total{{job="{service}"}}', bad: 'http_requests_total{{job="{service}",code=~"5.."}}'}}
  - {{name: fast, title: Fast, service: {service}, indicator: latency_under, threshold_ms: 250, target: 0.9,
     histogram: 'http_request_duration_seconds{{job="{service}"}}'}}"""


@pytest.fixture(scope="module")
def rw2client() -> Path:
    """The Go client, built into .cache/rw2client/<hash of its sources>/ unless already there."""
    digest = hashlib.sha256(b"".join((CLIENT / name).read_bytes() for name in ("go.mod", "go.sum", "main.go"))).hexdigest()[:16]
    binary = ROOT / ".cache" / "rw2client" / digest / "rw2client"
    if not binary.exists():
        go = shutil.which("go") or "/usr/local/go/bin/go"
        binary.parent.mkdir(parents=True, exist_ok=True)
        building = binary.with_name(f"rw2client.{uuid.uuid4().hex}")
        subprocess.run([go, "build", "-o", str(building), "."], cwd=CLIENT, check=True, timeout=900)
        building.rename(binary)  # atomic: a concurrent run sees the whole binary or none
    return binary


@pytest.fixture(scope="module")
def slo(running_slo, tmp_path_factory):
    config = tmp_path_factory.mktemp("slo") / "slos.yaml"
    config.write_text("slos:" + _slos(V1) + _slos(V2))
    with running_slo(slo_config_file=str(config), slo_evaluate_interval_s=0.2, slo_min_events=0,
                     slo_max_body_bytes=64 * 1024) as svc:
        yield svc


def send_v2(rw2client: Path, slo, batch, *, token: str = TOKENS["responder"], **extra) -> dict:
    """`batch` sent by the Go client as one 2.0 request; `extra`: one more series (its labels,
    samples, native histograms, exemplars). Returns the client's report."""
    series = [{"labels": labels, "samples": samples} for labels, samples in batch]
    if extra:
        series.append(extra)
    done = subprocess.run([str(rw2client), "-url", slo.url, "-token", token], input=json.dumps({"series": series}),
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def counters(job: str, at_ms: list[int], ok: list[int], bad: list[int]):
    return [
        ({"__name__": "http_requests_total", "job": job, "code": "200"}, list(zip(at_ms, map(float, ok)))),
        ({"__name__": "http_requests_total", "job": job, "code": "503"}, list(zip(at_ms, map(float, bad)))),
        ({"__name__": "http_requests_total", "job": "other", "code": "503"}, list(zip(at_ms, map(float, bad)))),
    ]


def status(client: httpx.Client, service: str, slo: str) -> dict | None:
    r = client.get(f"/api/v1/slos/{service}/{slo}")
    return r.json() if r.status_code == 200 else None


def folded(slo, service: str, name: str, total: int) -> dict:
    viewer = slo.client("viewer")
    return wait_for(lambda: (s := status(viewer, service, name)) and s["budget"]["total_events"] == total and s,
                    what=f"{total} events of {service}/{name}")


def written(report: dict) -> tuple[int, int, int]:
    return tuple(int(report["headers"][h]) for h in WRITTEN)


def test_counters_sent_as_2_0_give_the_slis_the_same_samples_give_as_1_0(slo, rw2client):
    responder = slo.client("responder")
    now_ms = int(time.time() * 1000)
    at = [now_ms - 150_000 + i * 15_000 for i in range(8)]
    ok = [1000 + 97 * i for i in range(8)]
    bad = [10 + 3 * i for i in range(8)]
    for part in (slice(0, 5), slice(3, 8), slice(0, 5)):  # overlapping, then a retry of the first
        assert responder.post("/api/v1/write", content=encode_write_request(counters(V1, at[part], ok[part], bad[part])),
                              headers=HEADERS_V1).status_code == 204
        report = send_v2(rw2client, slo, counters(V2, at[part], ok[part], bad[part]))
        assert report["status"] == 204 and "error" not in report
        # The two selected series' 5 samples each (resent ones too: a retry is confirmed); not the unselected job's.
        assert written(report) == (10, 0, 0)
        assert report["stats"] == {"samples": 10, "histograms": 0, "exemplars": 0}
    by_1, by_2 = folded(slo, V1, "availability", 700), folded(slo, V2, "availability", 700)
    assert by_2["budget"]["bad_events"] == by_1["budget"]["bad_events"] == 21
    burn = {(r["short_window"], r["long_window"]): (r["short_burn"], r["long_burn"]) for r in by_1["burn_rates"]}
    assert {(r["short_window"], r["long_window"]): (r["short_burn"], r["long_burn"]) for r in by_2["burn_rates"]} == burn
    assert burn[next(k for k in burn if k[0] == "5m")][0] == pytest.approx(0.03 / 0.01, rel=1e-3)


def _native_histograms_refused(slo) -> float:
    metrics = slo.client(None).get("/metrics").text
    line = next((x for x in metrics.splitlines() if x.startswith('vigil_slo_series_samples_total{outcome="native_histogram"}')), None)
    return float(line.split()[-1]) if line else 0.0


def test_classic_buckets_fill_a_latency_slo_and_native_histograms_and_exemplars_are_not_written(slo, rw2client):
    now_ms = int(time.time() * 1000)
    at = [now_ms - 60_000, now_ms - 30_000]
    buckets = (("0.1", 600.0), ("0.25", 950.0), ("+Inf", 1000.0))
    batch = [({"__name__": "http_request_duration_seconds_bucket", "job": V2, "le": le}, [[at[0], 0.0], [at[1], n]]) for le, n in buckets]
    refused_before = _native_histograms_refused(slo)
    native = {"labels": {"__name__": "http_request_duration_seconds", "job": V2},
              "histograms": [[at[0], 10], [at[1], 25]], "exemplars": [[at[1], 0.2]]}
    report = send_v2(rw2client, slo, batch, **native)
    assert report["status"] == 204 and written(report) == (6, 0, 0)
    assert folded(slo, V2, "fast", 1000)["budget"]["good_events"] == 950
    assert _native_histograms_refused(slo) == refused_before + 2
    only_native = send_v2(rw2client, slo, [], **native)  # nothing written, and the client is told so (no error)
    assert only_native["status"] == 204 and written(only_native) == (0, 0, 0) and "error" not in only_native


def _body(**series_fields) -> bytes:
    request = request_class()()
    request.symbols.extend(["", "__name__", "http_requests_total", "job", V2])
    request.timeseries.add(**{"labels_refs": [1, 2, 3, 4], "samples": [{"value": 1.0, "timestamp": int(time.time() * 1000)}],
                              **series_fields})
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


@pytest.mark.parametrize(("fields", "complaint"), [
    ({"labels_refs": [1, 2, 3]}, "odd number of labels_refs"),
    ({"labels_refs": [1, 2, 3, 99]}, "refers to symbol 99, past the 5 symbols"),
])
def test_malformed_2_0_requests_are_refused_with_the_reason_and_nothing_written(slo, fields, complaint):
    r = slo.client("responder").post("/api/v1/write", content=_body(**fields), headers=HEADERS_V2)
    assert r.status_code == 400 and r.json()["error"] == "invalid_write_request" and complaint in r.json()["message"]
    assert [r.headers[h] for h in WRITTEN] == ["0", "0", "0"]


def test_the_content_type_chooses_the_message_and_others_are_unsupported(slo):
    client = slo.client("responder")
    v1 = encode_write_request(counters(V1, [int(time.time() * 1000)], [1], [1]))
    named_v1 = client.post("/api/v1/write", content=v1, headers={**HEADERS_V1, "Content-Type": "application/x-protobuf;proto=prometheus.WriteRequest"})
    assert named_v1.status_code == 204 and WRITTEN[0] not in named_v1.headers
    other = client.post("/api/v1/write", content=v1, headers={**HEADERS_V1, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"})
    assert other.status_code == 415
    assert "io.prometheus.write.v2.Request" in other.json()["message"] and "prometheus.WriteRequest" in other.json()["message"]
    assert client.post("/api/v1/write", content=_body(), headers={**HEADERS_V2, "Content-Encoding": "zstd"}).status_code == 415


def test_the_2_0_client_needs_a_responder_token(slo, rw2client):
    batch = counters(V2, [int(time.time() * 1000)], [1], [1])
    assert send_v2(rw2client, slo, batch, token="not-a-token")["status"] == 401
    assert send_v2(rw2client, slo, batch, token=TOKENS["viewer"])["status"] == 403
