"""Series in: Prometheus remote-write (`POST /api/v1/write`) and OTLP/HTTP metrics
(`POST /v1/metrics`, also at `/api/v1/otlp/v1/metrics`). Thin: decode, hand the series to the
ingest unit of work, answer as the senders expect (Prometheus retries 5xx and never 4xx)."""

from __future__ import annotations

import gzip
import zlib
from collections import Counter as Tally

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from services.slo.routes import read_body
from services.slo.series import otlp, receive_v2, remote_write
from shared.api_auth import Responder
from shared.http_errors import Problem, error_responses

UNSUPPORTED = {415: {"model": Problem, "description": "Another content type or encoding than the route reads"}}
router = APIRouter(tags=["slo"], responses={**error_responses(400, 401, 403, 413, 503), **UNSUPPORTED})
PROTOBUF = "application/x-protobuf"


def _bad(status: int, error: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"error": error, "message": message})


@router.post("/api/v1/write", status_code=204, response_class=Response, summary="Prometheus remote-write receiver")
async def prometheus_remote_write(request: Request, _p: Responder) -> Response:
    """Prometheus remote-write 1.0 (`prometheus.WriteRequest`) or 2.0 (`Content-Type:
    application/x-protobuf;proto=io.prometheus.write.v2.Request`), protobuf, snappy block format:
    point `remote_write` here with a responder token as `authorization.credentials`. Only series
    that an SLO's selectors select are kept (their last sample); the others are dropped, so a
    `write_relabel_configs` that keeps only those saves bandwidth. 204 once folded (2.0: with the
    `X-Prometheus-Remote-Write-*-Written` headers; native histograms and exemplars are not
    written); 400 not a snappy WriteRequest / 2.0 Request; 413 over `VIGIL_SLO_MAX_BODY_BYTES` (or
    its decompressed limit); 415 another message or encoding; 503 when PostgreSQL is unavailable
    (Prometheus retries)."""
    ctx = request.state.slo
    if receive_v2.is_v2(request):  # 415 for other messages
        return await receive_v2.write(request)
    encoding = request.headers.get("content-encoding", "snappy").lower()
    if encoding != "snappy":
        raise _bad(415, "unsupported_media_type", f"Content-Encoding must be snappy, not {encoding!r}")
    body = await read_body(request, ctx.settings.slo_max_body_bytes)
    try:
        data = remote_write.decompress(body, max_bytes=ctx.settings.slo_series_max_decoded_bytes)
        await ctx.series.ingest(ctx.pool, remote_write.series(data, ctx.series.known_keys), labels_of=remote_write.labels_of, now=ctx.clock())
    except remote_write.TooLarge as exc:
        raise _bad(413, "too_large", str(exc)) from None
    except remote_write.UndecodableRequest as exc:
        raise _bad(400, "invalid_write_request", str(exc)) from None
    return Response(status_code=204)


def _decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise _bad(415, "unsupported_media_type", f"Content-Encoding must be gzip or none, not {encoding!r}")
    try:
        out = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = out.decompress(body, max_bytes + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise _bad(400, "invalid_otlp", f"the body is not gzip: {exc}") from None
    if len(data) > max_bytes:
        raise _bad(413, "too_large", f"the decompressed body exceeds {max_bytes} bytes")
    return data


async def _otlp(request: Request) -> Response:
    ctx = request.state.slo
    content_type = request.headers.get("content-type", PROTOBUF).split(";")[0].strip().lower()
    if content_type not in (PROTOBUF, "application/json"):
        raise _bad(415, "unsupported_media_type", f"Content-Type must be {PROTOBUF} or application/json, not {content_type!r}")
    body = await read_body(request, ctx.settings.slo_max_body_bytes)
    data = _decompress(body, request.headers.get("content-encoding", "").lower(), ctx.settings.slo_series_max_decoded_bytes)
    try:
        export = otlp.parse_export(data, json=content_type == "application/json")
    except otlp.UndecodableExport as exc:
        raise _bad(400, "invalid_otlp", str(exc)) from None
    skipped: Tally = Tally()
    await ctx.series.ingest(ctx.pool, otlp.series(export, skipped), labels_of=otlp.labels_of, now=ctx.clock())
    answer = ExportMetricsServiceResponse()
    if skipped:
        answer.partial_success.error_message = "not SLIs, skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(skipped.items()))
    if content_type == "application/json":
        return Response(json_format.MessageToJson(answer), media_type="application/json")
    return Response(answer.SerializeToString(), media_type=PROTOBUF)


DESCRIPTION = """OTLP/HTTP metrics (`ExportMetricsServiceRequest` as protobuf or JSON, gzip or not), as the
OpenTelemetry SDK and Collector export them, with a responder token (`Authorization: Bearer …`
in the exporter's headers). Monotonic sums and histograms become the series the SLO selectors
select (metric name, attributes as labels, `job`/`instance` from the resource); other kinds are
skipped and said so in `partial_success`. 400 undecodable; 413 too large; 415 other encodings."""


@router.post("/v1/metrics", summary="OTLP/HTTP metrics receiver", description=DESCRIPTION, response_class=Response)
async def otlp_metrics(request: Request, _p: Responder) -> Response:
    return await _otlp(request)


@router.post("/api/v1/otlp/v1/metrics", summary="OTLP/HTTP metrics receiver (Prometheus' path)", description=DESCRIPTION,
             response_class=Response)
async def otlp_metrics_prometheus_path(request: Request, _p: Responder) -> Response:
    return await _otlp(request)
