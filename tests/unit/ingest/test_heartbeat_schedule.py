"""Heartbeat schedules and states, pure: periods, grace, cron in a time zone across DST changes, and
what success, start and fail pings, the checker, pause and edits do."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from services.ingest.heartbeats import alerts, states
from services.ingest.heartbeats.schedule import Schedule, ScheduleError, next_expected
from services.ingest.heartbeats.states import Fire, Monitor, Resolve
from shared.events import AlertEvent

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def at(*args: int, zone=BERLIN) -> datetime:
    return datetime(*args, tzinfo=zone)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def monitor(**fields) -> Monitor:
    base = {"id": "7d4f0a52-8c1e-4c54-9a3e-1c2b3d4e5f60", "name": "nightly-backup", "service": "backup",
            "severity": "high", "labels": {"team": "ops"}, "schedule": Schedule(period_s=300), "grace_s": 60}
    return Monitor(**{**base, **fields})


# Schedules.

def test_a_period_expects_the_next_ping_one_period_after_the_last():
    assert next_expected(Schedule(period_s=300), T0) == T0 + s(300)


@pytest.mark.parametrize(("expr", "after", "expected"), [
    ("30 2 * * *", at(2026, 3, 10, 12, 0), at(2026, 3, 11, 2, 30)),
    ("0 9 * * 1-5", at(2026, 3, 13, 9, 0), at(2026, 3, 16, 9, 0)),  # Friday 09:00 → Monday 09:00
    ("*/15 * * * *", at(2026, 3, 10, 12, 7), at(2026, 3, 10, 12, 15)),
])
def test_cron_expects_the_next_matching_wall_clock_time_in_its_zone(expr, after, expected):
    got = next_expected(Schedule(cron=expr, timezone="Europe/Berlin"), after.astimezone(UTC))
    assert got == expected


def test_a_cron_time_skipped_by_spring_forward_is_expected_right_after_the_gap_once():
    schedule = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    first = next_expected(schedule, at(2026, 3, 28, 12, 0))  # 29 March: 02:00 jumps to 03:00
    assert first == at(2026, 3, 29, 3, 0)  # 03:00 CEST
    assert next_expected(schedule, first) == at(2026, 3, 30, 2, 30)
    assert next_expected(schedule, first) - first == timedelta(hours=23, minutes=30)


def test_a_fixed_cron_time_in_the_repeated_hour_of_fall_back_is_expected_once_as_cron_runs_it():
    schedule = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    first = next_expected(schedule, at(2026, 10, 24, 12, 0))  # 25 October: 03:00 goes back to 02:00
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    following = next_expected(schedule, first)
    assert following.astimezone(UTC) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # next day's 02:30 CET, not 02:30 CET today


def test_an_hourly_cron_is_expected_every_real_hour_across_both_dst_changes():
    schedule = Schedule(cron="0 * * * *", timezone="Europe/Berlin")
    for start, hours in ((at(2026, 3, 29, 0, 30), 4), (at(2026, 10, 25, 0, 30), 5)):
        moment, seen = start, []
        for _ in range(hours):
            moment = next_expected(schedule, moment)
            seen.append(moment.astimezone(UTC))
        gaps = {b - a for a, b in pairwise(seen)}
        assert gaps == {timedelta(hours=1)}, seen


def test_a_daily_cron_in_new_york_follows_local_time_across_the_us_change():
    schedule = Schedule(cron="0 6 * * *", timezone="America/New_York")
    before = next_expected(schedule, datetime(2026, 3, 6, 12, 0, tzinfo=UTC))  # DST starts on 8 March
    after = next_expected(schedule, before)
    assert (before.astimezone(UTC).hour, after.astimezone(UTC).hour) == (11, 10)  # EST, then EDT


@pytest.mark.parametrize(("fields", "message"), [
    ({"period_s": 60, "cron": "* * * * *"}, "not both"),
    ({}, "not both or neither"),
    ({"cron": "61 * * * *"}, "not a cron expression"),
    ({"cron": "* * * * * *"}, "5 fields"),
    ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "IANA"),
    ({"period_s": 0}, "period"),
])
def test_a_schedule_that_cannot_work_is_refused_saying_why(fields, message):
    with pytest.raises(ScheduleError, match=message):
        Schedule(**fields)


def test_a_cron_expression_that_matches_no_date_is_refused_before_it_is_stored():
    with pytest.raises(ScheduleError, match="matches no date"):
        Schedule(cron="0 0 30 2 *").check_fires()
    Schedule(cron="0 0 29 2 *").check_fires()  # every four years is a date


# States.

def test_a_new_monitor_expects_nothing_until_its_first_ping():
    new = monitor()
    assert states.status_at(new, T0 + s(10**6)) == "new"
    assert states.check(new, T0 + s(10**6)).alerts == []


def test_a_success_ping_expects_the_next_after_the_period_and_goes_down_after_the_grace_time():
    up = states.ping(monitor(), "success", T0).monitor
    assert (up.status, up.expected_at, up.due_at) == ("up", T0 + s(300), T0 + s(360))
    assert states.status_at(up, T0 + s(299)) == "up"
    assert states.status_at(up, T0 + s(300)) == "late"
    assert states.check(up, T0 + s(359.999)).alerts == []  # never early


def test_a_missed_deadline_fires_once_with_the_deadline_as_the_alerts_start():
    up = states.ping(monitor(), "success", T0).monitor
    decision = states.check(up, T0 + s(360.2))
    assert decision.alerts == [Fire(T0 + s(360), "missed")]
    assert (decision.monitor.status, decision.monitor.due_at, decision.monitor.firing_since) == ("down", None, T0 + s(360))
    assert states.check(decision.monitor, T0 + s(3600)).alerts == []


def test_a_checker_back_after_many_missed_periods_fires_one_alert():
    up = states.ping(monitor(), "success", T0).monitor
    decision = states.check(up, T0 + timedelta(days=2))
    assert decision.alerts == [Fire(T0 + s(360), "missed")]


def test_a_success_ping_resolves_the_alert_with_the_same_start():
    down = states.check(states.ping(monitor(), "success", T0).monitor, T0 + s(400)).monitor
    decision = states.ping(down, "success", T0 + s(500))
    assert decision.alerts == [Resolve(T0 + s(360), T0 + s(500))]
    assert (decision.monitor.status, decision.monitor.due_at, decision.monitor.firing_since) == ("up", T0 + s(860), None)


def test_a_fail_ping_fires_at_once_and_a_second_fail_fires_nothing_more():
    up = states.ping(monitor(), "success", T0).monitor
    failed = states.ping(up, "fail", T0 + s(30))
    assert failed.alerts == [Fire(T0 + s(30), "failed")] and failed.monitor.status == "down"
    assert failed.monitor.due_at is None
    assert states.ping(failed.monitor, "fail", T0 + s(90)).alerts == []
    assert states.ping(failed.monitor, "success", T0 + s(120)).alerts == [Resolve(T0 + s(30), T0 + s(120))]


def test_a_started_run_must_finish_within_the_grace_time():
    up = states.ping(monitor(), "success", T0).monitor
    started = states.ping(up, "start", T0 + s(100)).monitor
    assert started.due_at == T0 + s(160) and states.status_at(started, T0 + s(120)) == "up"
    assert states.check(started, T0 + s(161)).alerts == [Fire(T0 + s(160), "unfinished")]
    finished = states.ping(started, "success", T0 + s(150)).monitor
    assert (finished.last_start_at, finished.due_at) == (None, T0 + s(510))


def test_a_start_later_than_the_expected_ping_does_not_extend_the_deadline():
    up = states.ping(monitor(), "success", T0).monitor
    started = states.ping(up, "start", T0 + s(340)).monitor
    assert started.due_at == T0 + s(360)


def test_a_start_of_a_new_monitor_sets_a_deadline_and_a_start_of_a_down_one_does_not_resolve():
    started = states.ping(monitor(), "start", T0).monitor
    assert (started.status, started.due_at) == ("new", T0 + s(60))
    down = states.ping(states.ping(monitor(), "success", T0).monitor, "fail", T0 + s(1)).monitor
    again = states.ping(down, "start", T0 + s(2))
    assert again.alerts == [] and again.monitor.status == "down" and again.monitor.due_at is None


def test_pause_resolves_a_firing_alert_and_resume_waits_for_a_ping():
    down = states.ping(states.ping(monitor(), "success", T0).monitor, "fail", T0 + s(1)).monitor
    paused = states.pause(down, T0 + s(5))
    assert paused.alerts == [Resolve(T0 + s(1), T0 + s(5))]
    assert (paused.monitor.status, paused.monitor.due_at) == ("paused", None)
    resumed = states.resume(paused.monitor).monitor
    assert resumed.status == "new" and states.check(resumed, T0 + timedelta(days=1)).alerts == []
    assert states.ping(paused.monitor, "success", T0 + s(9)).monitor.status == "up"


def test_a_shorter_period_moves_the_deadline_from_the_last_ping():
    up = states.ping(monitor(), "success", T0).monitor
    moved = states.reschedule(up, schedule=Schedule(period_s=60), grace_s=10).monitor
    assert (moved.expected_at, moved.due_at) == (T0 + s(60), T0 + s(70))


def test_a_cron_monitor_is_late_after_the_cron_time_and_down_after_the_grace_time():
    nightly = monitor(schedule=Schedule(cron="30 2 * * *", timezone="Europe/Berlin"), grace_s=3600)
    up = states.ping(nightly, "success", at(2026, 3, 28, 2, 31)).monitor
    assert up.expected_at == at(2026, 3, 29, 3, 0)  # the DST night
    assert states.status_at(up, at(2026, 3, 29, 3, 30)) == "late"
    assert states.check(up, at(2026, 3, 29, 4, 0)).alerts == [Fire(at(2026, 3, 29, 4, 0), "missed")]


# The alert.

def test_the_alert_has_a_fingerprint_per_monitor_and_an_id_per_missed_deadline():
    up = states.ping(monitor(), "success", T0).monitor
    fire = states.check(up, T0 + s(361)).alerts[0]
    event = alerts.event_of(up, fire, now=T0 + s(361))
    again = alerts.event_of(up, fire, now=T0 + s(362))  # another replica, a little later
    assert event.event_id == again.event_id
    assert event.source == "heartbeat" and event.status == "firing" and event.starts_at == T0 + s(360)
    assert event.labels == {"team": "ops", "alertname": "HeartbeatMissing", "monitor": "nightly-backup",
                            "service": "backup", "severity": "high"}
    assert "last ping 2026-03-02 12:00:00 UTC" in event.annotations["summary"]
    other = alerts.event_of(replace(up, id="00000000-0000-4000-8000-000000000000"), fire, now=T0)
    assert other.fingerprint != event.fingerprint
    resolved = alerts.event_of(up, Resolve(T0 + s(360), T0 + s(400)), now=T0 + s(400))
    assert (resolved.status, resolved.starts_at, resolved.ends_at) == ("resolved", T0 + s(360), T0 + s(400))
    assert resolved.fingerprint == event.fingerprint and resolved.event_id != event.event_id
    assert AlertEvent.model_validate_json(event.model_dump_json()) == event
