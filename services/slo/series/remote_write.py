"""PURE: a Prometheus remote-write 1.0 request (`prometheus.WriteRequest`, snappy block format)
read into series — our own reader of the few protobuf fields an SLO needs, no generated code:

    WriteRequest { repeated TimeSeries timeseries = 1; }            (metadata = 3: skipped)
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }  (exemplars, native histograms: skipped)
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }        (milliseconds)

A series' key is the bytes of its labels as sent: Prometheus sends the same labels the same way
every time, so a known series is recognised without decoding its labels again.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Iterator

import cramjam

from services.slo.series.fold import SeriesSamples

_DOUBLE = struct.Struct("<d")
VERSION_1 = "prometheus.WriteRequest"
VERSION_2 = "io.prometheus.write.v2.Request"


class UndecodableRequest(ValueError):
    """A body that is not a snappy-compressed WriteRequest; the message says what is wrong."""


class TooLarge(ValueError):
    """A body whose decompressed size exceeds the limit."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(data):
            raise UndecodableRequest("truncated varint")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise UndecodableRequest("varint longer than 10 bytes")


def _skip(data: bytes, i: int, wire: int) -> int:
    if wire == 0:
        return _varint(data, i)[1]
    if wire == 1:
        return i + 8
    if wire == 2:
        n, i = _varint(data, i)
        return i + n
    if wire == 5:
        return i + 4
    raise UndecodableRequest(f"unsupported protobuf wire type {wire}")


def decompress(body: bytes, *, max_bytes: int) -> bytes:
    """The snappy block-format body decompressed, refused before decompressing when its declared
    length exceeds `max_bytes`."""
    try:
        declared, _ = _varint(body, 0)
    except UndecodableRequest:
        raise UndecodableRequest("the body is empty or not snappy-compressed (Content-Encoding: snappy, block format)") from None
    if declared > max_bytes:
        raise TooLarge(f"the decompressed body would be {declared} bytes, over {max_bytes}")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise UndecodableRequest(f"the body is not snappy block-format data: {exc}") from None


def labels_of(raw: bytes) -> dict[str, str]:
    """The labels of one series from its label fields' bytes."""
    labels: dict[str, str] = {}
    i, end = 0, len(raw)
    while i < end:
        tag, i = _varint(raw, i)
        n, i = _varint(raw, i)
        if tag != 0x0A:
            raise UndecodableRequest("a series' labels hold a field that is not a label")
        j, stop = i, i + n
        name = value = ""
        while j < stop:
            t, j = _varint(raw, j)
            m, j = _varint(raw, j)
            if t == 0x0A:
                name = raw[j:j + m].decode()
            elif t == 0x12:
                value = raw[j:j + m].decode()
            j += m
        labels[name] = value
        i = stop
    if i != end:
        raise UndecodableRequest("a label runs past its series")
    return labels


def _sample(data: bytes, i: int, stop: int) -> tuple[int, float]:
    """One Sample message in data[i:stop], whatever its field order."""
    value, ts = 0.0, 0
    while i < stop:
        tag = data[i]
        if tag == 0x09:  # value: fixed64
            value = _DOUBLE.unpack_from(data, i + 1)[0]
            i += 9
        elif tag == 0x10:  # timestamp: varint (int64)
            ts, i = _varint(data, i + 1)
            if ts >= 1 << 63:
                ts -= 1 << 64
        else:
            i = _skip_field(data, i)
    if i != stop:
        raise UndecodableRequest("a sample runs past its end")
    return ts, value


def _skip_field(data: bytes, i: int) -> int:
    tag, i = _varint(data, i)
    return _skip(data, i, tag & 7)


def _timestamp(raw: bytes) -> int | None:
    """The int64 varint that is all of `raw` (None: `raw` holds more than that)."""
    ts, n = _varint(raw, 0)
    if n != len(raw):
        return None
    return ts - (1 << 64) if ts >= 1 << 63 else ts


class _Timestamps(dict):
    """`_timestamp` of each raw varint, read once per request (a request's samples share a handful
    of timestamps): `known[raw]`; None, not kept, for bytes that are not one varint."""

    def __missing__(self, raw: bytes) -> int | None:
        ts = _timestamp(raw)
        if ts is not None:
            self[raw] = ts
        return ts


# What Prometheus sends for a series it has sent before, after its labels: one Sample field
# (tag 0x12, 16 bytes) of `value` (0x09 + 8 bytes) and a millisecond `timestamp` (0x10 + a varint
# of 6 bytes: every time from 1971 to 2109).
_ONE_SAMPLE = 18


def series(data: bytes, known: Container[bytes] = ()) -> Iterator[SeriesSamples]:
    """(label bytes, samples, False) per TimeSeries of a decompressed WriteRequest (`labels_of`
    reads a key's labels).

    The hot loop of remote-write (every sample of every series passes here), written for CPython:
    the usual encoding — labels first, then samples of exactly `value, timestamp` — is read with
    few calls, and a timestamp's bytes are looked up instead of decoded (one scrape's series share
    a handful of timestamps). Anything else takes the general path.

    `known`: keys read before that are labels and nothing else (the fold's series). A series that
    ends in one usual sample and whose bytes before it are such a key is taken apart from its end,
    without walking its labels: the fields of the key end exactly where that sample begins."""
    i, end = 0, len(data)
    unpack = _DOUBLE.unpack_from
    timestamps = _Timestamps()
    try:
        while i < end:
            if data[i] != 0x0A:  # not a timeseries: metadata (3) or an unknown field
                tag, i = _varint(data, i)
                i = _skip(data, i, tag & 7)
                continue
            n = data[i + 1]
            if n < 0x80:
                i += 2
            elif data[i + 2] < 0x80:  # 128 bytes to 16 KiB: most series
                n = (n & 0x7F) | data[i + 2] << 7
                i += 3
            else:
                n, i = _varint(data, i + 1)
            stop = i + n
            if stop > end:
                raise UndecodableRequest("a series runs past the end of the body")
            t = stop - _ONE_SAMPLE
            if t > i and data[t] == 0x12 and data[t + 1] == 16 and data[t + 2] == 0x09 and data[t + 11] == 0x10:
                key = data[i:t]
                if key in known:
                    ts = timestamps[data[t + 12:stop]]
                    if ts is not None:
                        yield key, [(ts, unpack(data, t + 3)[0])], False
                        i = stop
                        continue
            j = i
            while j < stop and data[j] == 0x0A:  # the labels, as Prometheus writes them: first and together
                m = data[j + 1]
                j = j + 2 + m if m < 0x80 else sum(_varint(data, j + 1))
            key = data[i:j]
            samples = []
            while j < stop:
                if data[j] != 0x12:
                    key, samples = _unusual(data, i, stop)
                    j = stop
                    break
                m = data[j + 1]
                if m < 0x80:
                    s = j + 2
                else:
                    m, s = _varint(data, j + 1)
                j = s + m
                if m > 10 and data[s] == 0x09 and data[s + 9] == 0x10 and j <= stop:
                    ts = timestamps[data[s + 10:j]]
                    if ts is not None:
                        samples.append((ts, unpack(data, s + 1)[0]))
                        continue
                samples.append(_sample(data, s, j))
            if j != stop:
                raise UndecodableRequest("a series' fields run past its end")
            yield key, samples, False
            i = stop
        if i != end:
            raise UndecodableRequest("the last series runs past the end of the body")
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise UndecodableRequest(f"not a protobuf WriteRequest: {exc}") from None


def _unusual(data: bytes, i: int, stop: int) -> tuple[bytes, list[tuple[int, float]]]:
    """A series with other fields (exemplars, native histograms: skipped) or labels between samples."""
    labels: list[bytes] = []
    samples = []
    while i < stop:
        start = i
        tag, i = _varint(data, i)
        if tag & 7 != 2:
            i = _skip(data, i, tag & 7)
            continue
        m, i = _varint(data, i)
        if tag == 0x0A:
            labels.append(data[start:i + m])
        elif tag == 0x12:
            samples.append(_sample(data, i, i + m))
        i += m
    if i != stop:
        raise UndecodableRequest("a series' fields run past its end")
    return b"".join(labels), samples


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _encode_varint(len(payload)) + payload


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def encode_write_request(batch: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    """A snappy-compressed WriteRequest (for tests and the benchmark; labels sorted by name as
    Prometheus sends them)."""
    out = bytearray()
    for labels, samples in batch:
        ts = b"".join(_field(0x0A, _field(0x0A, k.encode()) + _field(0x12, v.encode())) for k, v in sorted(labels.items()))
        ts += b"".join(_field(0x12, b"\x09" + _DOUBLE.pack(v) + b"\x10" + _encode_varint(t)) for t, v in samples)
        out += _field(0x0A, ts)
    return bytes(cramjam.snappy.compress_raw(bytes(out)))
