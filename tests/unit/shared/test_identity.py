"""Signed credentials and the authenticator: personal tokens and session assertions verify with any
identity key and carry their person and role; tampered, foreign, expired and revoked ones are refused;
service accounts compare in constant time and may be named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.api_auth import ApiTokenSettings, Authenticator, parse_account
from shared.identity import Principal, RevokedTokens, mint, verify
from shared.settings import SettingsError

KEY = b"k" * 32
OLD_KEY = b"o" * 40
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def token(person="alice", role="responder", expires=None, token_id="t1", key=KEY) -> str:
    return mint(key, kind="token", person=person, role=role, expires_at=expires, token_id=token_id)


def test_a_personal_token_carries_its_person_role_and_id():
    credential = token()
    assert credential.startswith("vgt_")
    assert verify([KEY], credential, now=NOW) == Principal("alice", "responder", "token", "t1")


def test_a_session_assertion_must_expire_and_stops_working_when_it_does():
    with pytest.raises(ValueError):
        mint(KEY, kind="session", person="alice", role="admin", expires_at=None)
    session = mint(KEY, kind="session", person="alice", role="admin", expires_at=NOW + timedelta(minutes=5))
    assert session.startswith("vgs_")
    assert verify([KEY], session, now=NOW).kind == "session"
    assert verify([KEY], session, now=NOW + timedelta(minutes=5)) is None


def test_any_key_verifies_so_keys_rotate_but_a_foreign_key_does_not():
    old = token(key=OLD_KEY)
    assert verify([KEY, OLD_KEY], old, now=NOW).name == "alice"
    assert verify([KEY], old, now=NOW) is None


@pytest.mark.parametrize("change", [
    lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),  # the signature
    lambda c: c.replace("vgt_", "vgs_"),  # another kind, same signature
    lambda c: c[:10] + "x" + c[11:],  # the payload
    lambda c: c + "=",  # another spelling of the same bytes
    lambda c: c.split(".")[0],  # no signature
    lambda c: "vgt_" + "a" * 5000,  # far too long
])
def test_a_changed_credential_is_refused(change):
    assert verify([KEY], change(token()), now=NOW) is None


def test_a_revoked_token_is_refused_and_none_works_until_the_revocations_are_read():
    revoked = RevokedTokens(complete=False)
    assert verify([KEY], token(), now=NOW, revoked=revoked) is None
    revoked.complete = True
    assert verify([KEY], token(), now=NOW, revoked=revoked) is not None
    revoked.revoke("t1")
    assert verify([KEY], token(), now=NOW, revoked=revoked) is None
    assert verify([KEY], token(token_id="t2"), now=NOW, revoked=revoked) is not None
    session = mint(KEY, kind="session", person="alice", role="admin", expires_at=NOW + timedelta(minutes=5))
    assert verify([KEY], session, now=NOW, revoked=RevokedTokens(complete=False)) is not None  # never revoked


def test_expired_tokens_are_refused():
    assert verify([KEY], token(expires=NOW), now=NOW) is None
    assert verify([KEY], token(expires=NOW + timedelta(days=1)), now=NOW) is not None


def test_service_accounts_may_be_named_and_are_checked_with_their_role():
    assert parse_account("a" * 20 + ":admin", 1).name == "admin-token-1"
    assert parse_account("a" * 20 + ":responder:escalator", 2).name == "escalator"
    with pytest.raises(ValueError, match="#3"):
        parse_account("short:admin", 3)
    with pytest.raises(ValueError, match="#4"):
        parse_account("a" * 20 + ":root", 4)
    auth = Authenticator([parse_account("s" * 20 + ":responder:notifier", 1)], [KEY], revoked=RevokedTokens(),
                         clock=lambda: NOW)
    assert auth.authenticate("Bearer " + "s" * 20) == Principal("notifier", "responder", "service")
    assert auth.authenticate("bearer  " + token()) == Principal("alice", "responder", "token", "t1")
    for bad in (None, "", "Bearer", "Basic " + "s" * 20, "Bearer " + "s" * 21, "Bearer vgt_"):
        assert auth.authenticate(bad) is None


def test_without_identity_keys_only_service_accounts_work():
    auth = Authenticator([parse_account("s" * 20 + ":admin", 1)], [], clock=lambda: NOW)
    assert auth.authenticate("Bearer " + token()) is None
    assert auth.authenticate("Bearer " + "s" * 20).role == "admin"


def test_identity_keys_must_be_long():
    with pytest.raises(SettingsError, match="IDENTITY_KEYS"):
        ApiTokenSettings.load(identity_keys="short")
    settings = ApiTokenSettings.load(identity_keys=f"{'a' * 32},{'b' * 40}")
    assert settings.identity_key_bytes() == [b"a" * 32, b"b" * 40]
    assert not Authenticator.of(settings).revoked.complete  # waits for vigil.identity.v1
