"""What the responder commands' words mean: incident references, durations, times, labels,
severities, SLO ids and what a personal token says about itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.responder_cli import parse
from shared.identity import mint

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
BERLIN_WINTER = timezone(timedelta(hours=1), "CET")


@pytest.mark.parametrize(("text", "ref"), [
    ("INC-42", "INC-42"), ("inc-42", "INC-42"), ("INC42", "INC-42"), ("42", "INC-42"), (" 7 ", "INC-7"), ("INC-007", "INC-7"),
])
def test_an_incident_is_named_inc_n_or_its_number(text, ref):
    assert parse.incident_ref(text) == ref


@pytest.mark.parametrize("text", ["", "INC-", "INC-4x", "#42", "checkout", "INC--1", "1" * 19])
def test_anything_else_is_not_an_incident_and_the_sentence_shows_the_form(text):
    with pytest.raises(ValueError, match="INC-<n> or <n>"):
        parse.incident_ref(text)


@pytest.mark.parametrize(("text", "delta"), [
    ("30m", timedelta(minutes=30)), ("8h", timedelta(hours=8)), ("1h30m", timedelta(hours=1, minutes=30)),
    ("2d", timedelta(days=2)), ("1w", timedelta(weeks=1)), ("1H 15M", timedelta(hours=1, minutes=15)), ("45s", timedelta(seconds=45)),
])
def test_durations_are_sums_of_units(text, delta):
    assert parse.duration(text) == delta


@pytest.mark.parametrize("text", ["", "8", "h", "8x", "8h-", "-8h", "eight hours"])
def test_a_duration_without_a_unit_or_with_an_unknown_one_is_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse.duration(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("now", NOW),
    ("+8h", NOW + timedelta(hours=8)),
    ("-30m", NOW - timedelta(minutes=30)),
    ("2026-12-07T09:15+01:00", datetime(2026, 12, 7, 8, 15, tzinfo=UTC)),
    ("2026-12-07T08:15Z", datetime(2026, 12, 7, 8, 15, tzinfo=UTC)),
    ("2026-12-07T09:15", datetime(2026, 12, 7, 8, 15, tzinfo=UTC)),  # local time: CET
    ("2026-12-07 09:15", datetime(2026, 12, 7, 8, 15, tzinfo=UTC)),
    ("2026-12-08", datetime(2026, 12, 7, 23, 0, tzinfo=UTC)),  # local midnight
])
def test_times_are_now_relative_or_iso_and_without_an_offset_local(text, expected):
    assert parse.instant(text, now=NOW, zone=BERLIN_WINTER) == expected


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01", "09:00", "+", "+8", "2026-12-07T25:00"])
def test_a_time_the_parser_cannot_read_is_refused_with_examples(text):
    with pytest.raises(ValueError, match="is not a (time|duration)"):
        parse.instant(text, now=NOW, zone=UTC)


def test_labels_are_name_value_pairs_and_a_value_may_hold_an_equals_sign():
    assert parse.label("service=checkout") == ("service", "checkout")
    assert parse.label("query=a=b") == ("query", "a=b")
    assert parse.label("empty=") == ("empty", "")
    for bad in ("service", "=checkout", " =x"):
        with pytest.raises(ValueError, match="name=value"):
            parse.label(bad)


@pytest.mark.parametrize(("text", "severity"), [("1", 1), ("4", 4), ("SEV2", 2), ("sev3", 3)])
def test_severities_are_numbers_or_sev_labels(text, severity):
    assert parse.severity(text) == severity


@pytest.mark.parametrize("text", ["0", "5", "SEV", "critical", "SEV12"])
def test_other_severities_are_refused(text):
    with pytest.raises(ValueError, match="1-4 or SEV1-SEV4"):
        parse.severity(text)


def test_an_slo_is_service_colon_name_or_two_words():
    assert parse.slo_id("checkout:availability", None) == ("checkout", "availability")
    assert parse.slo_id("svc:eu:latency-p99", None) == ("svc:eu", "latency-p99")  # a service name may hold ':'
    assert parse.slo_id("checkout", "availability") == ("checkout", "availability")
    for bad in ("checkout", ":availability", "checkout:"):
        with pytest.raises(ValueError, match="<service>:<slo>"):
            parse.slo_id(bad, None)


def test_a_personal_token_tells_its_person_role_id_and_expiry_a_service_account_nothing():
    expires = datetime(2027, 1, 1, tzinfo=UTC)
    token = mint(b"k" * 32, kind="token", person="kim", role="responder", expires_at=expires, token_id="tok-9")
    assert parse.token_claims(token) == {"k": "token", "p": "kim", "r": "responder", "i": "tok-9", "x": int(expires.timestamp())}
    assert parse.token_claims("test-responder-token-0002") is None
    assert parse.token_claims("vgt_not-base64!.sig") is None
    assert parse.token_claims("vgt_WzFd.sig") is None  # [1]: JSON, but not claims
