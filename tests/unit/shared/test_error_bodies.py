import httpx
import pytest

from shared.error_bodies import error_code, error_message


def answer(status: int, body=None, text: str | None = None) -> httpx.Response:
    return httpx.Response(status, json=body) if text is None else httpx.Response(status, text=text)


@pytest.mark.parametrize(("response", "code", "message"), [
    (answer(409, {"error": "alerts_firing", "message": "2 alerts still fire"}), "alerts_firing", "2 alerts still fire"),
    (answer(409, {"detail": {"error": "conflict", "message": "already resolved"}}), "conflict", "already resolved"),
    (answer(422, {"error": "invalid_request", "message": "invalid request",
                  "fields": [{"field": "ends_at", "message": "must be after starts_at"}]}),
     "invalid_request", "invalid request: ends_at: must be after starts_at"),
    (answer(404, {"detail": "Not Found"}), "", "Not Found"),
    (answer(403, {"error": "forbidden"}), "forbidden", "forbidden"),
    (answer(502, text="<html>Bad gateway</html>"), "", "HTTP 502"),
    (answer(500, ["not", "an", "object"]), "", "HTTP 500"),
])
def test_a_vigil_error_answer_reads_as_its_code_and_message_whatever_its_shape(response, code, message):
    assert error_code(response) == code
    assert error_message(response) == message


def test_a_422s_fields_are_read_as_pairs_and_other_answers_have_none():
    from shared.error_bodies import error_fields
    refused = answer(422, {"error": "invalid_request", "message": "invalid request",
                           "fields": [{"field": "matchers[1].name", "message": "too short"}, {"message": "whole"}, "junk"]})
    assert error_fields(refused) == (("matchers[1].name", "too short"), ("body", "whole"))
    assert error_fields(answer(409, {"error": "conflict", "message": "x"})) == ()
    assert error_fields(answer(502, text="<html/>")) == ()
