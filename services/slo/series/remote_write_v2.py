"""PURE: a Prometheus remote-write 2.0 request (`io.prometheus.write.v2.Request`, snappy block
format like 1.0) read into the same series the 1.0 reader gives, so selectors, counters and the
fold see no difference:

    Request    { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
    TimeSeries { repeated uint32 labels_refs = 1;   (name, value) pairs of indexes into `symbols`
                 repeated Sample samples = 2; repeated Histogram histograms = 3;
                 repeated Exemplar exemplars = 4; Metadata metadata = 5; }
    Sample     { double value = 1; int64 timestamp = 2; }           (milliseconds)
    Exemplar   { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
    Metadata   { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }

The message is parsed by protobuf's C parser from a descriptor built here (no generated code).
Native histograms (`histograms`) and exemplars are counted, not folded: an SLO's latency comes
from classic `_bucket{le}` counters, and a native histogram's exponential buckets would need their
own fold. Created/start timestamps (rc.3's `TimeSeries.created_timestamp = 6`, rc.4's
`Sample.start_timestamp = 3`) are not read: a series' first sample is its baseline, as in 1.0.

A series' key is its label strings in the order sent (name, value, name, value, …): the spec has
senders sort labels, so the same series gives the same key in every request, whatever the
request's symbol numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from services.slo.series.fold import SeriesSamples
from services.slo.series.remote_write import UndecodableRequest

VERSION_1 = "prometheus.WriteRequest"
VERSION_2 = "io.prometheus.write.v2.Request"
PROTOBUF = "application/x-protobuf"
WRITTEN_HEADERS = ("X-Prometheus-Remote-Write-Samples-Written", "X-Prometheus-Remote-Write-Histograms-Written",
                   "X-Prometheus-Remote-Write-Exemplars-Written")
# Outcomes of the fold that are not "written": the series no SLO selects (dropped by design) and
# samples outside the accepted time range. Every other outcome is a sample taken into an SLO's
# state (a duplicate of one already taken included, so a retried request is confirmed).
NOT_WRITTEN = frozenset({"unselected", "too_late", "future"})

_T = descriptor_pb2.FieldDescriptorProto
_REPEATED, _OPTIONAL = _T.LABEL_REPEATED, _T.LABEL_OPTIONAL
# message -> (field name, number, type, repeated, message type); only what is read or checked.
_SCHEMA = {
    "Request": [("symbols", 4, _T.TYPE_STRING, True, None), ("timeseries", 5, _T.TYPE_MESSAGE, True, "TimeSeries")],
    "TimeSeries": [("labels_refs", 1, _T.TYPE_UINT32, True, None), ("samples", 2, _T.TYPE_MESSAGE, True, "Sample"),
                   ("histograms", 3, _T.TYPE_MESSAGE, True, "Histogram"), ("exemplars", 4, _T.TYPE_MESSAGE, True, "Exemplar"),
                   ("metadata", 5, _T.TYPE_MESSAGE, False, "Metadata")],
    "Sample": [("value", 1, _T.TYPE_DOUBLE, False, None), ("timestamp", 2, _T.TYPE_INT64, False, None)],
    "Exemplar": [("labels_refs", 1, _T.TYPE_UINT32, True, None), ("value", 2, _T.TYPE_DOUBLE, False, None),
                 ("timestamp", 3, _T.TYPE_INT64, False, None)],
    "Metadata": [("type", 1, _T.TYPE_INT32, False, None), ("help_ref", 3, _T.TYPE_UINT32, False, None),
                 ("unit_ref", 4, _T.TYPE_UINT32, False, None)],
    "Histogram": [("timestamp", 15, _T.TYPE_INT64, False, None)],  # its buckets stay unknown fields
}


class UnsupportedMessage(ValueError):
    """A Content-Type that names neither remote-write message (answered 415)."""


@cache
def request_class() -> type:
    """The `io.prometheus.write.v2.Request` message class (built once, in a pool of its own)."""
    package = "io.prometheus.write.v2"
    proto = descriptor_pb2.FileDescriptorProto(name="vigil/io/prometheus/write/v2/types.proto", package=package, syntax="proto3")
    for name, fields in _SCHEMA.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            message.field.add(name=field_name, number=number, type=kind, label=_REPEATED if repeated else _OPTIONAL,
                              type_name=f".{package}.{type_name}" if type_name else None)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.Request"))


def message_of(content_type: str) -> str:
    """Which remote-write message a Content-Type names (the spec's negotiation): `proto=` 2.0's
    Request, or 1.0's WriteRequest, also when `proto` is absent."""
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() != PROTOBUF:
        raise UnsupportedMessage(f"Content-Type must be {PROTOBUF}, not {content_type!r}")
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "proto":
            value = value.strip().strip('"')
            if value not in (VERSION_1, VERSION_2):
                raise UnsupportedMessage(f"proto={value} is not a remote-write message this receiver reads; "
                                         f"send proto={VERSION_2} (2.0) or proto={VERSION_1} (1.0)")
            return value
    return VERSION_1


@dataclass
class Decoded:
    """A 2.0 request read: its float series for the fold, and what it held that is not folded."""

    series: list[SeriesSamples] = field(default_factory=list)
    samples: int = 0
    histograms: int = 0
    exemplars: int = 0


def _check_refs(refs, symbols: list[str], what: str) -> None:
    if len(refs) % 2:
        raise UndecodableRequest(f"{what} has an odd number of labels_refs ({len(refs)}): they are (name, value) pairs")
    if refs and max(refs) >= len(symbols):
        raise UndecodableRequest(f"{what} refers to symbol {max(refs)}, past the {len(symbols)} symbols of the request")


def decode(data: bytes) -> Decoded:
    """The series of a decompressed 2.0 request; `UndecodableRequest` (400) when it is not one or
    breaks the spec's rules: symbols not starting with "", a series without labels, an odd or
    out-of-table `labels_refs`, a series with both samples and histograms."""
    request = request_class()()
    try:
        request.ParseFromString(data)
    except (DecodeError, RecursionError) as exc:
        raise UndecodableRequest(f"not a protobuf {VERSION_2}: {exc}") from None
    symbols = list(request.symbols)
    if symbols and symbols[0] != "":
        raise UndecodableRequest(f"symbols[0] must be the empty string, not {symbols[0]!r}")
    decoded, n_symbols = Decoded(), len(symbols)
    append = decoded.series.append
    # The hot loop of 2.0 (every series passes here): the checks cost a comparison or two each,
    # and the message saying what is wrong is built only when something is.
    for n, ts in enumerate(request.timeseries):
        refs = ts.labels_refs
        if not refs:
            raise UndecodableRequest(f"timeseries[{n}] has no labels_refs")
        try:
            key = itemgetter(*refs)(symbols) if not len(refs) & 1 else None
        except IndexError:
            key = None
        if key is None:
            _check_refs(refs, symbols, f"timeseries[{n}]")
        samples, histograms, exemplars = ts.samples, ts.histograms, ts.exemplars
        if histograms:
            if samples:
                raise UndecodableRequest(f"timeseries[{n}] has both samples and histograms (the spec wants one TimeSeries for each)")
            decoded.histograms += len(histograms)
        if exemplars:
            for e, exemplar in enumerate(exemplars):
                _check_refs(exemplar.labels_refs, symbols, f"timeseries[{n}].exemplars[{e}]")
            decoded.exemplars += len(exemplars)
        metadata = ts.metadata
        if metadata.help_ref >= n_symbols or metadata.unit_ref >= n_symbols:
            raise UndecodableRequest(f"timeseries[{n}].metadata refers to a symbol past the {n_symbols} symbols of the request")
        if samples:
            decoded.samples += len(samples)
            append((key, [(s.timestamp, s.value) for s in samples], False))
    return decoded


def labels_of(key: tuple[str, ...]) -> dict[str, str]:
    """The labels of a series from its key (name, value, name, value, …)."""
    return dict(zip(key[::2], key[1::2]))


def samples_written(outcomes: dict[str, int]) -> int:
    """How many float samples the fold took in, from its outcomes (per sample, but for
    `unselected`, which counts series)."""
    return sum(n for outcome, n in outcomes.items() if outcome not in NOT_WRITTEN)


def encode_request(batch: list[tuple[dict[str, str], list[tuple[int, float]]]], *, histograms: int = 0, exemplars: int = 0) -> bytes:
    """A (not yet compressed) 2.0 request, labels sorted as the spec asks senders to; `histograms`
    adds that many native-histogram samples on one more series, `exemplars` exemplars on the first
    (for tests and the benchmark)."""
    request = request_class()()
    refs: dict[str, int] = {"": 0}
    request.symbols.append("")

    def ref(s: str) -> int:
        if s not in refs:
            refs[s] = len(request.symbols)
            request.symbols.append(s)
        return refs[s]

    for labels, samples in batch:
        ts = request.timeseries.add()
        for name, value in sorted(labels.items()):
            ts.labels_refs.extend((ref(name), ref(value)))
        for t_ms, value in samples:
            ts.samples.add(timestamp=t_ms, value=value)
    if histograms:
        ts = request.timeseries.add(labels_refs=[ref("__name__"), ref("native_histogram_seconds")])
        for i in range(histograms):
            ts.histograms.add(timestamp=1000 * (i + 1))
    if exemplars and request.timeseries:
        first = request.timeseries[0]
        for i in range(exemplars):
            first.exemplars.add(labels_refs=[ref("trace_id"), ref(f"t{i}")], value=1.0, timestamp=1000 * (i + 1))
    return request.SerializeToString()
