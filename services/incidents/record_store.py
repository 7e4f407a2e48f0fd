"""SQL of the simple operations records — runbooks, toil, reliability gaps, deployments and
maintenance windows: create, update, list, delete. The statements are built once at import from
the fixed column lists below (never from a request); every value is a bound parameter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class RecordKind:
    table: str
    columns: tuple[str, ...]  # what a request may set
    order_by: str
    author_column: str | None = None  # set to the request's actor on create

    @property
    def all_columns(self) -> str:
        extra = (self.author_column,) if self.author_column else ()
        return ", ".join(("id", *self.columns, *extra, "created_at", "updated_at"))


KINDS: dict[str, RecordKind] = {
    "runbook": RecordKind(
        "runbook", ("name", "link", "owner", "last_updated_on", "last_tested_on", "last_test_result", "next_review_on"), "name"
    ),
    "toil": RecordKind(
        "toil", ("task", "month", "frequency", "minutes_per_occurrence", "automation_effort", "monthly_savings_minutes"),
        "month DESC, task",
    ),
    "reliability_gap": RecordKind(
        "reliability_gap", ("gap", "impact", "priority", "improvement", "owner", "target_on", "status"), "priority, id"
    ),
    "deployment": RecordKind(
        "deployment", ("change", "service", "deployed_at", "status", "issues"), "deployed_at DESC, id DESC", "recorded_by"
    ),
    "maintenance_window": RecordKind(
        "maintenance_window", ("starts_at", "ends_at", "activity", "impact"), "starts_at, id", "created_by"
    ),
}


class Conflict(Exception):
    """The record breaks a uniqueness or consistency rule (HTTP 409)."""


def _insert_sql(kind: RecordKind) -> str:
    cols = list(kind.columns) + ([kind.author_column] if kind.author_column else [])
    params = ", ".join(f"${n}" for n in range(1, len(cols) + 1))
    now = f"${len(cols) + 1}"
    return (
        f"INSERT INTO incidents.{kind.table} ({', '.join(cols)}, created_at, updated_at) "
        f"VALUES ({params}, {now}, {now}) RETURNING {kind.all_columns}"
    )


def _update_sql(kind: RecordKind) -> str:
    sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(kind.columns, start=2))
    now = f"${len(kind.columns) + 2}"
    return f"UPDATE incidents.{kind.table} SET {sets}, updated_at = {now} WHERE id = $1 RETURNING {kind.all_columns}"


INSERT = {name: _insert_sql(k) for name, k in KINDS.items()}
UPDATE = {name: _update_sql(k) for name, k in KINDS.items()}
GET = {name: f"SELECT {k.all_columns} FROM incidents.{k.table} WHERE id = $1" for name, k in KINDS.items()}
LIST = {name: f"SELECT {k.all_columns} FROM incidents.{k.table} ORDER BY {k.order_by} LIMIT $1" for name, k in KINDS.items()}
DELETE = {name: f"DELETE FROM incidents.{k.table} WHERE id = $1 RETURNING id" for name, k in KINDS.items()}
DEPLOYMENTS_BETWEEN = f"""
SELECT {KINDS['deployment'].all_columns} FROM incidents.deployment
WHERE deployed_at >= $1 AND deployed_at < $2 ORDER BY deployed_at, id"""
MAINTENANCE_FROM = f"""
SELECT {KINDS['maintenance_window'].all_columns} FROM incidents.maintenance_window
WHERE ends_at > $1 AND starts_at < $2 ORDER BY starts_at, id"""


async def create(conn: asyncpg.Connection, name: str, values: dict, *, actor: str, now: datetime) -> asyncpg.Record:
    kind = KINDS[name]
    args = [values.get(c) for c in kind.columns] + ([actor] if kind.author_column else [])
    try:
        return await conn.fetchrow(INSERT[name], *args, now)
    except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
        raise Conflict(_why(name, exc)) from None


async def get(conn: asyncpg.Connection, name: str, record_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(GET[name], record_id)


async def update(conn: asyncpg.Connection, name: str, record_id: int, changes: dict, *, now: datetime) -> asyncpg.Record | None:
    """Apply the sent fields over the stored ones; None when there is no such record."""
    current = await conn.fetchrow(GET[name] + " FOR UPDATE", record_id)
    if current is None:
        return None
    kind = KINDS[name]
    args = [changes[c] if c in changes else current[c] for c in kind.columns]
    try:
        return await conn.fetchrow(UPDATE[name], record_id, *args, now)
    except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
        raise Conflict(_why(name, exc)) from None


async def delete(conn: asyncpg.Connection, name: str, record_id: int) -> bool:
    return await conn.fetchval(DELETE[name], record_id) is not None


async def list_all(conn: asyncpg.Connection, name: str, *, limit: int = 1000) -> list[asyncpg.Record]:
    return await conn.fetch(LIST[name], limit)


async def deployments_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(DEPLOYMENTS_BETWEEN, start, end)


async def maintenance_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(MAINTENANCE_FROM, start, end)


def _why(name: str, exc: asyncpg.PostgresError) -> str:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return f"a {name.replace('_', ' ')} with these values exists already ({exc.constraint_name})"
    if isinstance(exc, asyncpg.NotNullViolationError):
        return f"the {name.replace('_', ' ')} needs a value for {exc.column_name}"
    return f"the {name.replace('_', ' ')} breaks the rule {exc.constraint_name}"
