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
    """(service, schema, directory) for every service with a `migrations/` folder; the `SCHEMA` of
    its `repository.py` names the schema (the service's own, or a sub-package's such as ingest's
    `events_v2/repository.py` when the database serves one part of the service)."""
    sets = []
    for name in SERVICES:
        package = importlib.import_module(f"services.{name}")
        root = Path(package.__file__).parent
        directory = root / "migrations"
        if directory.is_dir():
            sets.append((name, schema_of(name, root), directory))
    return sets


def schema_of(name: str, root: Path) -> str:
    candidates = [root / "repository.py", *sorted(root.glob("*/repository.py"))]
    for path in candidates:
        module = ".".join(["services", name, *path.relative_to(root).with_suffix("").parts])
        schema = getattr(importlib.import_module(module), "SCHEMA", None) if path.exists() else None
        if schema:
            return schema
    raise SystemExit(f"services/{name} has migrations but no repository.py with a SCHEMA")


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
