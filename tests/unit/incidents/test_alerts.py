"""Dedup, staleness, grouping and severity mapping of alert events (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.incidents.alerts import Occurrence, Outcome, classify, group_of, independent_parts, title_of
from services.incidents.config import IncidentsSettings
from shared.events import AlertEvent

T = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def event(status="firing", *, labels=None, group_key="{}:{alertname=\"X\"}", annotations=None) -> AlertEvent:
    return AlertEvent(
        event_id="e", occurred_at=T, source="alertmanager", fingerprint="fp1", status=status,
        labels=labels or {"alertname": "X", "service": "api", "env": "prod"},
        annotations=annotations or {}, starts_at=T, ends_at=T if status == "resolved" else None, group_key=group_key,
    )


FIRING = Occurrence("fp1", T, "firing", 3)
RESOLVED = Occurrence("fp1", T, "resolved", 3)


@pytest.mark.parametrize(
    "status, occurrence, outcome",
    [
        ("firing", None, Outcome.NEW_FIRING),
        ("firing", FIRING, Outcome.REPEAT),  # repeat_interval resend, HA duplicate, replay
        ("firing", RESOLVED, Outcome.STALE_FIRING),  # older than the resolve already seen
        ("resolved", FIRING, Outcome.RESOLVE),
        ("resolved", RESOLVED, Outcome.REPEAT_RESOLVE),
        ("resolved", None, Outcome.ORPHAN_RESOLVE),  # resolve before (or without) its firing
    ],
)
def test_classify(status, occurrence, outcome):
    assert classify(event(status), occurrence) is outcome


def test_group_is_alertmanagers_group_key_by_default():
    assert group_of(event(), group_by=[]) == 'alertmanager:{}:{alertname="X"}'


def test_group_can_be_a_label_list_instead():
    a = event(group_key="route-1")
    b = event(group_key="route-2")
    assert group_of(a, group_by=["alertname", "service"]) == group_of(b, group_by=["alertname", "service"])
    assert group_of(a, group_by=["alertname", "service"]) == "labels:alertname=X,service=api"
    other_env = event(labels={"alertname": "X", "service": "api", "env": "staging"})
    assert group_of(other_env, group_by=["alertname", "env"]) != group_of(a, group_by=["alertname", "env"])


def test_without_group_key_an_alert_is_its_own_group():
    assert group_of(event(group_key=None), group_by=[]) == "alertmanager:fingerprint:fp1"


def test_title_prefers_the_summary_annotation():
    assert title_of(event(annotations={"summary": "Checkout is slow"})) == "Checkout is slow"
    assert title_of(event()) == "X on api"


@pytest.mark.parametrize(
    "label, sev",
    [("critical", 1), ("high", 2), ("medium", 3), ("low", 4), ("warning", 3), ("info", 4), ("CRITICAL", 1), (None, 2), ("bogus", 2)],
)
def test_default_severity_mapping(monkeypatch, label, sev):
    rules = IncidentsSettings.load(database_url="postgresql://x/y").grouping()
    labels = {"alertname": "X"} | ({"severity": label} if label else {})
    assert rules.severity_of(labels) == sev


def test_severity_mapping_is_configurable(monkeypatch):
    monkeypatch.setenv("VIGIL_INCIDENTS_SEVERITY_LEVELS", '{"p1": "critical", "warning": "low"}')
    monkeypatch.setenv("VIGIL_INCIDENTS_DEFAULT_LEVEL", "medium")
    rules = IncidentsSettings.load().grouping()
    assert rules.severity_of({"severity": "P1"}) == 1
    assert rules.severity_of({"severity": "warning"}) == 4
    assert rules.severity_of({}) == 3


def test_unknown_level_in_the_mapping_fails_at_start(monkeypatch):
    from shared.settings import SettingsError

    monkeypatch.setenv("VIGIL_INCIDENTS_SEVERITY_LEVELS", '{"p1": "urgent"}')
    with pytest.raises(SettingsError, match="VIGIL_INCIDENTS_SEVERITY_LEVELS"):
        IncidentsSettings.load()


def alert_in(group: str, fingerprint: str, event_id: str) -> AlertEvent:
    return AlertEvent(
        event_id=event_id, occurred_at=T, source="alertmanager", fingerprint=fingerprint, status="firing",
        labels={"alertname": "X"}, starts_at=T, group_key=group,
    )


def test_independent_parts_share_no_group_fingerprint_or_event_id_and_keep_the_order():
    events = [
        alert_in("g1", "a", "1"), alert_in("g2", "b", "2"), alert_in("g1", "c", "3"),
        alert_in("g3", "b", "4"),  # fingerprint b: with g2
        alert_in("g4", "d", "5"), alert_in("g5", "e", "3"),  # event id 3: with g1
        alert_in("g6", "f", "6"), alert_in("g2", "b", "7"),
    ]
    parts = independent_parts(events, group_by=[], parts=2)
    assert sorted(e.event_id for p in parts for e in p) == sorted(e.event_id for e in events)
    keys = [{k for e in p for k in (f"g:{e.group_key}", f"f:{e.fingerprint}", f"e:{e.event_id}")} for p in parts]
    assert len(parts) == 2 and not keys[0] & keys[1]
    for p in parts:  # each in the stream's order
        assert [events.index(e) for e in p] == sorted(events.index(e) for e in p)
    by_id = {e.event_id: i for i, p in enumerate(parts) for e in p}
    assert by_id["1"] == by_id["3"]  # same group g1 (and id 3 of g5 joins it)
    assert by_id["2"] == by_id["4"] == by_id["7"]  # fingerprint b links g2 and g3
    assert sum(map(len, parts)) == len(events)
    assert max(map(len, parts)) - min(map(len, parts)) <= 3


def test_independent_parts_of_one_group_is_one_part():
    events = [alert_in("g", f"fp{n}", str(n)) for n in range(5)]
    assert independent_parts(events, group_by=[], parts=2) == [events]
    assert independent_parts([], group_by=[], parts=2) == []
