"""A re-fired alert (same fingerprint and startsAt, another event id) only moves its occurrence's
`last_seen_at`; with room left on the table's pages (migration 0004, fillfactor) PostgreSQL makes
that a HOT update (no new index entries). Real PostgreSQL, the real alert path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.incidents import repository, service
from services.incidents.app import MIGRATIONS
from services.incidents.config import IncidentsSettings
from shared.db import migrate
from shared.events import AlertEvent
from tests.conftest import create_database

pytestmark = pytest.mark.integration

STARTS = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def firing(n: int, *, event_id: str | None = None) -> AlertEvent:
    """An alert about as large as a real one (16 labels, 4 annotations: a ~1 kB row)."""
    labels = {"alertname": f"HighErrorRate{n}", "severity": "warning", "service": f"svc-{n // 10}", "env": "prod",
              **{f"label_{k}": f"value-{k}-{'x' * 30}" for k in range(12)}}
    annotations = {f"annotation_{k}": f"{'text ' * 20}{n}" for k in range(4)}
    return AlertEvent(
        event_id=event_id or AlertEvent.id_for(source="test", fingerprint=f"fp-{n}", status="firing", starts_at=STARTS,
                                               ends_at=None),
        occurred_at=STARTS, source="test", fingerprint=f"fp-{n}", status="firing", labels=labels,
        annotations=annotations, starts_at=STARTS, group_key=f"group-{n // 10}",
    )


async def occurrence_updates(conn: asyncpg.Connection) -> tuple[int, int]:
    await conn.execute("SELECT pg_stat_force_next_flush()")  # this session's counts, now
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    row = await conn.fetchrow(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = 'incidents' AND relname = 'alert_occurrence'"
    )
    return row["n_tup_upd"], row["n_tup_hot_upd"]


async def test_re_fired_alerts_touch_their_occurrences_with_hot_updates(postgres_server):
    conn = await asyncpg.connect(create_database(postgres_server))
    await repository.init_connection(conn)
    rules = IncidentsSettings.load(kafka_bootstrap_servers="127.0.0.1:1").grouping()
    try:
        await migrate(conn, schema=repository.SCHEMA, directory=MIGRATIONS)
        count = 60
        async with conn.transaction():
            await service.handle_alerts(conn, [firing(n) for n in range(count)], rules=rules, clock=lambda: STARTS)
        before = await occurrence_updates(conn)
        for n in range(count):  # each re-firing in its own poll, a second apart
            now = STARTS + timedelta(seconds=n + 1)
            async with conn.transaction():
                await service.handle_alerts(conn, [firing(n, event_id=str(uuid.uuid4()))], rules=rules, clock=lambda: now)
        updates, hot = (a - b for a, b in zip(await occurrence_updates(conn), before, strict=True))
        assert await conn.fetchval("SELECT count(*) FROM incidents.alert_occurrence WHERE last_seen_at > first_seen_at") == count
        assert updates == count
        assert hot >= 0.8 * count, f"only {hot} of {updates} touches were HOT updates"
    finally:
        await conn.close()
