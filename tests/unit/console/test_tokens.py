"""Personal API tokens: roles that may be granted, what is stored of a token, its state."""

from datetime import UTC, datetime, timedelta

import pytest

from services.console import tokens
from shared.identity import verify

KEY = b"k" * 32
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(("requested", "person", "credential", "allowed"), [
    ("viewer", "viewer", "viewer", True),
    ("responder", "viewer", "viewer", False),  # never above the person
    ("responder", "admin", "responder", True),
    ("admin", "admin", "responder", False),  # never above what asks for it
    ("admin", "admin", "admin", True),
    ("owner", "admin", "admin", False),  # no such role
])
def test_a_token_role_is_at_most_the_person_and_the_credential(requested, person, credential, allowed):
    assert tokens.grantable(requested, person_role=person, credential_role=credential) is allowed


def test_a_new_token_verifies_as_its_person_with_its_id_and_only_prefix_and_hash_are_kept():
    made = tokens.new_token(KEY, person="alice", role="responder", expires_at=NOW + timedelta(days=30))
    principal = verify([KEY], made.credential, now=NOW)
    assert principal is not None
    assert (principal.name, principal.role, principal.kind, principal.token_id) == ("alice", "responder", "token", made.id)
    assert made.credential.startswith(made.prefix) and len(made.prefix) == tokens.PREFIX_LENGTH
    assert made.hash == tokens.token_hash(made.credential) and made.credential not in made.hash


def test_two_tokens_of_one_person_show_different_prefixes():
    prefixes = {tokens.new_token(KEY, person="alice", role="viewer", expires_at=None).prefix for _ in range(50)}
    assert len(prefixes) == 50


def test_expiry_in_days_or_never():
    assert tokens.expiry(NOW, None) is None
    assert tokens.expiry(NOW, 30) == NOW + timedelta(days=30)


@pytest.mark.parametrize(("revoked_at", "expires_at", "state"), [
    (None, None, "active"),
    (None, NOW + timedelta(seconds=1), "active"),
    (None, NOW, "expired"),
    (NOW - timedelta(days=1), NOW + timedelta(days=1), "revoked"),
    (NOW - timedelta(days=1), NOW - timedelta(days=2), "revoked"),  # revoked says more than expired
])
def test_state_of_a_token(revoked_at, expires_at, state):
    assert tokens.state(revoked_at=revoked_at, expires_at=expires_at, now=NOW) == state


def test_the_view_of_a_token_never_carries_its_hash():
    row = {"id": "t1", "person": "alice", "name": "cli", "role": "viewer", "prefix": "vgt_x", "token_hash": "secret",
           "created_at": NOW, "expires_at": None, "revoked_at": None, "last_used_at": None}
    view = tokens.view(row, NOW)
    assert "token_hash" not in view and view["state"] == "active"
