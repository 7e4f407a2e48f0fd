"""The Silences pages' form and wording: matcher rows and text read into the silence API's request,
ends as presets or times, the API's 422 messages put back beside their fields, times in words, and
the "Silence…" link from an alert's labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from services.console.silence_view import (
    MAX_ROWS,
    MIN_ROWS,
    InputError,
    SilenceForm,
    expire_warning,
    field_errors,
    prefilled,
    silence_link,
    silence_request,
    split_matchers,
    timing,
)
from services.incidents.silences import parse_matcher

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def form(**fields: str) -> SilenceForm:
    return SilenceForm.of(fields, key="k1")


@pytest.mark.parametrize(("text", "expected"), [
    ('service="checkout", env=~"prod.*"', ['service="checkout"', 'env=~"prod.*"']),
    ('{service="checkout",env!="dev"}', ['service="checkout"', 'env!="dev"']),
    ('service=~"a,b|c", team!~"db.*"', ['service=~"a,b|c"', 'team!~"db.*"']),
    (r'msg="say \"hi, you\"", x=y', [r'msg="say \"hi, you\""', "x=y"]),
    ("service=api", ["service=api"]),
    (" , ,", []),
    ("", []),
])
def test_matcher_text_splits_at_commas_outside_quotes(text, expected):
    assert split_matchers(text) == expected


def test_split_text_matchers_are_read_by_the_incident_service_as_the_cli_sends_them():
    parsed = [parse_matcher(t).as_dict() for t in split_matchers('service="checkout", env=~"prod.*"')]
    assert parsed == [{"name": "service", "op": "=", "value": "checkout"}, {"name": "env", "op": "=~", "value": "prod.*"}]


def test_rows_and_text_become_the_request_with_empty_rows_left_out_and_the_preset_end_after_now():
    body = silence_request(form(name_0="service", op_0="=", value_0="checkout", name_1="", op_1="=", value_1="",
                                name_2="team", op_2="=", value_2="", matchers_text='env=~"prod.*"', end="2h",
                                comment="deploy 1.4"), now=NOW)
    assert body == {"matchers": [{"name": "service", "op": "=", "value": "checkout"},
                                 {"name": "team", "op": "=", "value": ""}, 'env=~"prod.*"'],
                    "ends_at": (NOW + timedelta(hours=2)).isoformat(), "comment": "deploy 1.4"}


@pytest.mark.parametrize(("preset", "length"), [("1h", timedelta(hours=1)), ("4h", timedelta(hours=4)),
                                                ("1d", timedelta(days=1))])
def test_a_preset_end_counts_from_the_start_when_one_is_given(preset, length):
    body = silence_request(form(name_0="service", value_0="api", starts="2026-12-07T22:00", end=preset, comment="db"),
                           now=NOW)
    start = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
    assert body["starts_at"] == start.isoformat()
    assert body["ends_at"] == (start + length).isoformat()


def test_a_preset_end_is_rounded_up_to_the_minute_so_a_double_submit_is_the_same_request():
    first = silence_request(form(name_0="service", value_0="api", end="1h", comment="x"), now=NOW + timedelta(seconds=3))
    second = silence_request(form(name_0="service", value_0="api", end="1h", comment="x"), now=NOW + timedelta(seconds=41))
    assert first == second and first["ends_at"] == (NOW + timedelta(hours=1, minutes=1)).isoformat()


def test_a_form_sent_again_later_says_a_silence_was_made_already():
    assert "made a silence" in field_errors("this Idempotency-Key was used for another request")["form"][0]


def test_an_end_at_a_time_is_read_as_utc():
    body = silence_request(form(name_0="service", value_0="api", end="until", until="2026-12-08T02:00", comment="db"),
                           now=NOW)
    assert body["ends_at"] == "2026-12-08T02:00:00+00:00"
    assert "starts_at" not in body  # the service's now


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"name_0": "", "value_0": "", "matchers_text": " "}, "matchers", "at least one matcher"),
    ({"name_0": "service", "value_0": "api", "end": "until", "until": ""}, "ends_at", "time it ends"),
    ({"name_0": "service", "value_0": "api", "end": "until", "until": "tomorrow"}, "ends_at", "not a date"),
    ({"name_0": "service", "value_0": "api", "starts": "soon"}, "starts_at", "not a date"),
    ({"name_0": "service", "value_0": "api", "end": "3w"}, "ends_at", "how long"),
])
def test_what_the_page_cannot_read_is_said_beside_its_field(fields, field, words):
    with pytest.raises(InputError) as caught:
        silence_request(form(comment="x", **fields), now=NOW)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_the_form_keeps_at_least_three_rows_and_one_empty_row_after_the_filled_ones():
    assert len(form().rows) == MIN_ROWS
    filled = form(**{f"{part}_{i}": "x" for i in range(3) for part in ("name", "value")})
    assert len(filled.rows) == 4 and filled.rows[-1] == {"name": "", "op": "=", "value": ""}


def test_an_alerts_labels_prefill_one_equality_row_each():
    prefill = prefilled(["service=checkout", "env=prod=eu", "junk", "=x"], key="k")
    assert prefill.rows[:2] == [{"name": "service", "op": "=", "value": "checkout"},
                                {"name": "env", "op": "=", "value": "prod=eu"}]
    assert len(prefill.rows) == 3 and prefill.text == ""


def test_more_labels_than_rows_prefill_the_matcher_text_instead():
    labels = [f"l{i}=v{i}" for i in range(MAX_ROWS)] + ['q=say "hi"']
    prefill = prefilled(labels, key="k")
    assert all(not r["name"] for r in prefill.rows)
    assert [parse_matcher(t).as_dict()["value"] for t in split_matchers(prefill.text)][-1] == r'say \"hi\"'
    assert len(split_matchers(prefill.text)) == MAX_ROWS + 1


def test_the_silence_link_carries_each_label_and_prefills_the_same_rows():
    link = silence_link({"service": "checkout", "env": "prod & eu"})
    parts = urlsplit(link)
    assert parts.path == "/silences/new"
    labels = parse_qs(parts.query)["label"]
    assert labels == ["env=prod & eu", "service=checkout"]
    assert prefilled(labels, key="k").rows[0] == {"name": "env", "op": "=", "value": "prod & eu"}


@pytest.mark.parametrize(("fields", "expected"), [
    ((("matchers", "Value error, service=~'(': not a valid regular expression (missing ), unterminated subpattern at "
                   "position 0)"),),
     {"matchers": ["service=~'(': not a valid regular expression (missing ), unterminated subpattern at position 0)"]}),
    ((("matchers[1].name", "String should have at least 1 character"), ("comment", "String should have at least 1 character")),
     {"matchers": ["matcher 2: String should have at least 1 character"],
      "comment": ["String should have at least 1 character"]}),
    ((("matchers", "Value error, x=~'a; b(': bad"), ("ends_at", "Input should be a valid datetime")),
     {"matchers": ["x=~'a; b(': bad"], "ends_at": ["Input should be a valid datetime"]}),
    ((("body", "Value error, ends_at must be after starts_at"),), {"ends_at": ["ends_at must be after starts_at"]}),
    ((("body", "Field required"),), {"form": ["Field required"]}),
    ((), {"form": ["invalid request"]}),
])
def test_the_apis_422_fields_go_beside_the_form_fields_they_name(fields, expected):
    assert field_errors("invalid request", fields) == expected


def test_a_refusal_naming_no_field_is_the_forms():
    assert field_errors("no silence 7") == {"form": ["no silence 7"]}


@pytest.mark.parametrize(("starts", "ends", "words"), [
    (NOW - timedelta(hours=1), NOW + timedelta(hours=1, minutes=20), "ends in 1 h 20 min"),
    (NOW + timedelta(hours=3), NOW + timedelta(hours=5), "starts in 3 h"),
    (NOW - timedelta(days=3), NOW - timedelta(days=2), "ended 2 d ago"),
])
def test_a_silences_time_in_words(starts, ends, words):
    assert timing({"starts_at": starts.isoformat(), "ends_at": ends.isoformat()}, NOW) == words


def test_the_expire_warning_counts_the_held_alerts_that_will_page():
    assert "pages nobody" in expire_warning(0)
    assert expire_warning(1).startswith("1 alert it holds is still firing")
    assert expire_warning(3).startswith("3 alerts it holds are still firing") and "pages now" in expire_warning(3)
