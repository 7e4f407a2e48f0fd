"""The console's units of work: signing in and out, looking up a session, people, and personal API
tokens (a revocation leaves through the outbox as `TokenChanged`, so every service refuses the token).
The caller owns the transaction; password hashing runs in a worker thread, outside any."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.console import csrf, passwords, sessions, throttle, tokens
from services.console import repository as repo
from services.console.oidc import claims as oidc_claims
from services.console.oidc.provider import Attempt
from shared.events import TokenChanged, deterministic_id
from shared.identity import RANK, Role
from shared.outbox import enqueue

CE_SOURCE = "/vigil/console"
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"


@dataclass(frozen=True)
class SignedIn:
    """A live console session and its person, with the person's role as it is now."""

    person: str
    display_name: str
    role: Role
    session_hash: str
    csrf_token: str
    expires_at: datetime

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


@dataclass(frozen=True)
class NewSession:
    session_id: str  # for the cookie; only its hash is stored
    signed_in: SignedIn


@dataclass(frozen=True)
class BadCredentials:
    pass


SignInOutcome = NewSession | BadCredentials | throttle.Throttled


async def throttled(conn: asyncpg.Connection, *, account: str, address: str, limit: throttle.LoginLimit,
                    now: datetime) -> throttle.Throttled | None:
    """Whether sign-in is refused for now: too many recent failures of the account or the address."""
    by_account, by_address = await repo.failures(conn, account=account, address=address, since=now - limit.window)
    verdict = throttle.check(limit, account_failures=by_account, address_failures=by_address, now=now)
    return verdict if isinstance(verdict, throttle.Throttled) else None


async def check_password(pool: asyncpg.Pool, *, name: str, password: str, address: str, limit: throttle.LoginLimit,
                         now: datetime) -> asyncpg.Record | BadCredentials | throttle.Throttled:
    """The person whose name and password these are — unless the account or the address failed too
    often lately (checked first: a right guess after too many wrong ones is refused too)."""
    account = throttle.account_key(name)
    async with pool.acquire() as conn:
        if verdict := await throttled(conn, account=account, address=address, limit=limit, now=now):
            return verdict
        person = await repo.get_person(conn, name.strip())
    stored = person["password_hash"] if person is not None else None
    ok = await asyncio.to_thread(passwords.verify_password, stored, password)
    async with pool.acquire() as conn, conn.transaction():
        if not ok or person is None or person["disabled"]:
            await conn.execute(repo.RECORD_FAILURE, account, address, now)
            return BadCredentials()
        await conn.execute(repo.CLEAR_ACCOUNT_FAILURES, account)
        if passwords.needs_rehash(stored):
            await conn.execute(repo.SET_PASSWORD, person["name"], await asyncio.to_thread(passwords.hash_password, password), now)
    return person


async def sign_in(pool: asyncpg.Pool, *, name: str, password: str, address: str, user_agent: str | None,
                  limit: throttle.LoginLimit, lifetime: timedelta, now: datetime) -> SignInOutcome:
    person = await check_password(pool, name=name, password=password, address=address, limit=limit, now=now)
    if isinstance(person, BadCredentials | throttle.Throttled):
        return person
    async with pool.acquire() as conn:
        return await new_session(conn, person, address=address, user_agent=user_agent, lifetime=lifetime, now=now)


async def new_session(conn: asyncpg.Connection, person: asyncpg.Record, *, address: str, user_agent: str | None,
                      lifetime: timedelta, now: datetime) -> NewSession:
    """A console session of `person`, however they proved who they are."""
    session_id, token = sessions.new_id(), csrf.new_token()
    await conn.execute(repo.INSERT_SESSION, sessions.id_hash(session_id), person["name"], token, now, now + lifetime,
                       address, (user_agent or "")[:300] or None)
    return NewSession(session_id, SignedIn(person["name"], person["display_name"], person["role"],
                                           sessions.id_hash(session_id), token, now + lifetime))


# --- OpenID Connect ------------------------------------------------------------------------------
OIDC_FAILURE_ACCOUNT = "oidc:"  # failures of provider sign-ins count per address, and apart from passwords


async def begin_oidc_sign_in(conn: asyncpg.Connection, *, browser_id: str, attempt: Attempt, next_path: str,
                             now: datetime, ttl: timedelta) -> None:
    """Keep a sign-in's secrets under the hash of the cookie that only this browser holds."""
    await conn.execute(repo.INSERT_OIDC_ATTEMPT, sessions.id_hash(browser_id), attempt.state, attempt.nonce,
                       attempt.code_verifier, next_path, now, now + ttl)


async def take_oidc_sign_in(conn: asyncpg.Connection, *, browser_id: str | None,
                            now: datetime) -> tuple[Attempt, str] | None:
    """The attempt (and where to go after) this browser started and has not used yet, once."""
    if not browser_id or len(browser_id) > sessions.MAX_ID_LENGTH:
        return None
    row = await conn.fetchrow(repo.TAKE_OIDC_ATTEMPT, sessions.id_hash(browser_id), now)
    return (Attempt(row["state"], row["nonce"], row["code_verifier"]), row["next_path"]) if row else None


async def record_oidc_failure(conn: asyncpg.Connection, *, name: str, address: str, now: datetime) -> None:
    await conn.execute(repo.RECORD_FAILURE, OIDC_FAILURE_ACCOUNT + name[:100], address, now)


def _account(row: asyncpg.Record | None) -> oidc_claims.Account | None:
    return oidc_claims.Account(row["name"], row["role"], row["disabled"], row["subject"]) if row else None


async def sign_in_with_provider(pool: asyncpg.Pool, *, identity: oidc_claims.Identity, policy: oidc_claims.ClaimPolicy,
                                address: str, user_agent: str | None, lifetime: timedelta,
                                now: datetime) -> NewSession | oidc_claims.Refusal:
    """Sign in the person the provider vouched for: the one linked to its subject, else the one its
    claims name (linked now), else a new person when a role applies — or a refusal, recorded as a
    failed sign-in of the address."""
    async with pool.acquire() as conn, conn.transaction():
        linked = await conn.fetchrow(repo.OIDC_ACCOUNT_BY_SUBJECT, identity.issuer, identity.subject)
        named = await conn.fetchrow(repo.OIDC_ACCOUNT_BY_NAME, identity.issuer, identity.name)
        decision = oidc_claims.decide(identity, linked=_account(linked), named=_account(named), policy=policy)
        if isinstance(decision, oidc_claims.CreatePerson):
            if await repo.insert_person(conn, name=decision.name, display_name=decision.display_name,
                                        role=decision.role, password_hash=None, now=now) is None:
                decision = oidc_claims.Refusal(409, "name_taken", "Someone took this name a moment ago. Sign in again.")
            else:
                decision = oidc_claims.SignInAs(decision.name, link=True, new_role=None)
        if isinstance(decision, oidc_claims.Refusal):
            await record_oidc_failure(conn, name=identity.name, address=address, now=now)
            return decision
        if decision.new_role is not None:
            await conn.execute(repo.SET_ROLE, decision.name, decision.new_role, now)
        await conn.execute(repo.LINK_OIDC_IDENTITY, identity.issuer, identity.subject, decision.name, now)
        person = await repo.get_person(conn, decision.name)
        return await new_session(conn, person, address=address, user_agent=user_agent, lifetime=lifetime, now=now)


async def session_of(conn: asyncpg.Connection, session_id: str | None, *, now: datetime) -> SignedIn | None:
    """The live session a cookie names, or None (unknown, expired, or its person disabled)."""
    if not session_id or len(session_id) > sessions.MAX_ID_LENGTH:
        return None
    row = await repo.get_session(conn, sessions.id_hash(session_id))
    if row is None or row["disabled"] or not sessions.is_live(row["expires_at"], now):
        return None
    if sessions.should_touch(row["last_seen_at"], now):
        await conn.execute(repo.TOUCH_SESSION, row["id_hash"], now)
    return SignedIn(row["person"], row["display_name"], row["role"], row["id_hash"], row["csrf_token"], row["expires_at"])


async def sign_out(conn: asyncpg.Connection, signed_in: SignedIn) -> None:
    await conn.execute(repo.DELETE_SESSION, signed_in.session_hash)


async def sign_out_everywhere(conn: asyncpg.Connection, person: str) -> None:
    await conn.execute(repo.DELETE_SESSIONS_OF, person)


async def add_person(pool: asyncpg.Pool, *, name: str, display_name: str | None, role: Role, password: str,
                     now: datetime) -> asyncpg.Record | None:
    """A new person with a local password; None when the name is taken. Raises ValueError for a name,
    role or password that cannot be."""
    if not re.match(NAME_PATTERN, name):
        raise ValueError("a name is 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit "
                         "(the name timelines record; the same as in the on-call configuration)")
    if role not in RANK:
        raise ValueError("the role is viewer, responder or admin")
    hashed = await asyncio.to_thread(passwords.hash_password, password)
    async with pool.acquire() as conn:
        return await repo.insert_person(conn, name=name, display_name=display_name or name, role=role,
                                        password_hash=hashed, now=now)


async def set_password(pool: asyncpg.Pool, *, name: str, password: str, now: datetime) -> bool:
    hashed = await asyncio.to_thread(passwords.hash_password, password)
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(repo.SET_PASSWORD, name, hashed, now) is None:
            return False
        await conn.execute(repo.DELETE_SESSIONS_OF, name)  # a new password signs every old session out
    return True


class Refused(Exception):
    """A request about tokens that cannot be granted: `status` 403 (not yours to have) or 422 (not valid)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def issue_token(conn: asyncpg.Connection, *, key: bytes, person: str, credential_role: str, name: str,
                      role: str | None, expires_in_days: int | None, now: datetime) -> tuple[tokens.NewToken, asyncpg.Record]:
    """A new personal token of `person`, asked for with a credential of `credential_role`. `role`
    None: the highest the token may have."""
    account = await repo.get_person(conn, person)
    if account is None or account["disabled"]:
        raise Refused(403, f"{person} has no console account: personal tokens belong to people with one")
    ceiling = min(account["role"], credential_role, key=RANK.__getitem__)
    role = role or ceiling
    if not tokens.grantable(role, person_role=account["role"], credential_role=credential_role):
        raise Refused(403, f"a token's role is at most {ceiling}, the role of its person and of what asks for it")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise Refused(422, "a token needs a name of 1 to 100 characters (what it is for: 'laptop CLI')")
    if expires_in_days is not None and not 1 <= expires_in_days <= tokens.MAX_EXPIRY_DAYS:
        raise Refused(422, f"a token expires in 1 to {tokens.MAX_EXPIRY_DAYS} days (or never)")
    expires_at = tokens.expiry(now, expires_in_days)
    made = tokens.new_token(key, person=person, role=role, expires_at=expires_at)  # type: ignore[arg-type]
    row = await conn.fetchrow(repo.INSERT_TOKEN, made.id, person, name, role, made.prefix, made.hash, now, expires_at)
    return made, row


async def revoke_token(conn: asyncpg.Connection, token_id: str, *, person: str, is_admin: bool,
                       now: datetime) -> asyncpg.Record | None:
    """Revoke one's own token (an admin: anyone's), publishing `TokenChanged(revoked=True)` in the
    same transaction so every service refuses it. The row after; None when there is no such token
    (or it is someone else's and the caller is no admin: the same answer, so ids are not probed).
    Revoking a revoked token changes nothing."""
    row = await conn.fetchrow(repo.GET_TOKEN, token_id)
    if row is None or (row["person"] != person and not is_admin):
        return None
    revoked = await conn.fetchrow(repo.REVOKE_TOKEN, token_id, now)
    if revoked is None:
        return row
    event = TokenChanged(event_id=deterministic_id("token", token_id, "revoked"), occurred_at=now, source="console",
                         token_id=token_id, person=row["person"], revoked=True)
    await enqueue(conn, schema=repo.SCHEMA, event=event, ce_source=CE_SOURCE)
    return revoked


async def housekeeping(pool: asyncpg.Pool, *, now: datetime, failure_window: timedelta) -> None:
    """Forget expired sessions and OpenID Connect sign-ins, and failures older than the rate-limit window."""
    async with pool.acquire() as conn:
        await conn.execute(repo.DELETE_EXPIRED_SESSIONS, now)
        await conn.execute(repo.DELETE_OLD_FAILURES, now - failure_window)
        await conn.execute(repo.DELETE_EXPIRED_OIDC_ATTEMPTS, now)
