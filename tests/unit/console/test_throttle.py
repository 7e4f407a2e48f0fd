"""Login rate limiting: failures per account and per address over a sliding window."""

from datetime import UTC, datetime, timedelta

import pytest

from services.console.throttle import Allowed, LoginLimit, Throttled, account_key, check

NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
LIMIT = LoginLimit(max_failures=5, window=timedelta(minutes=15))


def ago(*minutes: float) -> list[datetime]:
    return [NOW - timedelta(minutes=m) for m in minutes]


def test_four_failures_still_allow_a_fifth_try():
    assert check(LIMIT, account_failures=ago(1, 2, 3, 4), address_failures=[], now=NOW) == Allowed()


def test_five_failures_of_an_account_refuse_until_the_oldest_leaves_the_window():
    verdict = check(LIMIT, account_failures=ago(10, 8, 6, 4, 2), address_failures=[], now=NOW)
    # The failure 10 minutes ago leaves the 15-minute window in 5 minutes.
    assert verdict == Throttled(scope="account", retry_after_s=300)


def test_failures_outside_the_window_do_not_count():
    assert check(LIMIT, account_failures=ago(16, 20, 30, 1, 2), address_failures=[], now=NOW) == Allowed()


def test_many_failures_wait_for_enough_of_them_to_leave_not_just_the_oldest():
    # Seven failures: the block lifts when only four remain, i.e. when the third-oldest (12 min ago) leaves.
    verdict = check(LIMIT, account_failures=ago(14, 13, 12, 3, 2, 1, 0.5), address_failures=[], now=NOW)
    assert verdict == Throttled(scope="account", retry_after_s=180)


def test_an_address_trying_many_accounts_is_refused_by_address():
    verdict = check(LIMIT, account_failures=ago(1), address_failures=ago(9, 7, 5, 3, 1), now=NOW)
    assert verdict == Throttled(scope="address", retry_after_s=360)


def test_the_later_of_two_blocks_is_the_one_reported():
    verdict = check(LIMIT, account_failures=ago(14, 4, 3, 2, 1), address_failures=ago(10, 4, 3, 2, 1), now=NOW)
    assert verdict == Throttled(scope="address", retry_after_s=300)


def test_retry_after_is_at_least_one_second():
    almost = [NOW - LIMIT.window + timedelta(milliseconds=100)] + ago(1, 2, 3, 4)
    assert check(LIMIT, account_failures=almost, address_failures=[], now=NOW) == Throttled(scope="account", retry_after_s=1)


@pytest.mark.parametrize("typed", ["Alice", " alice ", "ALICE"])
def test_an_account_is_counted_however_its_name_was_typed(typed):
    assert account_key(typed) == "alice"
