"""`shared.observability.configure_logging`: one JSON object per line on stderr, below-level lines
dropped, the log context merged in, stdlib loggers (uvicorn, aiokafka) rendered the same way."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from shared.observability import configure_logging


@pytest.fixture
def json_logs():
    stream = io.StringIO()
    configure_logging(level="info", fmt="json", stream=stream)
    structlog.contextvars.clear_contextvars()
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    structlog.contextvars.clear_contextvars()
    configure_logging(level="info", fmt="console")  # as tests/conftest.py has it


def test_info_lines_are_json_with_level_time_and_the_bound_context(json_logs):
    log = structlog.get_logger("vigil.test")
    log.debug("not shown")
    with structlog.contextvars.bound_contextvars(incident_id="INC-42", fingerprint="fp-1"):
        log.info("incident opened", severity="SEV1")
    log.warning("after", n=2)
    lines = json_logs()
    assert [line["event"] for line in lines] == ["incident opened", "after"]
    opened, after = lines
    assert (opened["level"], opened["incident_id"], opened["fingerprint"], opened["severity"]) == ("info", "INC-42", "fp-1", "SEV1")
    assert opened["timestamp"].endswith("Z")
    assert "incident_id" not in after and after["level"] == "warning" and after["n"] == 2


def test_exceptions_are_rendered_into_the_line(json_logs):
    try:
        raise RuntimeError("connection has been released back to the pool")
    except RuntimeError:
        structlog.get_logger("vigil.test").error("relay failed", exc_info=True)
    (line,) = json_logs()
    assert "RuntimeError: connection has been released back to the pool" in line["exception"]


def test_stdlib_loggers_come_out_the_same_way_with_their_name(json_logs):
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("aiokafka").info("chatty reconnect")  # aiokafka below warning is dropped
    (line,) = json_logs()
    assert (line["event"], line["logger"], line["level"]) == ("Started server process", "uvicorn.error", "info")
