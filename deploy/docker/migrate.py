"""Apply every service's database migrations, then exit: the one-shot step before a rollout
(compose's `migrate`, the Kubernetes Job `vigil-migrate`).

Services also migrate at start, under the same advisory lock, so this step is about order and
visibility: a migration that fails stops the rollout here, before any new pod starts.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from pathlib import Path

import asyncpg

from services.cli import SERVICES
from shared.db import migrate


def migration_sets() -> list[tuple[str, str, Path]]:
    """(service, schema, directory) for every service with a `migrations/` folder; its
    `repository.SCHEMA` names the schema (the layout every service follows)."""
    sets = []
    for name in SERVICES:
        package = importlib.import_module(f"services.{name}")
        directory = Path(package.__file__).parent / "migrations"
        if directory.is_dir():
            repository = importlib.import_module(f"services.{name}.repository")
            sets.append((name, repository.SCHEMA, directory))
    return sets


async def run(database_url: str) -> None:
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        for name, schema, directory in migration_sets():
            applied = await migrate(conn, schema=schema, directory=directory)
            print(json.dumps({"event": "migrated", "service": name, "schema": schema, "applied": applied}), flush=True)
    finally:
        await conn.close()


def main() -> int:
    url = os.environ.get("VIGIL_DATABASE_URL")
    if not url:
        print("migrate: set VIGIL_DATABASE_URL", file=sys.stderr)
        return 2
    asyncio.run(run(url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
