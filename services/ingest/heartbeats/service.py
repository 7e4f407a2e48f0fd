"""The units of work of heartbeat monitors, shared by the ping and CRUD routes and the checker: a
decision of the pure core (`states`) is carried out in the caller's transaction — the monitors'
new state, their alerts into ingest's outbox (relayed to `vigil.alerts.v1`), and a NOTIFY when a
deadline moved close, so the checkers of every replica look again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from services.ingest.heartbeats import alerts
from services.ingest.heartbeats import repository as repo
from services.ingest.heartbeats.states import Decision, Monitor
from shared.outbox import enqueue_many, outbox_row

SCHEMA = "ingest"


async def carry_out(
    conn: asyncpg.Connection, changes: Sequence[tuple[Monitor, Decision]], *, now: datetime, ce_source: str,
    notify_within: timedelta,
) -> int:
    """Store each decision's monitor, its alerts into the outbox; returns how many alerts."""
    if not changes:
        return 0
    await repo.save_states(conn, [decision.monitor for _, decision in changes], now=now)
    rows = [outbox_row(alerts.event_of(before, alert, now=now), ce_source=ce_source)
            for before, decision in changes for alert in decision.alerts]
    if rows:
        await enqueue_many(conn, schema=SCHEMA, rows=rows)
    # Checkers read the next deadline at least every max_idle_s: only a deadline sooner than that
    # needs them woken (a success ping moves its deadline a period away: no NOTIFY).
    moved = [d.monitor.due_at for before, d in changes if d.monitor.due_at is not None and d.monitor.due_at != before.due_at]
    soonest = min(moved, default=None)
    if soonest is not None and soonest < now + notify_within:
        await repo.notify_due(conn, soonest)
    return len(rows)
