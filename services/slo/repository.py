"""All SQL of the SLO service: named constants and small functions taking a connection.
Repositories never open or commit transactions; the caller's unit of work does."""

from __future__ import annotations

import json

import asyncpg

SCHEMA = "slo"


async def init_connection(conn: asyncpg.Connection) -> None:
    """Pool connection setup: jsonb columns as Python dicts."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
