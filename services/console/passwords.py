"""Local passwords, hashed with argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane):
tens of milliseconds of CPU per sign-in on purpose, so callers run it in a worker thread
(`asyncio.to_thread`). A stored hash made with other parameters is upgraded at the next sign-in."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # hashing a megabyte of "password" is a denial of service, not a sign-in

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValueError(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    return _hasher.hash(password)


@functools.cache
def _unknown_account_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches. An account without a hash (or no account) costs the same time,
    so the answer's timing does not tell which names exist."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _unknown_account_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def generate_password() -> str:
    """A password to hand out once (bootstrap, reset): 20 URL-safe characters."""
    return secrets.token_urlsafe(15)
