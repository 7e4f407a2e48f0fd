"""The silence and maintenance-scope matching (services/incidents/silences.py), as Alertmanager
matches: a missing label is the empty string, regexes match the whole value, and a silence must
not match every alert."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, strategies as st

from services.incidents.silences import (
    InvalidMatcher, MaintenanceScope, Matcher, Silence, Suppressions, check_silence_matchers, matches_all,
    parse_matcher, suppressed_text,
)

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def m(text: str) -> Matcher:
    return parse_matcher(text)


@pytest.mark.parametrize(("matcher", "labels", "expected"), [
    ("service=api", {"service": "api"}, True),
    ("service=api", {"service": "api-gw"}, False),
    ("service=api", {}, False),
    ("service!=api", {"service": "web"}, True),
    ("service!=api", {"service": "api"}, False),
    ("team!=db", {}, True),  # a missing label is "", which is not "db" (Alertmanager)
    ('team=""', {}, True),  # empty value: matches a missing label
    ('team=""', {"team": ""}, True),
    ('team=""', {"team": "db"}, False),
    ("service=~api", {"service": "api"}, True),
    ("service=~api", {"service": "api-gw"}, False),  # anchored: the whole value must match
    ("service=~api", {"service": "my-api"}, False),
    ("service=~api", {"service": "api\n"}, False),  # `$` is the very end, as in Go
    ('service=~"api|web"', {"service": "web"}, True),
    ("service=~api.*", {"service": "api-gw"}, True),
    ("service=~.*", {}, True),
    ("service=~.+", {}, False),
    ("service!~api|web", {"service": "db"}, True),
    ("service!~api|web", {"service": "web"}, False),
    ("service!~api", {"service": "api-gw"}, True),  # anchored for !~ too
    ("service!~.+", {}, True),
])
def test_a_matcher_matches_as_alertmanager_does(matcher, labels, expected):
    assert m(matcher).matches(labels) is expected


def test_every_matcher_of_a_silence_must_match():
    matchers = [m("service=api"), m("env=prod")]
    assert matches_all(matchers, {"service": "api", "env": "prod", "instance": "a"})
    assert not matches_all(matchers, {"service": "api", "env": "staging"})


@pytest.mark.parametrize(("text", "name", "op", "value"), [
    ("service=api", "service", "=", "api"),
    ("env != prod", "env", "!=", "prod"),
    ('service=~"api|web"', "service", "=~", "api|web"),
    ("team!~db.*", "team", "!~", "db.*"),
    ("note=a=b", "note", "=", "a=b"),  # the first operator ends the name
    ('team=""', "team", "=", ""),
])
def test_matchers_are_read_from_text(text, name, op, value):
    assert (m(text).name, m(text).op, m(text).value) == (name, op, value)


@pytest.mark.parametrize(("text", "why"), [
    ("service=~(", "not a valid regular expression"),
    ("service!~[a-", "not a valid regular expression"),
    ("9lives=x", "not a label name"),
    ("service", "not a matcher"),
    ("=api", "not a matcher"),
])
def test_a_bad_matcher_is_refused_with_the_reason(text, why):
    with pytest.raises(InvalidMatcher, match=why):
        parse_matcher(text)


def test_a_silence_that_would_hold_every_alert_is_refused():
    for matchers in ([], [m("env!=prod")], [m("service=~.*")], [m('team=""')], [m("env!=prod"), m("service=~.*")]):
        with pytest.raises(InvalidMatcher):
            check_silence_matchers(matchers)
    check_silence_matchers([m("env!=prod"), m("service=api")])  # one matcher needs a value: fine


def test_a_silence_holds_only_while_active_start_inclusive_end_exclusive():
    silence = Silence(1, (m("service=api"),), T0, T0 + HOUR)
    labels = {"service": "api"}
    assert not silence.holds(labels, T0 - timedelta(seconds=1))
    assert silence.holds(labels, T0)
    assert silence.holds(labels, T0 + HOUR - timedelta(microseconds=1))
    assert not silence.holds(labels, T0 + HOUR)


def test_of_several_silences_the_one_ending_last_holds_the_alert():
    early = Silence(1, (m("service=api"),), T0, T0 + HOUR)
    late = Silence(2, (m("service=~api|web"),), T0, T0 + 3 * HOUR)
    other = Silence(3, (m("service=db"),), T0, T0 + 9 * HOUR)
    found = Suppressions(silences=(early, late, other))
    assert found.silence_for({"service": "api"}, T0).id == 2
    assert found.silence_for({"service": "api"}, T0, besides=[2]).id == 1
    assert found.silence_for({"service": "web"}, T0 + 2 * HOUR).id == 2
    assert found.silence_for({"service": "api"}, T0 + 4 * HOUR) is None


def test_a_maintenance_window_covers_its_service_and_matchers_while_it_runs():
    window = MaintenanceScope(4, "db upgrade", T0, T0 + HOUR, service="db", matchers=(m("env=prod"),))
    assert window.covers({"service": "db", "env": "prod"}, T0)
    assert not window.covers({"service": "db", "env": "staging"}, T0)
    assert not window.covers({"service": "api", "env": "prod"}, T0)
    assert not window.covers({"env": "prod"}, T0)  # no service label: not in a service's window
    assert not window.covers({"service": "db", "env": "prod"}, T0 + HOUR)


def test_a_maintenance_window_without_a_scope_is_a_record_only():
    window = MaintenanceScope(5, "office move", T0, T0 + HOUR)
    assert not window.scoped
    assert Suppressions(windows=(window,)).window_for({"service": "db"}, T0) is None


def test_a_window_scoped_by_matchers_alone_needs_no_service():
    window = MaintenanceScope(6, "network", T0, T0 + HOUR, matchers=(m("dc=~fra.*"),))
    assert Suppressions(windows=(window,)).window_for({"dc": "fra1", "service": "x"}, T0) == window


def test_the_timeline_says_which_window_suppressed_the_incident():
    window = MaintenanceScope(4, "db upgrade", T0, T0 + HOUR, service="db")
    text = suppressed_text(window)
    assert "maintenance window 4 (db upgrade" in text and "2026-12-07 11:00 UTC" in text and "no pages" in text


# -- properties --------------------------------------------------------------------------------------

names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
label_sets = st.dictionaries(names, values, max_size=5)


@given(names, values, label_sets)
def test_not_equal_is_the_negation_of_equal(name, value, labels):
    assert Matcher.of(name, "!=", value).matches(labels) is not Matcher.of(name, "=", value).matches(labels)


@given(names, values, label_sets)
def test_an_escaped_value_as_a_regex_matches_exactly_what_equality_matches(name, value, labels):
    import re

    regex = Matcher.of(name, "=~", re.escape(value))
    assert regex.matches(labels) is Matcher.of(name, "=", value).matches(labels)
    assert Matcher.of(name, "!~", re.escape(value)).matches(labels) is not regex.matches(labels)


@given(names, values, label_sets)
def test_a_missing_label_is_the_empty_string(name, value, labels):
    labels = {k: v for k, v in labels.items() if k != name}
    for op in ("=", "!="):
        assert Matcher.of(name, op, value).matches(labels) is Matcher.of(name, op, value).matches({**labels, name: ""})


@given(names, values, values)
def test_a_regex_never_matches_a_longer_value_by_a_prefix(name, value, suffix):
    import re

    if suffix:
        assert not Matcher.of(name, "=~", re.escape(value)).matches({name: value + suffix})


def test_the_weekly_review_lists_the_weeks_silences_and_the_earlier_ones_that_still_suppressed_alerts():
    from services.incidents.ops.reports import silencing_summary, week_period

    week = week_period(T0.date(), "UTC")
    matchers = [{"name": "service", "op": "=", "value": "api"}]
    this_week = {"id": 9, "matchers": matchers, "created_at": T0, "created_by": "ana"}
    older = {"id": 3, "matchers": [{"name": "env", "op": "=~", "value": "dev|qa"}], "created_at": T0 - 9 * 24 * HOUR,
             "created_by": "bo"}
    windows = [{"window_id": 4, "activity": "db upgrade", "incidents": 2, "alerts": 5}]
    summary = silencing_summary(silences=[this_week, older], alerts_by_silence={9: 4, 3: 1}, windows=windows, period=week)
    assert [(r["id"], r["created_in_period"], r["alerts"], r["matchers_text"]) for r in summary["silences"]] == [
        (3, False, 1, 'env=~"dev|qa"'), (9, True, 4, 'service="api"')]
    assert (summary["silences_created"], summary["alerts_silenced"]) == (1, 5)
    assert (summary["incidents_suppressed"], summary["alerts_in_suppressed_incidents"]) == (2, 5)


def test_an_ended_maintenance_window_pages_for_its_open_incident_only_when_its_alerts_still_fire():
    from services.incidents.lifecycle import Incident, maintenance_ended

    incident = Incident(id=3, status="investigating", severity=1, severity_source="alerts", detected_at=T0, started_at=T0)
    firing = maintenance_ended(incident, window=4, firing=2)
    assert firing.events == ["unsuppressed"] and "window 4 ended while 2 of its alerts still fire" in firing.entries[0].text
    quiet = maintenance_ended(incident, window=4, firing=0)
    assert quiet.events == [] and "an alert firing again pages" in quiet.entries[0].text
