"""Which deliveries a page becomes: the person's rules per channel, the defaults without rules,
steps naming a method the person lacks, and ids that are the same on every redelivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.policy import PlannedDelivery, delivery_id, plan, steps
from shared.events import ContactMethod, NotificationStep, deterministic_id

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SLACK = ContactMethod(id="slack", kind="slack", address="https://hooks.slack.com/services/T/B/x")
EMAIL = ContactMethod(id="email", kind="email", address="alice@example.com")
SMS = ContactMethod(id="sms", kind="apprise", address="twilio://sid:token@15550001111/15550002222")
METHODS = (SLACK, EMAIL, SMS)


def rule(after_s: int, method: str) -> NotificationStep:
    return NotificationStep(after_s=after_s, method=method)


def rows(planned: list[PlannedDelivery]) -> list[tuple]:
    return [(int((p.due_at - T0).total_seconds()), p.method_id, p.kind, p.step) for p in planned]


def test_a_page_without_rules_goes_to_every_method_at_once():
    assert rows(plan("page-1", "page", METHODS, (), (), T0)) == [
        (0, "slack", "slack", 0), (0, "email", "email", 1), (0, "sms", "apprise", 2),
    ]


def test_a_notification_without_rules_goes_to_the_first_method_only():
    assert rows(plan("page-1", "notify", METHODS, (), (), T0)) == [(0, "slack", "slack", 0)]


def test_a_page_follows_the_page_rules_slack_at_once_email_after_a_minute_sms_after_three():
    page_rules = (rule(0, "slack"), rule(60, "email"), rule(180, "sms"))
    assert rows(plan("page-1", "page", METHODS, page_rules, (rule(0, "email"),), T0)) == [
        (0, "slack", "slack", 0), (60, "email", "email", 1), (180, "sms", "apprise", 2),
    ]


def test_a_notification_follows_the_notify_rules_not_the_page_rules():
    page_rules = (rule(0, "sms"),)
    notify_rules = (rule(0, "email"), rule(600, "slack"))
    assert rows(plan("page-1", "notify", METHODS, page_rules, notify_rules, T0)) == [
        (0, "email", "email", 0), (600, "slack", "slack", 1),
    ]


def test_a_step_naming_an_unknown_method_is_skipped_and_the_others_keep_their_step_numbers():
    page_rules = (rule(0, "pager"), rule(60, "email"), rule(120, "gone"), rule(180, "sms"))
    assert rows(plan("page-1", "page", METHODS, page_rules, (), T0)) == [(60, "email", "email", 1), (180, "sms", "apprise", 3)]


def test_rules_naming_only_unknown_methods_plan_nothing_rather_than_falling_back_to_the_defaults():
    assert plan("page-1", "page", METHODS, (rule(0, "pager"),), (), T0) == []


def test_a_person_without_contact_methods_gets_no_delivery():
    assert plan("page-1", "page", (), (), (), T0) == []
    assert plan("page-1", "notify", (), (rule(0, "email"),), (rule(0, "email"),), T0) == []


def test_the_same_method_twice_is_two_deliveries_a_reminder():
    planned = plan("page-1", "page", METHODS, (rule(0, "email"), rule(300, "email")), (), T0)
    assert rows(planned) == [(0, "email", "email", 0), (300, "email", "email", 1)]
    assert planned[0].delivery_id != planned[1].delivery_id


def test_deliveries_come_in_the_order_they_are_due_whatever_the_order_of_the_rules():
    planned = plan("page-1", "page", METHODS, (rule(300, "sms"), rule(0, "slack"), rule(60, "email")), (), T0)
    assert rows(planned) == [(0, "slack", "slack", 1), (60, "email", "email", 2), (300, "sms", "apprise", 0)]


def test_delivery_ids_are_deterministic_per_page_method_and_step():
    first = plan("page-1", "page", METHODS, (), (), T0)
    again = plan("page-1", "page", METHODS, (), (), T0 + timedelta(minutes=3))  # a redelivery, seen later
    other = plan("page-2", "page", METHODS, (), (), T0)
    assert [p.delivery_id for p in first] == [p.delivery_id for p in again]
    assert not {p.delivery_id for p in first} & {p.delivery_id for p in other}
    assert first[1].delivery_id == deterministic_id("delivery", "page-1", "email", "1") == delivery_id("page-1", "email", 1)
    assert all(p.page_id == "page-1" for p in first)


def test_steps_carry_the_contact_method_itself():
    [only] = steps(channel="notify", methods=METHODS, page_rules=(), notify_rules=(rule(30, "sms"),))
    assert (only.index, only.after_s, only.method) == (0, 30, SMS)


method_ids = st.sampled_from(["slack", "email", "sms", "pager", "fax"])


@given(
    rules=st.lists(st.builds(rule, st.integers(0, 7 * 86400), method_ids), max_size=8),
    methods=st.lists(st.sampled_from(METHODS), unique=True).map(tuple),
    channel=st.sampled_from(["page", "notify"]),
)
def test_every_planned_delivery_uses_a_method_the_person_has_after_the_page_with_a_unique_id(rules, methods, channel):
    planned = plan("page-9", channel, methods, rules, rules, T0)
    known = {m.id: m.kind for m in methods}
    assert all(known[p.method_id] == p.kind and p.due_at >= T0 for p in planned)
    assert len({p.delivery_id for p in planned}) == len(planned)
    assert [p.due_at for p in planned] == sorted(p.due_at for p in planned)
    expected = len([r for r in rules if r.method in known]) if rules else (len(methods) if channel == "page" else min(1, len(methods)))
    assert len(planned) == expected
