"""All SQL of the console: named constants and small functions taking a connection.
Repositories never open or commit transactions; the caller's unit of work does."""

from __future__ import annotations

from datetime import datetime

import asyncpg

SCHEMA = "console"

# --- people -------------------------------------------------------------------------------------
GET_PERSON = "SELECT * FROM console.person WHERE name = $1"
LIST_PEOPLE = "SELECT name, display_name, role, disabled, created_at FROM console.person ORDER BY name"
COUNT_PEOPLE = "SELECT count(*) FROM console.person"
INSERT_PERSON = """
INSERT INTO console.person (name, display_name, role, password_hash, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $5)
ON CONFLICT (name) DO NOTHING
RETURNING *"""
SET_PASSWORD = "UPDATE console.person SET password_hash = $2, updated_at = $3 WHERE name = $1 RETURNING name"

# --- sessions ------------------------------------------------------------------------------------
INSERT_SESSION = """
INSERT INTO console.session (id_hash, person, csrf_token, created_at, expires_at, last_seen_at, address, user_agent)
VALUES ($1, $2, $3, $4, $5, $4, $6, $7)"""
# The session with its person's current role: a role change applies to open sessions at once.
GET_SESSION = """
SELECT s.id_hash, s.person, s.csrf_token, s.created_at, s.expires_at, s.last_seen_at,
       p.display_name, p.role, p.disabled
FROM console.session s JOIN console.person p ON p.name = s.person
WHERE s.id_hash = $1"""
GET_SESSIONS = GET_SESSION.replace("WHERE s.id_hash = $1", "WHERE s.id_hash = ANY($1::text[])")  # the live streams'
TOUCH_SESSION = "UPDATE console.session SET last_seen_at = $2 WHERE id_hash = $1"
DELETE_SESSION = "DELETE FROM console.session WHERE id_hash = $1"
DELETE_SESSIONS_OF = "DELETE FROM console.session WHERE person = $1"
COUNT_SESSIONS_OF = "SELECT count(*) FROM console.session WHERE person = $1 AND expires_at > $2"
DELETE_EXPIRED_SESSIONS = "DELETE FROM console.session WHERE expires_at <= $1"

# --- failed sign-ins -----------------------------------------------------------------------------
RECORD_FAILURE = "INSERT INTO console.login_failure (account, address, at) VALUES ($1, $2, $3)"
FAILURES = """
SELECT (SELECT coalesce(array_agg(at), '{}') FROM console.login_failure WHERE account = $1 AND at > $3) AS account,
       (SELECT coalesce(array_agg(at), '{}') FROM console.login_failure WHERE address = $2 AND at > $3) AS address"""
CLEAR_ACCOUNT_FAILURES = "DELETE FROM console.login_failure WHERE account = $1"
DELETE_OLD_FAILURES = "DELETE FROM console.login_failure WHERE at <= $1"

# --- personal API tokens -------------------------------------------------------------------------
INSERT_TOKEN = """
INSERT INTO console.api_token (id, person, name, role, prefix, token_hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *"""
TOKENS_OF = "SELECT * FROM console.api_token WHERE person = $1 ORDER BY created_at DESC, id"
ALL_TOKENS = "SELECT * FROM console.api_token ORDER BY person, created_at DESC, id LIMIT 1000"
GET_TOKEN = "SELECT * FROM console.api_token WHERE id = $1"
REVOKE_TOKEN = """
UPDATE console.api_token SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
RETURNING *"""
TOKEN_USED = """
UPDATE console.api_token SET last_used_at = $2
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')"""

# --- OpenID Connect ------------------------------------------------------------------------------
# A person with the subject of `issuer` linked to them (NULL: none), found by subject or by name.
OIDC_ACCOUNT_BY_SUBJECT = """
SELECT p.name, p.role, p.disabled, i.subject
FROM console.oidc_identity i JOIN console.person p ON p.name = i.person
WHERE i.issuer = $1 AND i.subject = $2"""
OIDC_ACCOUNT_BY_NAME = """
SELECT p.name, p.role, p.disabled, i.subject
FROM console.person p LEFT JOIN console.oidc_identity i ON i.person = p.name AND i.issuer = $1
WHERE p.name = $2"""
LINK_OIDC_IDENTITY = """
INSERT INTO console.oidc_identity (issuer, subject, person, created_at, last_signed_in_at)
VALUES ($1, $2, $3, $4, $4)
ON CONFLICT (issuer, subject) DO UPDATE SET last_signed_in_at = EXCLUDED.last_signed_in_at"""
SET_ROLE = "UPDATE console.person SET role = $2, updated_at = $3 WHERE name = $1"
INSERT_OIDC_ATTEMPT = """
INSERT INTO console.oidc_attempt (id_hash, state, nonce, code_verifier, next_path, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)"""
# Used once: taking an attempt deletes it, so a replayed callback finds nothing.
TAKE_OIDC_ATTEMPT = "DELETE FROM console.oidc_attempt WHERE id_hash = $1 AND expires_at > $2 RETURNING *"
DELETE_EXPIRED_OIDC_ATTEMPTS = "DELETE FROM console.oidc_attempt WHERE expires_at <= $1"


async def get_person(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_PERSON, name)


async def insert_person(conn: asyncpg.Connection, *, name: str, display_name: str, role: str, password_hash: str | None,
                        now: datetime) -> asyncpg.Record | None:
    """The new person, or None when the name is taken."""
    return await conn.fetchrow(INSERT_PERSON, name, display_name, role, password_hash, now)


async def failures(conn: asyncpg.Connection, *, account: str, address: str, since: datetime) -> tuple[list, list]:
    row = await conn.fetchrow(FAILURES, account, address, since)
    return list(row["account"]), list(row["address"])


async def get_session(conn: asyncpg.Connection, id_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_SESSION, id_hash)


async def tokens(conn: asyncpg.Connection, person: str | None) -> list[asyncpg.Record]:
    """A person's tokens, newest first; None: everyone's."""
    return await conn.fetch(TOKENS_OF, person) if person is not None else await conn.fetch(ALL_TOKENS)
