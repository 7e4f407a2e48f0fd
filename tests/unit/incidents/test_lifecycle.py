"""The incident lifecycle, as tables of allowed, idempotent and refused transitions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.incidents import lifecycle as lc
from services.incidents.lifecycle import Incident, Refused, Resolution

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=3)

BASE = Incident(id=7, status="investigating", severity=2, severity_source="alerts", detected_at=T0, started_at=T0 - timedelta(minutes=1))
ACKED = replace(BASE, acknowledged_at=T0 + timedelta(minutes=1), acknowledged_by="ana")
MITIGATING = replace(BASE, status="mitigating", mitigated_at=T0 + timedelta(minutes=2))
RESOLVED = replace(BASE, status="resolved", mitigated_at=T0 + timedelta(minutes=2), resolved_at=T0 + timedelta(minutes=2), acknowledged_at=T0, acknowledged_by="ana")

ACTIONS = {
    "acknowledge": lambda i: lc.acknowledge(i, by="bob", now=NOW),
    "unacknowledge": lambda i: lc.unacknowledge(i, by="bob", reason="handing over", now=NOW),
    "to_investigating": lambda i: lc.set_status(i, status="investigating", by="bob", now=NOW),
    "to_mitigating": lambda i: lc.set_status(i, status="mitigating", by="bob", now=NOW),
    "to_resolved": lambda i: lc.set_status(i, status="resolved", by="bob", now=NOW),
    "resolve": lambda i: lc.resolve(i, by="bob", now=NOW, resolution=Resolution(root_cause="disk full")),
    "reopen": lambda i: lc.reopen(i, by="bob", reason="came back", now=NOW),
    "severity_1": lambda i: lc.set_severity(i, severity=1, by="bob", now=NOW),
    "commander": lambda i: lc.assign_commander(i, commander="carol", by="bob", now=NOW),
}

# (state, action) -> expected events; "noop" = allowed and changes nothing; "refused" = 409.
TABLE = [
    (BASE, "acknowledge", ["acknowledged"]),
    (ACKED, "acknowledge", "noop"),
    (MITIGATING, "acknowledge", ["acknowledged"]),
    (RESOLVED, "acknowledge", "refused"),
    (ACKED, "unacknowledge", ["unacknowledged"]),
    (BASE, "unacknowledge", "noop"),
    (RESOLVED, "unacknowledge", "refused"),
    (BASE, "to_investigating", "noop"),
    (MITIGATING, "to_investigating", ["status_changed"]),
    (RESOLVED, "to_investigating", "refused"),
    (BASE, "to_mitigating", ["status_changed"]),
    (MITIGATING, "to_mitigating", "noop"),
    (RESOLVED, "to_mitigating", "refused"),
    (BASE, "to_resolved", ["resolved"]),
    (MITIGATING, "resolve", ["resolved"]),
    (BASE, "resolve", ["resolved"]),
    (RESOLVED, "resolve", "noop"),
    (RESOLVED, "to_resolved", "noop"),
    (RESOLVED, "reopen", ["reopened"]),
    (BASE, "reopen", "refused"),
    (MITIGATING, "reopen", "refused"),
    (BASE, "severity_1", ["severity_changed"]),
    (replace(BASE, severity=1, severity_source="person"), "severity_1", "noop"),
    (RESOLVED, "severity_1", ["severity_changed"]),
    (BASE, "commander", ["commander_assigned"]),
    (replace(BASE, commander="carol"), "commander", "noop"),
]


@pytest.mark.parametrize("state, action, expected", TABLE, ids=[f"{s.status}{'-acked' if s.acknowledged_at else ''}-{a}" for s, a, _ in TABLE])
def test_transition_table(state, action, expected):
    if expected == "refused":
        with pytest.raises(Refused, match="INC-7"):
            ACTIONS[action](state)
        return
    change = ACTIONS[action](state)
    if expected == "noop":
        assert not change.changed
        assert change.incident == state
    else:
        assert change.events == expected
        assert change.entries, "every change is written into the timeline"


def test_acknowledge_records_who_and_when():
    after = lc.acknowledge(BASE, by="bob", now=NOW).incident
    assert (after.acknowledged_at, after.acknowledged_by) == (NOW, "bob")


def test_mitigating_sets_mitigated_at_once_and_going_back_clears_it():
    mitigating = lc.set_status(BASE, status="mitigating", by="bob", now=NOW).incident
    assert mitigating.mitigated_at == NOW
    back = lc.set_status(mitigating, status="investigating", by="bob", now=NOW + timedelta(minutes=1)).incident
    assert back.mitigated_at is None


def test_resolve_keeps_an_earlier_mitigation_time_and_stores_the_resolution():
    after = lc.resolve(MITIGATING, by="bob", now=NOW, resolution=Resolution("disk full", "no alert on inodes", "grew volume")).incident
    assert after.status == "resolved"
    assert after.resolved_at == NOW
    assert after.mitigated_at == MITIGATING.mitigated_at
    assert (after.root_cause, after.contributing_factors, after.fix_applied) == ("disk full", "no alert on inodes", "grew volume")


def test_reopen_clears_resolution_times_and_the_acknowledgement_so_escalation_restarts():
    after = lc.reopen(RESOLVED, by="bob", reason="again", now=NOW).incident
    assert after.status == "investigating"
    assert after.resolved_at is None and after.mitigated_at is None
    assert after.acknowledged_at is None and after.acknowledged_by is None


def test_a_person_confirming_the_same_severity_pins_it_without_an_event():
    change = lc.set_severity(BASE, severity=2, by="bob", now=NOW)
    assert change.incident.severity_source == "person"
    assert change.events == []
    assert change.entries


@pytest.mark.parametrize("severity", [0, 5, -1])
def test_severity_outside_1_to_4_is_refused(severity):
    with pytest.raises(Refused):
        lc.set_severity(BASE, severity=severity, by="bob", now=NOW)


@pytest.mark.parametrize(
    "incident, alert_sev, expected_sev, events",
    [
        (BASE, 1, 1, ["severity_changed"]),  # a critical alert joins a SEV2 incident
        (BASE, 2, 2, []),
        (BASE, 3, 2, []),  # lower severities never lower the incident
        (replace(BASE, severity=3, severity_source="person"), 1, 3, []),  # a person's choice wins
    ],
)
def test_incident_severity_is_the_highest_of_its_alerts_unless_a_person_set_it(incident, alert_sev, expected_sev, events):
    change = lc.alert_severity_seen(incident, severity=alert_sev)
    assert change.incident.severity == expected_sev
    assert change.events == events


AUTO = frozenset({3, 4})


@pytest.mark.parametrize(
    "incident, status, events",
    [
        (replace(BASE, severity=3), "resolved", ["resolved"]),
        (replace(BASE, severity=4), "resolved", ["resolved"]),
        # One event, whose status says Mitigating: the escalator stops the pages it had planned.
        (replace(BASE, severity=1), "mitigating", ["alerts_resolved"]),
        (replace(BASE, severity=2), "mitigating", ["alerts_resolved"]),
        (replace(MITIGATING, severity=2), "mitigating", ["alerts_resolved"]),
        (RESOLVED, "resolved", []),
    ],
)
def test_when_all_alerts_resolve_low_severities_resolve_and_high_ones_wait_for_a_person(incident, status, events):
    change = lc.all_alerts_resolved(incident, auto_resolve_sevs=AUTO, now=NOW)
    assert change.incident.status == status
    assert change.events == events
    if incident.status != "resolved":
        assert any("all alerts resolved" in e.text for e in change.entries)


def test_an_alert_firing_again_after_all_resolved_resumes_escalation():
    change = lc.alert_fired_again(MITIGATING, alert="HighErrorRate")
    assert change.events == ["alerts_firing"] and change.incident == MITIGATING
    assert change.entries[0].text == "alert HighErrorRate fired again after every alert had resolved: escalation resumes"


def test_auto_resolution_is_configurable_per_severity():
    change = lc.all_alerts_resolved(replace(BASE, severity=2), auto_resolve_sevs=frozenset({1, 2, 3, 4}), now=NOW)
    assert change.incident.status == "resolved"


@pytest.mark.parametrize(
    "severity, ack_after, now_after, met",
    [
        (1, timedelta(minutes=4), None, True),
        (1, timedelta(minutes=6), None, False),
        (1, None, timedelta(minutes=4), None),  # not acknowledged yet, still within 5 minutes
        (1, None, timedelta(minutes=6), False),
        (2, timedelta(minutes=15), None, True),
        (3, timedelta(minutes=61), None, False),
    ],
)
def test_response_target(severity, ack_after, now_after, met):
    incident = replace(BASE, severity=severity, acknowledged_at=T0 + ack_after if ack_after else None)
    d = lc.durations(incident, now=T0 + (now_after or timedelta(hours=2)))
    assert d.response_target_met is met


def test_durations_are_measured_from_detection():
    incident = replace(
        RESOLVED, started_at=T0 - timedelta(minutes=2), acknowledged_at=T0 + timedelta(minutes=1),
        mitigated_at=T0 + timedelta(minutes=10), resolved_at=T0 + timedelta(minutes=30),
    )
    d = lc.durations(incident, now=T0 + timedelta(hours=1))
    assert d.time_to_detect == timedelta(minutes=2)
    assert d.time_to_acknowledge == timedelta(minutes=1)
    assert d.time_to_mitigate == timedelta(minutes=10)
    assert d.time_to_resolve == timedelta(minutes=30)
    assert d.response_due_at == T0 + timedelta(minutes=15)


@pytest.mark.parametrize(
    "detected, due",
    [
        (datetime(2026, 11, 26, 10, tzinfo=UTC), datetime(2026, 11, 27, 17, tzinfo=UTC)),  # Thu -> close of Fri
        (datetime(2026, 11, 27, 18, tzinfo=UTC), datetime(2026, 11, 30, 17, tzinfo=UTC)),  # Fri -> close of Mon
        (datetime(2026, 11, 28, 9, tzinfo=UTC), datetime(2026, 11, 30, 17, tzinfo=UTC)),  # Sat -> close of Mon
    ],
)
def test_sev4_response_is_due_at_the_close_of_the_next_business_day_of_the_default_calendar(detected, due):
    """Without a configured calendar: Monday to Friday, 09:00-17:00 UTC (test_severities.py: zones, holidays)."""
    from services.incidents.severity import response_deadline

    assert response_deadline(4, detected) == due


def test_flapping_starts_at_the_limit_and_can_be_switched_off():
    assert not lc.flapping(5, limit=6) and lc.flapping(6, limit=6) and not lc.flapping(100, limit=0)


def test_flapping_and_stable_again_say_what_they_mean():
    started = lc.flapping_started(BASE, changes=6, window=timedelta(minutes=30))
    assert started.events == [] and started.entries[0].kind == "flapping"
    assert started.entries[0].text.startswith("flapping: its alerts changed state 6 times within 30 min")
    ended = lc.flapping_ended(BASE, window=timedelta(minutes=30), firing=0)
    assert ended.entries[0].text == "stable again: no alert changes for 30 min (every alert resolved)"


def test_resolving_while_alerts_fire_needs_a_confirmation_and_the_timeline_says_so():
    with pytest.raises(lc.StillFiring, match="still has 2 alerts firing"):
        lc.resolve(BASE, by="alice", now=NOW, resolution=lc.Resolution(), firing=2)
    change = lc.resolve(BASE, by="alice", now=NOW, resolution=lc.Resolution(), firing=1, even_if_firing=True)
    assert change.incident.status == "resolved" and change.events == ["resolved"]
    assert change.entries[0].text == "resolved by alice while 1 alert still fired"
    assert lc.resolve(BASE, by="alice", now=NOW, resolution=lc.Resolution()).entries[0].text == "resolved by alice"
