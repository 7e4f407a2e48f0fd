"""One classification of peers' answers for every sender, and when a failed attempt is tried again:
exponential backoff with full jitter, Retry-After honoured, a deadline after which it fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.outcome import SendResult
from services.notifier.policy import (
    RETRY_MIN_S, classify_http, classify_smtp, next_attempt, retry_after_seconds,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_http_2xx_is_accepted(status):
    assert classify_http(status, now=T0) == SendResult.accepted(f"HTTP {status}")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_http_408_429_and_5xx_are_tried_again(status):
    result = classify_http(status, now=T0)
    assert (result.outcome, result.answer, result.error, result.retry_after_s) == ("transient", f"HTTP {status}", f"HTTP {status}", None)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422, 100, 600])
def test_other_http_statuses_fail_at_once(status):
    assert classify_http(status, now=T0).outcome == "permanent"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_fails_at_once_and_says_to_configure_the_final_url(status):
    result = classify_http(status, now=T0)
    assert result.outcome == "permanent" and "final URL" in result.error


def test_http_error_text_carries_the_detail_the_sender_gives():
    result = classify_http(410, now=T0, detail="endpoint removed")
    assert (result.answer, result.error) == ("HTTP 410", "HTTP 410: endpoint removed")


@pytest.mark.parametrize(
    "status, header, seconds",
    [
        (429, "120", 120.0),
        (429, " 7 ", 7.0),
        (503, "Thu, 26 Nov 2026 10:02:30 GMT", 150.0),
        (503, "Thu, 26 Nov 2026 09:00:00 GMT", 0.0),  # a date passed: at once
        (503, "Thu, 26 Nov 2026 10:00:10 -0000", 10.0),
        (429, "soon", None),
        (429, "", None),
        (429, "-5", None),
        (429, "1.5", None),
        (429, "١٢", None),  # Arabic-Indic digits are not delay-seconds
        (503, None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(status, header, seconds):
    assert classify_http(status, header, now=T0).retry_after_s == seconds


def test_retry_after_on_an_accepted_or_permanent_answer_is_ignored():
    assert classify_http(200, "60", now=T0).retry_after_s is None
    assert classify_http(404, "60", now=T0).retry_after_s is None


def test_retry_after_seconds_alone():
    assert retry_after_seconds("Thu, 26 Nov 2026 11:00:00 GMT", now=T0) == 3600.0
    assert retry_after_seconds(None, now=T0) is None


@pytest.mark.parametrize(
    "code, message, outcome",
    [
        (250, "2.0.0 Ok: queued as 4F1A2", "accepted"),
        (251, "user not local; will forward", "accepted"),
        (354, "go ahead", "accepted"),
        (421, "4.3.2 Service shutting down", "transient"),
        (450, "4.2.1 mailbox busy", "transient"),
        (451, "4.7.1 greylisted, try later", "transient"),
        (452, "4.3.1 insufficient storage", "transient"),
        (550, "5.1.1 no such user", "permanent"),
        (552, "5.3.4 message too big", "permanent"),
        (554, "5.7.1 rejected as spam", "permanent"),
    ],
)
def test_smtp_2xx_is_accepted_4xx_tried_again_5xx_fails(code, message, outcome):
    result = classify_smtp(code, message)
    assert result.outcome == outcome
    assert result.answer == f"{code} {message}"
    if outcome != "accepted":
        assert result.error == f"SMTP {code} {message}"


def attempt(result: SendResult, attempts: int, *, now: datetime = T0, rand: float = 0.5,
            retry_for: timedelta = HOUR, first: datetime = T0) -> datetime | None:
    return next_attempt(result, attempts=attempts, first_attempt_at=first, now=now, retry_for=retry_for,
                        base_s=5, cap_s=300, rand=lambda: rand)


TRANSIENT = SendResult.transient("HTTP 503")


@pytest.mark.parametrize("attempts, ceiling_s", [(1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (6, 160), (7, 300), (12, 300)])
def test_the_backoff_doubles_per_attempt_up_to_the_cap_and_the_jitter_draws_below_it(attempts, ceiling_s):
    assert attempt(TRANSIENT, attempts, rand=0.999999) == T0 + timedelta(seconds=ceiling_s * 0.999999)
    assert attempt(TRANSIENT, attempts, rand=0.5) == T0 + timedelta(seconds=max(RETRY_MIN_S, ceiling_s * 0.5))


def test_a_jitter_near_zero_still_waits_a_second():
    assert attempt(TRANSIENT, 5, rand=0.0) == T0 + timedelta(seconds=RETRY_MIN_S)


def test_a_permanent_failure_is_not_tried_again():
    assert attempt(SendResult.permanent("HTTP 410"), 1) is None


def test_an_accepted_result_is_a_caller_error():
    with pytest.raises(ValueError, match="accepted"):
        attempt(SendResult.accepted("HTTP 200"), 1)


def test_retry_after_is_honoured_when_longer_than_the_backoff():
    assert attempt(SendResult.transient("HTTP 429", retry_after_s=90), 1) == T0 + timedelta(seconds=90)


def test_a_backoff_longer_than_retry_after_wins():
    assert attempt(SendResult.transient("HTTP 429", retry_after_s=2), 7, rand=0.5) == T0 + timedelta(seconds=150)


def test_a_retry_after_past_the_deadline_fails_the_delivery_now():
    late = T0 + timedelta(minutes=50)
    assert attempt(SendResult.transient("HTTP 429", retry_after_s=11 * 60), 9, now=late) is None


def test_a_backoff_that_would_cross_the_deadline_becomes_one_last_attempt_at_the_deadline():
    late = T0 + timedelta(minutes=59)
    assert attempt(TRANSIENT, 9, now=late, rand=0.9) == T0 + HOUR


def test_after_the_deadline_the_delivery_fails():
    assert attempt(TRANSIENT, 30, now=T0 + HOUR) is None
    assert attempt(TRANSIENT, 30, now=T0 + 2 * HOUR) is None


def test_retrying_for_zero_seconds_means_never():
    assert attempt(TRANSIENT, 1, retry_for=timedelta(0)) is None


@given(
    attempts=st.integers(1, 60), rand=st.floats(0, 1, exclude_max=True),
    elapsed_s=st.integers(0, 7200), retry_after_s=st.none() | st.floats(0, 7200),
)
def test_a_retry_is_never_sooner_than_a_second_nor_than_retry_after_nor_later_than_the_deadline(
    attempts, rand, elapsed_s, retry_after_s
):
    now = T0 + timedelta(seconds=elapsed_s)
    at = attempt(SendResult.transient("x", retry_after_s=retry_after_s), attempts, now=now, rand=rand)
    deadline = T0 + HOUR
    if at is None:
        assert now >= deadline or (retry_after_s is not None and now + timedelta(seconds=retry_after_s) > deadline)
        return
    assert now < at <= deadline
    assert at >= min(now + timedelta(seconds=RETRY_MIN_S), deadline)
    if retry_after_s is not None:
        assert at >= now + timedelta(seconds=retry_after_s)
