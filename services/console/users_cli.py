"""`vigil users add|list|password`: the console's accounts, written straight into its schema (what an
operator runs where VIGIL_DATABASE_URL reaches the database; the first admin is made this way).
Passwords are generated and printed once, or read from standard input (`--password-stdin`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import asyncpg
import typer

from services.console import passwords, repository as repo, service
from shared.db import create_pool, migrate
from shared.settings import BaseServiceSettings, SettingsError

users_app = typer.Typer(help="Console accounts: the people who sign in to the console.", no_args_is_help=True)
MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")


async def with_console_pool(database_url: str, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Run `work` with a pool on the console's schema, migrated first (the console may not have run yet)."""
    pool = await create_pool(database_url, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema=repo.SCHEMA, directory=MIGRATIONS)
        return await work(pool)
    finally:
        await pool.close()


async def ensure_first_admin(database_url: str, *, name: str = "admin") -> str | None:
    """Create an admin named `name` with a generated password when the console has no account yet;
    returns that password (to show once), or None when accounts exist."""

    async def work(pool: asyncpg.Pool) -> str | None:
        async with pool.acquire() as conn:
            if await conn.fetchval(repo.COUNT_PEOPLE):
                return None
        password = passwords.generate_password()
        made = await service.add_person(pool, name=name, display_name="Administrator", role="admin", password=password,
                                        now=datetime.now(UTC))
        return password if made is not None else None

    return await with_console_pool(database_url, work)


def _database_url() -> str:
    try:
        url = BaseServiceSettings.load().database_url
    except SettingsError as exc:
        _fail(str(exc))
    if not url:
        _fail("VIGIL_DATABASE_URL is not set: it names the database the console keeps its accounts in")
    return url  # type: ignore[return-value]


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return passwords.generate_password(), True


@users_app.command("add")
def add(name: str = typer.Argument(..., help="The person's name: what timelines record (lower-case, e.g. 'alice')."),
        role: str = typer.Option("responder", "--role", help="viewer, responder or admin."),
        display_name: str = typer.Option(None, "--display-name", help="How pages greet them (default: the name)."),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input "
                                            "instead of generating one.")) -> None:
    """Add a person who can sign in to the console."""
    password, generated = _password(password_stdin)

    async def work(pool: asyncpg.Pool):
        return await service.add_person(pool, name=name, display_name=display_name, role=role,  # type: ignore[arg-type]
                                        password=password, now=datetime.now(UTC))

    try:
        made = asyncio.run(with_console_pool(_database_url(), work))
    except ValueError as exc:
        _fail(str(exc))
    if made is None:
        _fail(f"{name} already has an account (`vigil users password {name}` sets a new password)")
    typer.echo(f"added {name} ({role})" + (f"; password (shown once): {password}" if generated else ""))


@users_app.command("list")
def list_users() -> None:
    """Everyone with a console account."""

    async def work(pool: asyncpg.Pool):
        async with pool.acquire() as conn:
            return await conn.fetch(repo.LIST_PEOPLE)

    rows = asyncio.run(with_console_pool(_database_url(), work))
    if not rows:
        typer.echo("no accounts yet: `vigil users add <name> --role admin` makes the first")
    for row in rows:
        typer.echo(f"{row['name']:<24} {row['role']:<10} {row['display_name']}" + ("  (disabled)" if row["disabled"] else ""))


@users_app.command("password")
def set_password(name: str = typer.Argument(..., help="Whose password."),
                 password_stdin: bool = typer.Option(False, "--password-stdin", help="Read it from standard input "
                                                     "instead of generating one.")) -> None:
    """Give a person a new password; every session of theirs is signed out."""
    password, generated = _password(password_stdin)

    async def work(pool: asyncpg.Pool) -> bool:
        return await service.set_password(pool, name=name, password=password, now=datetime.now(UTC))

    try:
        changed = asyncio.run(with_console_pool(_database_url(), work))
    except ValueError as exc:
        _fail(str(exc))
    if not changed:
        _fail(f"{name} has no account (`vigil users add {name}`)")
    typer.echo(f"new password for {name}" + (f" (shown once): {password}" if generated else " set"))
