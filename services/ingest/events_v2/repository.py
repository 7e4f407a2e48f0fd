"""All SQL of ingest's `ingest` schema: integration keys and the dedup keys' firing starts."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from services.ingest.events_v2.keys import IntegrationKey

SCHEMA = "ingest"
KEY_CHANNEL = "ingest_integration_key"  # NOTIFY on every key change: every replica reloads its keys

KEY_COLUMNS = "id::text AS id, name, service, labels, key_hint, created_at, created_by, revoked_at, revoked_by"

ACTIVE_KEYS = "SELECT id::text AS id, name, service, labels, key_sha256 FROM ingest.integration_key WHERE revoked_at IS NULL"

INSERT_KEY = f"""
INSERT INTO ingest.integration_key (id, name, service, labels, key_sha256, key_hint, created_at, created_by)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
ON CONFLICT DO NOTHING
RETURNING {KEY_COLUMNS}"""

LIST_KEYS = f"""
SELECT {KEY_COLUMNS} FROM ingest.integration_key
WHERE $1 OR revoked_at IS NULL
ORDER BY created_at, id"""

GET_KEY = f"SELECT {KEY_COLUMNS} FROM ingest.integration_key WHERE id = $1"

REVOKE_KEY = f"""
UPDATE ingest.integration_key SET revoked_at = COALESCE(revoked_at, $2), revoked_by = COALESCE(revoked_by, $3)
WHERE id = $1
RETURNING {KEY_COLUMNS}"""

NOTIFY_KEYS = f"SELECT pg_notify('{KEY_CHANNEL}', '')"

# A trigger: the firing's start. While the dedup key fires it stays; after a resolve a trigger
# starts a new firing (never at or before the resolve, whatever the clocks of several replicas say).
TRIGGER = """
INSERT INTO ingest.alert_state AS s (integration_key_id, dedup_key, started_at, last_seen_at)
VALUES ($1, $2, $3, $3)
ON CONFLICT (integration_key_id, dedup_key) DO UPDATE SET
    started_at = CASE WHEN s.resolved_at IS NULL THEN s.started_at
                      ELSE GREATEST(EXCLUDED.started_at, s.resolved_at + interval '1 microsecond') END,
    resolved_at = NULL,
    last_seen_at = EXCLUDED.last_seen_at
RETURNING started_at"""

# A resolve: the firing's start and its end. A resolve repeated (a retry after a 503) gets the
# same end, so it is the same event.
RESOLVE = """
UPDATE ingest.alert_state SET resolved_at = COALESCE(resolved_at, $3), last_seen_at = $3
WHERE integration_key_id = $1 AND dedup_key = $2
RETURNING started_at, resolved_at"""

FIRING_SINCE = """
SELECT started_at FROM ingest.alert_state
WHERE integration_key_id = $1 AND dedup_key = $2 AND resolved_at IS NULL"""

PRUNE = "DELETE FROM ingest.alert_state WHERE resolved_at < $1"


def _key_row(row: asyncpg.Record) -> dict:
    out = dict(row)
    out["labels"] = json.loads(out["labels"]) if isinstance(out["labels"], str) else out["labels"]
    return out


async def active_keys(conn: asyncpg.Connection) -> dict[bytes, IntegrationKey]:
    """Every key in use, by the SHA-256 of the key."""
    rows = await conn.fetch(ACTIVE_KEYS)
    return {
        bytes(r["key_sha256"]): IntegrationKey(id=r["id"], name=r["name"], service=r["service"],
                                               labels=json.loads(r["labels"]) if isinstance(r["labels"], str) else r["labels"])
        for r in rows
    }


async def insert_key(
    conn: asyncpg.Connection, *, key_id: str, name: str, service: str, labels: dict[str, str], key_sha256: bytes,
    key_hint: str, now: datetime, by: str,
) -> dict | None:
    """The new key's row; None when a key in use already has that name."""
    row = await conn.fetchrow(INSERT_KEY, key_id, name, service, json.dumps(labels), key_sha256, key_hint, now, by)
    if row is not None:
        await conn.execute(NOTIFY_KEYS)
    return _key_row(row) if row else None


async def list_keys(conn: asyncpg.Connection, *, include_revoked: bool) -> list[dict]:
    return [_key_row(r) for r in await conn.fetch(LIST_KEYS, include_revoked)]


async def get_key(conn: asyncpg.Connection, key_id: str) -> dict | None:
    row = await conn.fetchrow(GET_KEY, key_id)
    return _key_row(row) if row else None


async def revoke_key(conn: asyncpg.Connection, key_id: str, *, now: datetime, by: str) -> dict | None:
    row = await conn.fetchrow(REVOKE_KEY, key_id, now, by)
    if row is not None:
        await conn.execute(NOTIFY_KEYS)
    return _key_row(row) if row else None


async def trigger(conn: asyncpg.Connection, *, key_id: str, dedup_key: str, now: datetime) -> datetime:
    """The start of the dedup key's firing (now, for a new one)."""
    return await conn.fetchval(TRIGGER, key_id, dedup_key, now)


async def resolve(conn: asyncpg.Connection, *, key_id: str, dedup_key: str, now: datetime) -> tuple[datetime, datetime] | None:
    """(start, end) of the dedup key's last firing; None for a dedup key never triggered."""
    row = await conn.fetchrow(RESOLVE, key_id, dedup_key, now)
    return (row["started_at"], row["resolved_at"]) if row else None


async def firing_since(conn: asyncpg.Connection, *, key_id: str, dedup_key: str) -> datetime | None:
    """The start of the dedup key's firing; None when it does not fire."""
    return await conn.fetchval(FIRING_SINCE, key_id, dedup_key)


async def prune(conn: asyncpg.Connection, *, resolved_before: datetime) -> int:
    result = await conn.execute(PRUNE, resolved_before)
    return int(result.split()[-1])
