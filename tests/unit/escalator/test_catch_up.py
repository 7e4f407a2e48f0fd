"""After a gap the escalator fires, per incident, action and role, only the page step due last, and
says it is late; earlier steps are skipped with a reason. In the normal run nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.escalator.policy import CATCH_UP_AFTER, PlannedStep, catch_up

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def step(number: int, repetition: int, *, at: timedelta, role: str = "primary", action: str = "page",
         incident: int = 7) -> PlannedStep:
    return PlannedStep(incident_id=incident, escalation=1, step=number, repetition=repetition, role=role,
                       action=action, due_at=T0 + at, reason="repeat" if repetition else "initial")


def test_in_the_normal_run_every_due_step_fires_as_planned():
    due = [step(0, 0, at=timedelta(0)), step(1, 0, at=timedelta(seconds=1), role="backup")]
    plan = catch_up(due, now=T0 + CATCH_UP_AFTER)
    assert [s for s, _ in plan.fire] == due and plan.skipped == {}
    assert all(note is None for _, note in plan.fire)


def test_after_a_gap_one_page_per_role_fires_the_latest_and_the_rest_are_skipped():
    primary = [step(0, r, at=timedelta(minutes=15 * r)) for r in range(4)]
    backup = [step(1, r, at=timedelta(minutes=15 * r + 5), role="backup") for r in range(4)]
    now = T0 + timedelta(hours=1)
    plan = catch_up(primary + backup, now=now)
    fired = {s.id: note for s, note in plan.fire}
    assert set(fired) == {primary[-1].id, backup[-1].id}
    assert set(plan.skipped) == {s.id for s in primary[:-1] + backup[:-1]}
    assert fired[primary[-1].id] == "15 min late (Vigil could not page at 2026-12-02 12:45 UTC); 3 earlier pages " \
                                    "due meanwhile went unsent, so this is one page instead of a burst"
    assert plan.skipped[primary[0].id].startswith("skipped on catch-up: due 2026-12-02 12:00 UTC, 60 min late; "
                                                  "the primary's step due 2026-12-02 12:45 UTC fired instead")


def test_a_single_late_page_fires_and_says_how_late_it_is():
    late = step(1, 0, at=timedelta(0), role="backup")
    plan = catch_up([late], now=T0 + timedelta(minutes=3))
    assert plan.fire == ((late, "3 min late (Vigil could not page at 2026-12-02 12:00 UTC)"),) and plan.skipped == {}


def test_tickets_and_acknowledgement_checks_are_never_skipped_and_incidents_are_apart():
    ticket = step(2, 0, at=timedelta(0), action="ticket")
    check = step(-1, 0, at=timedelta(0), action="ack_check")
    pages = [step(0, r, at=timedelta(minutes=5 * r)) for r in range(3)]
    other = step(0, 0, at=timedelta(0), incident=8)
    plan = catch_up([ticket, check, *pages, other], now=T0 + timedelta(hours=2))
    fired = [s for s, _ in plan.fire]
    assert ticket in fired and check in fired and other in fired and pages[-1] in fired
    assert set(plan.skipped) == {pages[0].id, pages[1].id}


def test_notifications_and_pages_of_one_role_are_caught_up_apart():
    page = step(0, 0, at=timedelta(0))
    notify = step(3, 0, at=timedelta(minutes=1), action="notify")
    plan = catch_up([page, notify], now=T0 + timedelta(minutes=30))
    assert {s.id for s, _ in plan.fire} == {page.id, notify.id} and plan.skipped == {}
