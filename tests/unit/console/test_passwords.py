"""Local passwords: argon2id hashes that verify the right password only."""

import pytest

from services.console import passwords


def test_a_hash_verifies_its_password_only():
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse battery")
    assert not passwords.verify_password(stored, "correct horse batterY")


def test_no_account_or_no_password_never_verifies():
    assert not passwords.verify_password(None, "anything at all")
    assert not passwords.verify_password("not a hash", "anything at all")


@pytest.mark.parametrize("password", ["short", "x" * (passwords.MAX_LENGTH + 1)])
def test_passwords_too_short_or_too_long_are_refused(password):
    with pytest.raises(ValueError):
        passwords.hash_password(password)


def test_generated_passwords_are_long_and_different():
    generated = {passwords.generate_password() for _ in range(20)}
    assert len(generated) == 20 and all(len(p) >= 20 for p in generated)
