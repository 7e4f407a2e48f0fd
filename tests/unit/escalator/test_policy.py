"""The escalation policy: plans as tables of (minutes after the start, pass, action, role, who, why),
the escalator's reaction to each incident event, deterministic ids and configuration errors."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.escalator.policy import (
    ACK_CHECK_STEP, IncidentState, PlannedStep, PolicyConfig, SeverityPolicy, decide, plan, step_id,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a Thursday
CONFIG = PolicyConfig.model_validate({"business_hours": {"zone": "Europe/Berlin", "country": "DE"}})
CALENDAR = CONFIG.business_hours.calendar()
ON_CALL = {"primary": ["ana"], "backup": ["bob"]}
SEV1 = IncidentState(id=7, version=1, severity=1)


def rows(steps: list[PlannedStep], start: datetime = T0) -> list[tuple]:
    return [(int((s.due_at - start).total_seconds() // 60), s.repetition, s.action, s.role, s.targets, s.reason) for s in steps]


def plan_for(severity: int, *, targets=ON_CALL, started_at: datetime = T0, config: PolicyConfig = CONFIG) -> list[PlannedStep]:
    incident = IncidentState(id=7, version=1, severity=severity)
    policy = config.for_severity(severity)
    return plan(incident=incident, policy=policy, calendar=CALENDAR, started_at=started_at, targets=targets)


# -- plans ------------------------------------------------------------------------------------------


def test_critical_pages_the_primary_at_once_the_backup_after_five_minutes_and_repeats_the_chain():
    assert rows(plan_for(1)) == [
        (0, 0, "page", "primary", ("ana",), "initial"),
        (5, 0, "page", "backup", ("bob",), "escalation"),
        (10, 1, "page", "primary", ("ana",), "repeat"),
        (15, 1, "page", "backup", ("bob",), "repeat"),
        (20, 2, "page", "primary", ("ana",), "repeat"),
        (25, 2, "page", "backup", ("bob",), "repeat"),
        (30, 3, "page", "primary", ("ana",), "repeat"),
        (35, 3, "page", "backup", ("bob",), "repeat"),
    ]


def test_high_notifies_the_primary_pages_them_after_fifteen_minutes_then_the_backup_after_thirty():
    assert rows(plan_for(2)) == [
        (0, 0, "notify", "primary", ("ana",), "initial"),
        (15, 0, "page", "primary", ("ana",), "escalation"),
        (30, 0, "page", "backup", ("bob",), "escalation"),
    ]


def test_medium_opens_a_ticket_at_once_due_in_one_hour():
    [ticket] = plan_for(3)
    assert (ticket.action, ticket.due_at, ticket.targets) == ("ticket", T0, ("ana",))
    assert ticket.ticket_due_at == T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    "raised_at, due_at",
    [
        (datetime(2026, 11, 27, 17, tzinfo=UTC), datetime(2026, 11, 30, 8, tzinfo=UTC)),  # Fri 18:00 CET -> Mon 09:00 CET
        (datetime(2027, 3, 26, 17, tzinfo=UTC), datetime(2027, 3, 30, 7, tzinfo=UTC)),  # -> Easter Monday -> Tue 09:00 CEST
        (datetime(2026, 3, 27, 17, tzinfo=UTC), datetime(2026, 3, 30, 7, tzinfo=UTC)),  # spring forward -> Mon 09:00 CEST
        (datetime(2026, 10, 23, 16, tzinfo=UTC), datetime(2026, 10, 26, 8, tzinfo=UTC)),  # fall back -> Mon 09:00 CET
    ],
)
def test_low_opens_a_ticket_due_at_the_next_business_day_opening_in_berlin(raised_at, due_at):
    [ticket] = plan_for(4, started_at=raised_at)
    assert (ticket.action, ticket.due_at, ticket.ticket_due_at) == ("ticket", raised_at, due_at)


def test_a_ticket_due_in_business_hours_only_counts_open_time():
    config = PolicyConfig.model_validate(
        {**CONFIG.model_dump(), "medium": {"steps": [{"action": "ticket", "ticket_due": "1h", "business_hours_only": True}]}}
    )
    friday_1630 = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    [ticket] = plan_for(3, started_at=friday_1630, config=config)
    assert ticket.ticket_due_at == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)  # Monday 09:30 CET


# -- empty steps fall through (goalert#4548) --------------------------------------------------------


def test_an_empty_backup_step_does_not_wait_its_delay_the_next_pass_starts_at_once():
    assert rows(plan_for(1, targets={"primary": ["ana"]})) == [
        (0, 0, "page", "primary", ("ana",), "initial"),
        (5, 0, "page", "backup", (), "no one on call for backup"),
        (5, 1, "page", "primary", ("ana",), "repeat"),
        (10, 1, "page", "backup", (), "no one on call for backup"),
        (10, 2, "page", "primary", ("ana",), "repeat"),
        (15, 2, "page", "backup", (), "no one on call for backup"),
        (15, 3, "page", "primary", ("ana",), "repeat"),
        (20, 3, "page", "backup", (), "no one on call for backup"),
    ]


def test_high_with_no_primary_on_call_pages_the_backup_at_once():
    assert rows(plan_for(2, targets={"backup": ["bob"]})) == [
        (0, 0, "notify", "primary", (), "no one on call for primary"),
        (0, 0, "page", "primary", (), "no one on call for primary"),
        (0, 0, "page", "backup", ("bob",), "escalation"),
    ]


def test_with_no_one_on_call_at_all_the_plan_says_so_once_and_ends():
    assert rows(plan_for(1, targets={})) == [
        (0, 0, "page", "primary", (), "no one on call for primary"),
        (0, 0, "page", "backup", (), "no one on call for backup"),
    ]


def test_a_ticket_is_never_skipped_it_opens_unassigned():
    [ticket] = plan_for(3, targets={})
    assert (ticket.targets, ticket.ticket_due_at) == ((), T0 + timedelta(hours=1))


def test_both_engineers_of_a_handoff_overlap_are_paged_each_with_their_own_id():
    first = plan_for(1, targets={"primary": ["ana", "carl"], "backup": ["bob"]})[0]
    assert first.targets == ("ana", "carl")
    ids = dict(first.page_ids())
    assert set(ids) == {"ana", "carl"} and len(set(ids.values())) == 2


def test_targets_are_asked_at_each_steps_due_time_so_a_handoff_during_escalation_is_followed():
    handoff = T0 + timedelta(minutes=12)

    def on_call(role: str, at: datetime) -> list[str]:
        if role == "backup":
            return ["bob"]
        return ["ana"] if at < handoff else ["carl"]

    primaries = [(r[0], r[4]) for r in rows(plan_for(1, targets=on_call)) if r[3] == "primary"]
    assert primaries == [(0, ("ana",)), (10, ("ana",)), (20, ("carl",)), (30, ("carl",))]


@settings(max_examples=200, deadline=None)
@given(
    severity=st.sampled_from([1, 2]),
    gaps=st.lists(st.tuples(st.sampled_from(["primary", "backup"]), st.integers(0, 60), st.integers(1, 30)), max_size=4),
)
def test_gaps_in_on_call_only_ever_bring_steps_earlier_and_an_empty_step_never_waits(severity, gaps):
    def on_call(role: str, at: datetime) -> list[str]:
        minute = (at - T0).total_seconds() / 60
        empty = any(r == role and start <= minute < start + length for r, start, length in gaps)
        return [] if empty else ON_CALL[role]

    full, with_gaps = plan_for(severity), plan_for(severity, targets=on_call)
    dues = [s.due_at for s in with_gaps]
    assert dues == sorted(dues) and dues[0] == T0
    assert all(g.due_at <= f.due_at for g, f in zip(with_gaps, full))
    for step, following in zip(with_gaps, with_gaps[1:]):
        if not step.targets:
            assert following.due_at == step.due_at, "an empty step must not wait out its delay"
            assert step.reason == f"no one on call for {step.role}"


# -- decisions --------------------------------------------------------------------------------------

NOW = T0 + timedelta(minutes=3)
OPENED = plan_for(1)
ACKED = replace(SEV1, version=2, acknowledged_at=NOW)


def decide_on(kind: str, incident: IncidentState, planned=(), now: datetime = NOW):
    return decide(kind=kind, incident=incident, planned=list(planned), config=CONFIG, targets=ON_CALL, now=now)


def test_opened_starts_the_plan_from_now():
    decision = decide_on("opened", SEV1)
    assert decision.schedule == tuple(plan_for(1, started_at=NOW))


def test_acknowledged_cancels_every_pending_step_and_schedules_the_ack_timeout_check():
    decision = decide_on("acknowledged", ACKED, OPENED)
    assert decision.cancel_all
    [check] = decision.schedule
    assert (check.action, check.step, check.due_at) == ("ack_check", ACK_CHECK_STEP, NOW + timedelta(minutes=30))


@pytest.mark.parametrize("severity, timeout", [(1, timedelta(minutes=30)), (2, timedelta(hours=1)), (3, None), (4, None)])
def test_the_ack_timeout_is_per_severity(severity, timeout):
    decision = decide_on("acknowledged", replace(ACKED, severity=severity))
    assert [s.due_at - NOW for s in decision.schedule] == ([timeout] if timeout else [])


def test_resolved_cancels_every_pending_step():
    decision = decide_on("resolved", replace(SEV1, version=2, status="resolved"), OPENED)
    assert decision.cancel_all and decision.schedule == ()


def test_every_alert_resolving_stops_the_pages_and_an_alert_firing_again_restarts_them():
    stopped = decide_on("alerts_resolved", replace(SEV1, version=2, status="mitigating"), OPENED)
    assert stopped.cancel_all and stopped.schedule == () and "nobody more is paged" in stopped.reason
    again = decide_on("alerts_firing", replace(SEV1, version=3, status="mitigating"), planned=[])
    assert again.cancel_all and [s.action for s in again.schedule][:2] == ["page", "page"]
    assert again.schedule[0].page_ids() != OPENED[0].page_ids(), "a restart must page again, not be deduplicated"
    acked = decide_on("alerts_firing", replace(ACKED, version=3, status="mitigating"), planned=[])
    assert [s.action for s in acked.schedule] == ["ack_check"]


def test_an_ack_timeout_on_a_still_acknowledged_incident_asks_to_unacknowledge_it():
    lapsed = NOW + timedelta(minutes=30)
    decision = decide_on("ack_timeout", ACKED, now=lapsed)
    assert decision.unacknowledge and "30 min" in decision.unacknowledge
    assert not decision.cancel_all and decision.schedule == ()


def test_after_the_ack_timeout_the_unacknowledged_event_restarts_escalation_with_new_page_ids():
    lapsed = NOW + timedelta(minutes=30)
    unacked = replace(SEV1, version=3)
    decision = decide_on("unacknowledged", unacked, planned=[], now=lapsed)
    assert decision.cancel_all
    assert rows(list(decision.schedule), start=lapsed)[:2] == [
        (0, 0, "page", "primary", ("ana",), "initial"),
        (5, 0, "page", "backup", ("bob",), "escalation"),
    ]
    assert decision.schedule[0].page_ids() != OPENED[0].page_ids(), "a restart must page again, not be deduplicated"


@pytest.mark.parametrize(
    "incident, now",
    [
        (ACKED, NOW + timedelta(minutes=29)),  # not lapsed yet (a check of an older acknowledgement)
        (replace(ACKED, acknowledged_at=None), NOW + timedelta(hours=1)),  # unacknowledged meanwhile
        (replace(ACKED, status="resolved"), NOW + timedelta(hours=1)),  # resolved meanwhile
    ],
)
def test_an_ack_timeout_check_that_no_longer_applies_does_nothing(incident, now):
    decision = decide_on("ack_timeout", incident, now=now)
    assert decision.unacknowledge is None and not decision.cancel_all and decision.schedule == ()


@pytest.mark.parametrize("kind", ["unacknowledged", "reopened"])
def test_unacknowledged_and_reopened_replan_from_now(kind):
    later = T0 + timedelta(hours=2)
    decision = decide_on(kind, replace(SEV1, version=5), now=later)
    assert decision.cancel_all
    incident = replace(SEV1, version=5)
    assert decision.schedule == tuple(
        plan(incident=incident, policy=CONFIG.critical, calendar=CALENDAR, started_at=later, targets=ON_CALL)
    )


def test_a_severity_change_replans_with_the_new_severitys_policy_from_now():
    raised = replace(SEV1, version=4, severity=2)
    decision = decide_on("severity_changed", raised, planned=OPENED)
    assert decision.cancel_all
    assert [r[:4] for r in rows(list(decision.schedule), start=NOW)] == [
        (0, 0, "notify", "primary"), (15, 0, "page", "primary"), (30, 0, "page", "backup"),
    ]


def test_a_severity_change_of_an_acknowledged_incident_only_moves_its_ack_timeout():
    decision = decide_on("severity_changed", replace(ACKED, version=3, severity=2), now=NOW + timedelta(minutes=10))
    assert decision.cancel_all
    assert [(s.action, s.due_at) for s in decision.schedule] == [("ack_check", NOW + timedelta(hours=1))]


def test_a_severity_change_of_a_resolved_incident_schedules_nothing():
    decision = decide_on("severity_changed", replace(SEV1, version=3, status="resolved"))
    assert decision.schedule == ()


def test_an_event_older_than_the_plan_or_already_applied_changes_nothing():
    newer_plan = [replace(s, escalation=6) for s in plan_for(1)]
    for kind in ("acknowledged", "resolved", "opened", "unacknowledged"):
        stale = decide_on(kind, replace(SEV1, version=5, acknowledged_at=NOW), newer_plan)
        assert not stale.cancel_all and stale.schedule == ()
    replay = decide_on("opened", SEV1, OPENED)
    assert not replay.cancel_all and replay.schedule == ()


@pytest.mark.parametrize("kind", ["status_changed", "commander_assigned"])
def test_other_changes_leave_the_escalation_alone(kind):
    decision = decide_on(kind, replace(SEV1, version=2), OPENED)
    assert not decision.cancel_all and decision.schedule == ()


def test_an_unknown_event_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown incident event kind"):
        decide_on("exploded", SEV1)


# -- deterministic ids ------------------------------------------------------------------------------

BASE_ID = dict(incident_id=7, step=1, repetition=0, target="bob", escalation=1)


def test_a_step_id_is_a_uuid_equal_for_the_same_inputs():
    a = step_id(**BASE_ID)
    assert a == step_id(**BASE_ID)
    assert uuid.UUID(a).version == 5


@pytest.mark.parametrize(
    "field, other", [("incident_id", 8), ("step", 0), ("repetition", 1), ("target", "ana"), ("escalation", 2)]
)
def test_a_step_id_differs_when_any_input_differs(field, other):
    assert step_id(**BASE_ID) != step_id(**{**BASE_ID, field: other})


def test_replanning_the_same_escalation_gives_the_same_ids():
    assert [s.page_ids() for s in plan_for(1)] == [s.page_ids() for s in plan_for(1)]
    assert len({s.id for s in plan_for(1)}) == 8


# -- configuration ----------------------------------------------------------------------------------


def test_the_defaults_are_the_operations_process_table():
    config = PolicyConfig()
    assert [(s.after, s.action, s.role) for s in config.critical.steps] == [
        (timedelta(0), "page", "primary"), (timedelta(minutes=5), "page", "backup"),
    ]
    assert (config.critical.ack_timeout, config.high.ack_timeout) == (timedelta(minutes=30), timedelta(hours=1))
    assert config.medium.steps[0].ticket_due == timedelta(hours=1)
    assert config.low.steps[0].ticket_due == "next_business_day"


def test_the_configuration_round_trips_for_the_snapshot_on_the_incident():
    config = PolicyConfig.model_validate({
        "critical": {"repeat": 1, "ack_timeout": "45m"},
        "business_hours": {"zone": "Europe/Berlin", "country": "DE", "subdivision": "BY", "weekdays": ["mon", "tue"],
                           "opens": "08:30", "closes": "16:00", "closed_on": ["2026-12-24"]},
    })
    assert PolicyConfig.model_validate(config.model_dump()) == config
    assert PolicyConfig.model_validate(config.model_dump(mode="json")) == config
    assert PolicyConfig.model_validate_json(config.model_dump_json()) == config


def test_a_severity_given_in_part_keeps_its_other_defaults():
    config = PolicyConfig.model_validate({"critical": {"repeat": 1}})
    assert config.critical.repeat == 1
    assert config.critical.steps == PolicyConfig().critical.steps
    assert config.high == PolicyConfig().high


@pytest.mark.parametrize(
    "written, minutes",
    [("5m", 5), ("15 min", 15), ("1h30m", 90), ("PT5M", 5), (300, 5), ("00:05:00", 5), ("1d", 1440)],
)
def test_durations_can_be_written_the_way_people_write_them(written, minutes):
    policy = SeverityPolicy.model_validate({"steps": [{"action": "page"}], "ack_timeout": written})
    assert policy.ack_timeout == timedelta(minutes=minutes)


def test_severity_outside_one_to_four_is_refused():
    with pytest.raises(ValueError, match="SEV1"):
        PolicyConfig().for_severity(5)


def critical(**policy) -> dict:
    return {"critical": policy}


@pytest.mark.parametrize(
    "data, message",
    [
        (critical(steps=[{"after": "5m", "action": "page"}, {"after": 0, "action": "page", "role": "backup"}]),
         "in the order they happen"),
        (critical(steps=[]), "at least 1 item"),
        (critical(steps=[{"after": -300, "action": "page"}]), "must not be negative"),
        (critical(steps=[{"action": "call"}]), "'page', 'notify' or 'ticket'"),
        (critical(steps=[{"action": "page", "role": "manager"}]), "'primary' or 'backup'"),
        (critical(steps=[{"action": "page", "ticket_due": "1h"}]), "apply to ticket steps"),
        ({"medium": {"steps": [{"action": "ticket"}]}}, "needs `ticket_due`"),
        ({"medium": {"repeat": 2, "repeat_after": "1h"}}, "would open a ticket per pass"),
        (critical(repeat_after=None), "needs `repeat_after`"),
        (critical(repeat_after="5m"), "must be longer than the last step"),
        (critical(repeat=-1), "greater than or equal to 0"),
        (critical(ack_timeout=0), "must be positive"),
        (critical(repeats=3), "Extra inputs are not permitted"),
        ({"business_hours": {"zone": "Europe/Berlinn"}}, "unknown time zone"),
        ({"business_hours": {"country": "XX"}}, "no public holidays known"),
        ({"business_hours": {"country": "DE", "subdivision": "ZZ"}}, "has no subdivision"),
        ({"business_hours": {"opens": "17:00", "closes": "09:00"}}, "must be before closes"),
        ({"business_hours": {"weekdays": ["funday"]}}, "weekdays"),
    ],
)
def test_configuration_errors_say_what_is_wrong(data, message):
    with pytest.raises(ValidationError, match=message):
        PolicyConfig.model_validate(data)
