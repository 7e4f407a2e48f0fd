"""CSRF tokens of forms, session ids and the session cookie's attributes."""

from datetime import UTC, datetime, timedelta

import pytest

from services.console import csrf, sessions


def test_a_token_matches_only_itself():
    token = csrf.new_token()
    assert csrf.matches(token, token)
    assert not csrf.matches(token, csrf.new_token())
    assert not csrf.matches(token, token[:-1])


@pytest.mark.parametrize("presented", [None, "", 42, ["x"]])
def test_a_missing_or_malformed_token_never_matches(presented):
    assert not csrf.matches(csrf.new_token(), presented)


@pytest.mark.parametrize("expected", [None, ""])
def test_nothing_matches_when_nothing_was_issued(expected):
    assert not csrf.matches(expected, "")
    assert not csrf.matches(expected, "anything")


def test_tokens_and_session_ids_are_random_and_long():
    assert len({csrf.new_token() for _ in range(100)}) == 100
    assert len(sessions.new_id()) >= 43


def test_only_a_hash_of_the_session_id_is_kept():
    session_id = sessions.new_id()
    stored = sessions.id_hash(session_id)
    assert session_id not in stored and len(stored) == 64
    assert sessions.id_hash(session_id) == stored


def test_the_session_cookie_is_httponly_samesite_lax_and_secure_unless_turned_off():
    policy = sessions.CookiePolicy(secure=True, lifetime=timedelta(days=7))
    assert policy.attributes() == {"key": "vigil_session", "max_age": 7 * 86400, "path": "/", "secure": True,
                                   "httponly": True, "samesite": "lax"}
    assert sessions.CookiePolicy(secure=False, lifetime=timedelta(hours=1)).attributes()["secure"] is False


def test_a_session_lives_until_it_expires_and_is_touched_at_most_once_a_minute():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert sessions.is_live(now + timedelta(seconds=1), now)
    assert not sessions.is_live(now, now)
    assert not sessions.should_touch(now - timedelta(seconds=59), now)
    assert sessions.should_touch(now - timedelta(seconds=60), now)
