"""Reading remote-write 2.0 requests (`io.prometheus.write.v2.Request`) into the same series as
1.0, the Content-Type negotiation between the two, and every malformed request refused (400)."""

from __future__ import annotations

import pytest

from services.slo.series import remote_write, remote_write_v2
from services.slo.series.remote_write import UndecodableRequest
from services.slo.series.remote_write_v2 import (
    VERSION_1,
    VERSION_2,
    decode,
    encode_request,
    labels_of,
    message_of,
)

BATCH = [({"__name__": "http_requests_total", "job": "a", "code": "200"}, [(1000, 1.0), (2000, 3.5)]),
         ({"__name__": "x", "é": "ü"}, [(-1, 2.5)])]


def read_back(body: bytes) -> list:
    return [(labels_of(key), samples) for key, samples, _delta in decode(body).series]


def test_a_request_reads_back_as_the_series_and_samples_that_1_0_gives():
    assert read_back(encode_request(BATCH)) == BATCH
    data_1 = remote_write.decompress(remote_write.encode_write_request(BATCH), max_bytes=1 << 20)
    from_1 = [(remote_write.labels_of(k), s, d) for k, s, d in remote_write.series(data_1)]
    from_2 = [(labels_of(k), s, d) for k, s, d in decode(encode_request(BATCH)).series]
    assert from_2 == from_1


def test_a_series_has_the_same_key_whatever_the_symbol_numbering_of_its_request():
    alone = decode(encode_request(BATCH[1:])).series[0][0]
    after_another = decode(encode_request(BATCH)).series[1][0]
    assert alone == after_another


def test_native_histograms_and_exemplars_are_counted_not_folded():
    decoded = decode(encode_request(BATCH, histograms=3, exemplars=2))
    assert (decoded.samples, decoded.histograms, decoded.exemplars) == (3, 3, 2)
    assert [labels_of(k)["__name__"] for k, _s, _d in decoded.series] == ["http_requests_total", "x"]


def test_an_empty_request_is_no_series():
    assert decode(b"").series == []


def test_written_samples_are_the_folds_outcomes_but_unselected_and_out_of_range():
    outcomes = {"increase": 5, "baseline": 2, "duplicate": 1, "stale": 1, "unselected": 7, "too_late": 3, "future": 1}
    assert remote_write_v2.samples_written(outcomes) == 9


@pytest.mark.parametrize(("content_type", "message"), [
    ("application/x-protobuf;proto=io.prometheus.write.v2.Request", VERSION_2),
    ("application/x-protobuf; proto=io.prometheus.write.v2.Request", VERSION_2),
    ("application/x-protobuf;proto=prometheus.WriteRequest", VERSION_1),
    ("application/x-protobuf", VERSION_1),
    ("Application/X-Protobuf; charset=binary", VERSION_1),
])
def test_the_content_type_names_the_message(content_type, message):
    assert message_of(content_type) == message


@pytest.mark.parametrize(("content_type", "complaint"), [
    ("application/x-protobuf;proto=io.prometheus.write.v3.Request", "io.prometheus.write.v2.Request.*prometheus.WriteRequest"),
    ("application/json", "must be application/x-protobuf"),
])
def test_other_messages_and_media_types_are_unsupported(content_type, complaint):
    with pytest.raises(remote_write_v2.UnsupportedMessage, match=complaint):
        message_of(content_type)


def _request(**series_fields):
    request = remote_write_v2.request_class()()
    request.symbols.extend(["", "__name__", "up"])
    request.timeseries.add(**{"labels_refs": [1, 2], "samples": [{"value": 1.0, "timestamp": 1}], **series_fields})
    return request


def _with_symbols(symbols):
    request = _request()
    del request.symbols[:]
    request.symbols.extend(symbols)
    return request


@pytest.mark.parametrize(("request_", "complaint"), [
    (_request(labels_refs=[1, 2, 1]), r"timeseries\[0\] has an odd number of labels_refs \(3\)"),
    (_request(labels_refs=[1, 9]), r"timeseries\[0\] refers to symbol 9, past the 3 symbols"),
    (_request(labels_refs=[]), r"timeseries\[0\] has no labels_refs"),
    (_with_symbols(["up", "__name__", "up"]), r"symbols\[0\] must be the empty string, not 'up'"),
    (_request(histograms=[{"timestamp": 1}]), "both samples and histograms"),
    (_request(exemplars=[{"labels_refs": [1]}]), r"exemplars\[0\] has an odd number"),
    (_request(exemplars=[{"labels_refs": [1, 5]}]), r"exemplars\[0\] refers to symbol 5"),
    (_request(metadata={"type": 1, "help_ref": 4}), r"metadata refers to a symbol past the 3 symbols"),
])
def test_malformed_requests_are_refused_with_the_reason(request_, complaint):
    with pytest.raises(UndecodableRequest, match=complaint):
        decode(request_.SerializeToString())


@pytest.mark.parametrize("body", [b"\x2a\x05\x0a\x03", b"\x22\x02\xff\xfe", b"\x0f"])
def test_bytes_that_are_not_a_request_are_refused(body):
    with pytest.raises(UndecodableRequest, match="not a protobuf io.prometheus.write.v2.Request"):
        decode(body)
