"""PostgreSQL plumbing: the asyncpg pool and the migration runner.

Each service owns one schema and keeps its migrations as numbered plain-SQL files
(`services/<name>/migrations/0001_<what>.sql`). `migrate` applies the ones not yet applied, in
order, each in its own transaction, under a cluster-wide advisory lock so that replicas starting
together do not race, and records them in `<schema>.schema_migration` with a checksum.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger("vigil.db")

MIGRATION_LOCK_KEY = 0x56_49_47_49_4C  # "VIGIL": one advisory lock for every service's migrations
FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

# Deadlines on every PostgreSQL call, so a hung or unreachable server cannot hang a request or a loop:
STATEMENT_TIMEOUT_S = 30.0  # each statement (asyncpg cancels it)
CONNECT_TIMEOUT_S = 10.0  # opening a connection
ACQUIRE_TIMEOUT_S = 5.0  # waiting for a pooled connection (routes then answer 503, loops retry)


class MigrationError(RuntimeError):
    """A migration file is misnamed, changed after being applied, or failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    """The migrations in `directory`, in version order. Misnamed `.sql` files and duplicate
    versions are errors rather than silently skipped."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_snake.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path}: version {version} is used twice")
        migrations[version] = Migration(version, match.group(2), path.read_text())
    return [migrations[v] for v in sorted(migrations)]


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10, init=None) -> asyncpg.Pool:
    """A pool; `init(conn)` runs on every new connection (type codecs)."""
    return await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=init,
        command_timeout=STATEMENT_TIMEOUT_S, timeout=CONNECT_TIMEOUT_S,
    )


async def migrate(conn: asyncpg.Connection, *, schema: str, directory: Path) -> list[int]:
    """Bring `schema` up to date with the migrations in `directory`; returns the versions applied now."""
    if not SCHEMA_NAME.match(schema):
        raise MigrationError(f"invalid schema name {schema!r}")
    migrations = load_migrations(directory)
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        # The schema name is checked against SCHEMA_NAME above: identifiers cannot be parameters.
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migration (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch(f"SELECT version, checksum FROM {schema}.schema_migration")
        done = {r["version"]: r["checksum"] for r in rows}
        for m in migrations:
            if m.version in done:
                if done[m.version] != m.checksum:
                    raise MigrationError(
                        f"{schema} migration {m.version:04d}_{m.name} changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {schema}, public")
                try:
                    await conn.execute(m.sql)
                except asyncpg.PostgresError as exc:
                    raise MigrationError(f"{schema} migration {m.version:04d}_{m.name} failed: {exc}") from exc
                await conn.execute(
                    f"INSERT INTO {schema}.schema_migration (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version, m.name, m.checksum,
                )
            applied_now.append(m.version)
            log.info("migration applied", schema=schema, version=m.version, name=m.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now
