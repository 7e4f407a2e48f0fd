"""The migration runner against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from shared.db import MigrationError, create_pool, migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def conn(postgres_server):
    connection = await asyncpg.connect(postgres_server.url)
    yield connection
    await connection.close()


def schema_name() -> str:
    return f"test_{uuid.uuid4().hex[:8]}"


async def test_applies_in_order_once_and_records_them(conn, tmp_path):
    schema = schema_name()
    (tmp_path / "0001_widget.sql").write_text("CREATE TABLE widget (id int PRIMARY KEY, name text);")
    (tmp_path / "0002_widget_colour.sql").write_text("ALTER TABLE widget ADD COLUMN colour text;")
    assert await migrate(conn, schema=schema, directory=tmp_path) == [1, 2]
    assert await migrate(conn, schema=schema, directory=tmp_path) == []
    await conn.execute(f"INSERT INTO {schema}.widget (id, name, colour) VALUES (1, 'a', 'red')")
    rows = await conn.fetch(f"SELECT version, name FROM {schema}.schema_migration ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [(1, "widget"), (2, "widget_colour")]

    (tmp_path / "0003_gadget.sql").write_text("CREATE TABLE gadget (id int PRIMARY KEY);")
    assert await migrate(conn, schema=schema, directory=tmp_path) == [3]


async def test_a_changed_applied_migration_is_refused(conn, tmp_path):
    schema = schema_name()
    (tmp_path / "0001_widget.sql").write_text("CREATE TABLE widget (id int PRIMARY KEY);")
    await migrate(conn, schema=schema, directory=tmp_path)
    (tmp_path / "0001_widget.sql").write_text("CREATE TABLE widget (id bigint PRIMARY KEY);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(conn, schema=schema, directory=tmp_path)


async def test_a_failing_migration_is_rolled_back_and_not_recorded(conn, tmp_path):
    schema = schema_name()
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (id int); SELECT * FROM no_such_table;")
    with pytest.raises(MigrationError, match="0002_broken failed"):
        await migrate(conn, schema=schema, directory=tmp_path)
    versions = await conn.fetch(f"SELECT version FROM {schema}.schema_migration")
    assert [r["version"] for r in versions] == [1]
    assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.half") is None
    # The lock was released: fixing the file and running again works.
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (id int);")
    assert await migrate(conn, schema=schema, directory=tmp_path) == [2]


async def test_replicas_starting_together_apply_each_migration_once(postgres_server, tmp_path):
    schema = schema_name()
    # Not idempotent on purpose: applied twice, it would fail.
    (tmp_path / "0001_counter.sql").write_text(
        "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1); SELECT pg_sleep(0.3);"
    )
    pool = await create_pool(postgres_server.url, min_size=4, max_size=4)
    try:
        async def one_replica() -> list[int]:
            async with pool.acquire() as c:
                return await migrate(c, schema=schema, directory=tmp_path)

        results = await asyncio.gather(*(one_replica() for _ in range(4)))
        assert sorted(results) == [[], [], [], [1]]
        async with pool.acquire() as c:
            assert await c.fetchval(f"SELECT count(*) FROM {schema}.counter") == 1
    finally:
        await pool.close()
