"""The remote-write 2.0 half of `POST /api/v1/write`: the route (routes.py) asks `is_v2` which
message a request carries and hands 2.0 requests here. Thin like the route: read, decode, fold
exactly as 1.0 requests are folded, and answer with the spec's `X-Prometheus-Remote-Write-*-Written`
headers (on refusals too: nothing written)."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import Response

from services.slo.routes import read_body
from services.slo.series import remote_write, remote_write_v2
from services.slo.series.service import SAMPLES

NOTHING_WRITTEN = dict.fromkeys(remote_write_v2.WRITTEN_HEADERS, "0")


def _refused(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status, detail={"error": error, "message": message}, headers=headers)


def is_v2(request: Request) -> bool:
    """True for a 2.0 request, False for 1.0; 415 for any other Content-Type (the spec's negotiation)."""
    try:
        message = remote_write_v2.message_of(request.headers.get("content-type", remote_write_v2.PROTOBUF))
    except remote_write_v2.UnsupportedMessage as exc:
        raise _refused(415, "unsupported_media_type", str(exc)) from None
    return message == remote_write_v2.VERSION_2


async def write(request: Request) -> Response:
    """Fold a 2.0 request's float samples; native histograms and exemplars are counted in
    `vigil_slo_series_samples_total{outcome="native_histogram"|"exemplar"}` and answered as not
    written (0), never folded."""
    ctx = request.state.slo
    encoding = request.headers.get("content-encoding", "snappy").lower()
    if encoding != "snappy":
        raise _refused(415, "unsupported_media_type", f"Content-Encoding must be snappy, not {encoding!r}", NOTHING_WRITTEN)
    body = await read_body(request, ctx.settings.slo_max_body_bytes)
    try:
        decoded = remote_write_v2.decode(remote_write.decompress(body, max_bytes=ctx.settings.slo_series_max_decoded_bytes))
    except remote_write.TooLarge as exc:
        raise _refused(413, "too_large", str(exc), NOTHING_WRITTEN) from None
    except remote_write.UndecodableRequest as exc:
        raise _refused(400, "invalid_write_request", str(exc), NOTHING_WRITTEN) from None
    prepared = await ctx.series.ingest(ctx.pool, decoded.series, labels_of=remote_write_v2.labels_of, now=ctx.clock())
    if decoded.histograms:
        SAMPLES.labels("native_histogram").inc(decoded.histograms)
    if decoded.exemplars:
        SAMPLES.labels("exemplar").inc(decoded.exemplars)
    samples, histograms, exemplars = remote_write_v2.samples_written(prepared.outcomes), 0, 0
    return Response(status_code=204, headers=dict(zip(remote_write_v2.WRITTEN_HEADERS, map(str, (samples, histograms, exemplars)))))
