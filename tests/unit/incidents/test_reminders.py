"""The daily reminder digests (services/incidents/ops/reminders.py): who is reminded of what."""

from datetime import UTC, date, datetime

import pytest

from services.incidents.ops.reminders import (
    ActionItem,
    OpenPostmortem,
    Runbook,
    UpdateDue,
    digest_text,
    digests,
    next_business_day,
    update_due_text,
)
from shared.business_calendar import BusinessCalendar

CHRISTMAS = date(2026, 12, 25)  # a Friday
CALENDAR = BusinessCalendar(zone="UTC", closed_on=(CHRISTMAS,))
THURSDAY = date(2026, 12, 10)
FRIDAY = date(2026, 12, 11)
NOW = datetime(2026, 12, 10, 8, 30, tzinfo=UTC)


def item(id: int, owner: str, due_on: date) -> ActionItem:
    return ActionItem(id=id, title=f"item {id}", owner=owner, due_on=due_on)


def postmortem(incident_id: int, resolved_at: datetime, commander: str | None, author: str | None = None) -> OpenPostmortem:
    return OpenPostmortem(incident_id=incident_id, incident_title=f"incident {incident_id}", resolved_at=resolved_at,
                          commander=commander, author=author)


def run(day=THURSDAY, now=NOW, action_items=(), postmortems=(), runbooks=(), **kw):
    return digests(calendar=CALENDAR, day=day, now=now, action_items=list(action_items),
                   postmortems=list(postmortems), runbooks=list(runbooks), **kw)


def test_owner_gets_one_digest_with_overdue_and_due_tomorrow_items_but_not_later_ones():
    [ann] = run(action_items=[item(1, "ann", date(2026, 12, 9)), item(2, "ann", date(2026, 12, 11)),
                              item(3, "ann", date(2026, 12, 10)), item(4, "ann", date(2026, 12, 14))])
    assert ann.person == "ann"
    assert [i.id for i in ann.overdue] == [1]
    assert [i.id for i in ann.due_soon] == [3, 2]


def test_each_person_gets_their_own_items_only_and_nobody_with_nothing_due_gets_a_digest():
    result = run(action_items=[item(1, "ann", date(2026, 12, 1)), item(2, "bob", date(2026, 12, 11)),
                               item(3, "cy", date(2026, 12, 30))])
    assert [(d.person, [i.id for i in d.overdue + d.due_soon]) for d in result] == [("ann", [1]), ("bob", [2])]


def test_nothing_due_means_no_digest_at_all():
    assert run() == []


def test_friday_digest_names_what_falls_due_over_the_weekend_and_on_monday():
    [ann] = run(day=FRIDAY, action_items=[item(1, "ann", date(2026, 12, 13)), item(2, "ann", date(2026, 12, 14)),
                                          item(3, "ann", date(2026, 12, 15))])
    assert [i.id for i in ann.due_soon] == [1, 2]


@pytest.mark.parametrize("day", [date(2026, 12, 12), date(2026, 12, 13), CHRISTMAS], ids=["saturday", "sunday", "holiday"])
def test_no_digest_on_a_weekend_or_a_holiday(day):
    assert run(day=day, action_items=[item(1, "ann", date(2026, 12, 1))]) == []


def test_the_day_before_a_holiday_reminds_of_what_is_due_up_to_the_next_business_day():
    assert next_business_day(CALENDAR, date(2026, 12, 24)) == date(2026, 12, 28)
    [ann] = run(day=date(2026, 12, 24), action_items=[item(1, "ann", date(2026, 12, 28)), item(2, "ann", date(2026, 12, 29))])
    assert [i.id for i in ann.due_soon] == [1]


def test_commander_is_reminded_of_a_postmortem_unpublished_five_days_after_the_incident():
    old = postmortem(7, datetime(2026, 12, 5, 8, 30, tzinfo=UTC), commander="cy")
    young = postmortem(8, datetime(2026, 12, 5, 8, 31, tzinfo=UTC), commander="cy")
    [cy] = run(postmortems=[old, young])
    assert [p.incident_id for p in cy.postmortems] == [7]


def test_postmortem_days_are_a_setting():
    young = postmortem(8, datetime(2026, 12, 8, 8, 30, tzinfo=UTC), commander="cy")
    assert run(postmortems=[young]) == []
    assert [d.person for d in run(postmortems=[young], postmortem_after_days=2)] == ["cy"]


def test_postmortem_without_a_commander_reminds_its_author_and_without_either_nobody():
    at = datetime(2026, 11, 1, tzinfo=UTC)
    result = run(postmortems=[postmortem(1, at, commander=None, author="dee"), postmortem(2, at, commander=None)])
    assert [(d.person, [p.incident_id for p in d.postmortems]) for d in result] == [("dee", [1])]


def test_runbook_owner_is_reminded_when_the_review_date_has_come_and_ownerless_runbooks_are_not():
    result = run(runbooks=[Runbook("db failover", "ann", date(2026, 12, 10)), Runbook("dns", "ann", date(2026, 12, 11)),
                           Runbook("cache", None, date(2026, 1, 1)), Runbook("queue", "bob", None)])
    assert [(d.person, [r.name for r in d.runbooks]) for d in result] == [("ann", ["db failover"])]


def test_one_digest_gathers_everything_a_person_has_and_its_id_is_per_person_and_day():
    at = datetime(2026, 11, 1, tzinfo=UTC)
    kwargs = {"action_items": [item(1, "ann", date(2026, 12, 1))], "postmortems": [postmortem(3, at, "ann")],
              "runbooks": [Runbook("dns", "ann", date(2026, 12, 1))]}
    [ann] = run(**kwargs)
    [again] = run(**kwargs)
    [friday] = run(day=FRIDAY, **kwargs)
    assert (len(ann.overdue), len(ann.postmortems), len(ann.runbooks)) == (1, 1, 1)
    assert ann.event_id == again.event_id != friday.event_id
    title, summary = digest_text(ann)
    assert title == "Reminders for ann, 2026-12-10"
    assert summary == ("1 action item overdue: item 1 (due 2026-12-01). 1 postmortem to publish: INC-3 incident 3. "
                       "1 runbook to review: dns (review due 2026-12-01).")


def test_update_reminder_names_the_promised_time_in_the_report_zone_and_is_once_per_promised_time():
    promised = datetime(2026, 12, 10, 14, 30, tzinfo=UTC)
    due = UpdateDue(incident_id=7, title="checkout down", commander="cy", next_update_at=promised)
    title, summary = update_due_text(due, zone="America/New_York", now=datetime(2026, 12, 10, 14, 41, tzinfo=UTC))
    assert title == "Status update due: INC-7 checkout down"
    assert "promised for 2026-12-10 09:30 America/New_York (11 min ago)" in summary
    moved = UpdateDue(incident_id=7, title="checkout down", commander="cy", next_update_at=datetime(2026, 12, 10, 15, tzinfo=UTC))
    assert due.event_id == UpdateDue(7, "renamed", "cy", promised).event_id != moved.event_id
