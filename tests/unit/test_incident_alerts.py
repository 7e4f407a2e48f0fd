"""Dedup, staleness, grouping and severity mapping of alert events (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.incidents.alerts import Occurrence, Outcome, classify, group_of, title_of
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
