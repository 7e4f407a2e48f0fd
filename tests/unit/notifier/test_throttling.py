"""Per-recipient limits: when the next message may go (GoAlert's SMS anchors as defaults), limits
written as text in settings, which limits a contact method gets, and how waiting deliveries are
bundled into one message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.policy import (
    DEFAULT_LIMITS, Limit, bundle, bundle_order, longest_window, next_allowed, parse_limits, parse_throttle,
    throttle_class,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
SMS = DEFAULT_LIMITS["sms"]


def minutes(*values: float) -> list[datetime]:
    return [T0 + timedelta(minutes=v) for v in values]


def test_nothing_sent_may_send_now():
    assert next_allowed([], SMS, T0) is None


def test_no_limits_may_always_send():
    assert next_allowed(minutes(*range(100)), (), T0 + 100 * MIN) is None


def test_under_the_limit_may_send_now():
    assert next_allowed(minutes(0, 1, 2, 3), (Limit(5, 15 * MIN),), T0 + 4 * MIN) is None


def test_at_the_limit_waits_until_the_oldest_message_in_the_window_leaves_it():
    assert next_allowed(minutes(0, 1, 2, 3, 4), (Limit(5, 15 * MIN),), T0 + 5 * MIN) == T0 + 15 * MIN


def test_a_message_sent_exactly_one_window_ago_no_longer_counts():
    assert next_allowed(minutes(0, 1, 2, 3, 4), (Limit(5, 15 * MIN),), T0 + 15 * MIN) is None


def test_order_of_the_sent_times_does_not_matter():
    assert next_allowed(minutes(4, 0, 3, 1, 2), (Limit(5, 15 * MIN),), T0 + 5 * MIN) == T0 + 15 * MIN


def test_the_strictest_limit_decides():
    # 11 per hour: eleven messages spread over 50 minutes, none of the 15-minute windows full.
    sent = minutes(0, 1, 2, 3, 16, 17, 18, 19, 32, 33, 34)
    assert next_allowed(sent, SMS, T0 + 50 * MIN) == T0 + 60 * MIN


def test_the_sms_defaults_are_goalerts_five_per_quarter_hour_eleven_per_hour_twenty_one_per_three_hours():
    assert SMS == (Limit(5, 15 * MIN), Limit(11, 60 * MIN), Limit(21, 180 * MIN))


def test_a_storm_of_texts_over_three_hours_reaches_the_phone_twenty_one_times():
    sent: list[datetime] = []
    now = T0
    while now < T0 + 180 * MIN:
        allowed = next_allowed(sent, SMS, now)
        if allowed is None:
            sent.append(now)
        now = allowed or now + MIN  # one page a minute, sent as soon as the limits allow
    assert len(sent) == 21
    assert sent[:6] == minutes(0, 1, 2, 3, 4, 15)


@given(
    offsets=st.lists(st.integers(-4 * 3600, 0), max_size=40),
    limits=st.lists(st.builds(Limit, st.integers(1, 6), st.integers(1, 3 * 3600).map(lambda s: timedelta(seconds=s))),
                    min_size=1, max_size=3),
)
def test_next_allowed_is_the_earliest_instant_every_limit_allows_one_more(offsets, limits):
    sent = [T0 + timedelta(seconds=s) for s in offsets]

    def fits(at: datetime) -> bool:
        return all(sum(1 for s in sent if at - limit.per < s <= at) < limit.count for limit in limits)

    allowed = next_allowed(sent, limits, T0)
    if allowed is None:
        assert fits(T0)
    else:
        assert allowed > T0 and fits(allowed) and not fits(allowed - timedelta(microseconds=1))


def test_longest_window_is_how_far_back_sent_messages_matter():
    assert longest_window(SMS) == 180 * MIN
    assert longest_window(()) == timedelta(0)


@pytest.mark.parametrize(
    "text, limits",
    [
        ("5/15m,11/1h,21/3h", SMS),
        (" 5 / 15m , 11/1H ", (Limit(5, 15 * MIN), Limit(11, 60 * MIN))),
        ("5/h", (Limit(5, 60 * MIN),)),
        ("100/30s,2/1d", (Limit(100, timedelta(seconds=30)), Limit(2, timedelta(days=1)))),
        ("", ()),
        ("none", ()),
        ("None", ()),
    ],
)
def test_limits_are_written_count_slash_window(text, limits):
    assert parse_limits(text) == limits


@pytest.mark.parametrize(
    "text, message",
    [
        ("5", r"'5' is not a limit: write count/window"),
        ("5/15x", "'5/15x' is not a limit"),
        ("five/15m", "not a limit"),
        ("5/15m,,11/1h", "'' is not a limit"),
        ("0/15m", "at least 1 message"),
        ("5/0m", "window must be positive"),
        ("-1/1m", "not a limit"),
    ],
)
def test_a_limit_that_cannot_be_read_says_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_limits(text)


def test_limits_print_as_they_are_written():
    assert ",".join(map(str, parse_limits("5/15m,11/1h,21/3h,7/90s,2/1d"))) == "5/15m,11/1h,21/3h,7/90s,2/1d"


@pytest.mark.parametrize(
    "kind, address, expected",
    [
        ("email", "alice@example.com", "email"),
        ("slack", "https://hooks.slack.com/services/T/B/x", "slack"),
        ("webhook", "https://example.com/hook", "webhook"),
        ("apprise", "twilio://sid:token@15550001111/15550002222", "sms"),
        ("apprise", "TWILIO://sid:token@15550001111/15550002222", "sms"),
        ("apprise", "sns://key/secret/us-east-1/+15550001111", "sms"),
        ("apprise", "vonage://key:secret@15550001111/15550002222", "sms"),
        ("apprise", "mailtos://user:pass@example.com", "email"),
        ("apprise", "json://localhost:8000/hook", "webhook"),
        ("apprise", "tgram://bottoken/chatid", "apprise"),
        ("apprise", "ntfy://topic", "apprise"),
        ("apprise", "not a url", "apprise"),
    ],
)
def test_a_contact_method_gets_the_limits_of_what_it_reaches(kind, address, expected):
    assert throttle_class(kind, address) == expected


def test_every_class_has_default_limits_and_email_is_more_generous_than_sms():
    assert set(DEFAULT_LIMITS) == {"sms", "email", "slack", "webhook", "apprise"}
    assert DEFAULT_LIMITS["email"][0].count > DEFAULT_LIMITS["sms"][0].count


def test_the_throttle_setting_overrides_the_classes_it_names_and_keeps_the_defaults_of_the_others():
    limits = parse_throttle("sms=3/15m,10/3h; webhook=none;")
    assert limits["sms"] == (Limit(3, 15 * MIN), Limit(10, 180 * MIN))
    assert limits["webhook"] == ()
    assert limits["email"] == DEFAULT_LIMITS["email"]
    assert parse_throttle("") == dict(DEFAULT_LIMITS)


@pytest.mark.parametrize(
    "text, message",
    [("pager=1/1m", "class one of sms, email"), ("sms", "write <class>=<limits>"), ("sms=5/x", "sms: '5/x' is not a limit")],
)
def test_a_throttle_setting_that_cannot_be_read_says_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_throttle(text)


# -- bundling ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    id: str
    incident_id: int
    severity: int
    due_at: datetime


def waiting(incident_id: int, severity: int, minute: int, delivery: str | None = None) -> Due:
    return Due(delivery or f"d{incident_id}", incident_id, severity, T0 + timedelta(minutes=minute))


def test_the_most_severe_then_oldest_incident_is_the_headline_and_the_rest_follow_in_that_order():
    rows = [waiting(20, 2, 0), waiting(21, 1, 5), waiting(22, 1, 3), waiting(23, 3, 1), waiting(24, 2, 0, "d24")]
    result = bundle(rows)
    assert result.headline.incident_id == 22
    assert [r.incident_id for r in result.others] == [21, 20, 24, 23]
    assert result.more_incidents == 4
    assert [r.incident_id for r in bundle_order(rows)] == [22, 21, 20, 24, 23]


def test_several_deliveries_of_one_incident_are_one_mention_but_all_go_with_the_message():
    rows = [waiting(7, 1, 0, "first-pass"), waiting(8, 2, 1), waiting(7, 1, 10, "second-pass")]
    result = bundle(rows)
    assert result.headline.id == "first-pass"
    assert [r.incident_id for r in result.others] == [8]
    assert {r.id for r in result.deliveries} == {"first-pass", "second-pass", "d8"}


def test_one_waiting_delivery_is_a_message_of_its_own():
    result = bundle([waiting(7, 3, 0)])
    assert (result.headline.incident_id, result.others, result.more_incidents) == (7, (), 0)


def test_nothing_waiting_is_not_a_bundle():
    with pytest.raises(ValueError):
        bundle([])
