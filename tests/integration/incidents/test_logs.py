"""The logs of one incident tell its story: one info line when it opens and one per lifecycle change,
with `incident_id=INC-<n>` (and the alert's fingerprint and event id when an alert made the change)
in the log context; an alert firing again into its open incident logs nothing. The core's resolve
hook runs in the resolve's transaction. Real PostgreSQL, the real alert path (the consumer's batch)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import structlog
from structlog.testing import capture_logs

from services.incidents import repository, service
from services.incidents.app import MIGRATIONS
from services.incidents.config import IncidentsSettings
from shared.db import migrate
from shared.events import AlertEvent
from tests.conftest import create_database

pytestmark = pytest.mark.integration

STARTS = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class Lines:
    """The info (and higher) event dicts logged while it is open, context variables merged in."""

    def __init__(self, entries: list[dict]) -> None:
        self._entries = entries

    @property
    def events(self) -> list[dict]:
        return [e for e in self._entries if e["log_level"] != "debug"]


@contextmanager
def info_lines() -> Iterator[Lines]:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        yield Lines(entries)


def alert(n: int, status: str, *, event_id: str) -> AlertEvent:
    return AlertEvent(
        event_id=event_id, occurred_at=STARTS, source="test", fingerprint=f"logs-fp-{n}", status=status,
        labels={"alertname": "DiskFull", "service": "logs", "severity": "warning", "n": str(n)}, annotations={},
        starts_at=STARTS, ends_at=STARTS + timedelta(minutes=5) if status == "resolved" else None, group_key="logs",
    )


async def test_an_incident_logs_its_opening_and_resolve_with_its_alert_and_nothing_per_repeat(postgres_server):
    conn = await asyncpg.connect(create_database(postgres_server))
    await repository.init_connection(conn)
    rules = IncidentsSettings.load(kafka_bootstrap_servers="127.0.0.1:1", incidents_auto_resolve_sevs="1,2,3,4").grouping()
    resolved_rows = []

    async def on_resolved(hook_conn, row, now):  # the hook sees the resolve in its own transaction
        assert hook_conn is conn and conn.is_in_transaction()
        resolved_rows.append((row["id"], row["status"], now))

    async def fold(events: list[AlertEvent], at: datetime) -> None:
        async with conn.transaction():
            await service.handle_alerts(conn, events, rules=rules, clock=lambda: at, on_resolved=on_resolved)

    bound_before = structlog.contextvars.get_contextvars()
    try:
        await migrate(conn, schema=repository.SCHEMA, directory=MIGRATIONS)
        with info_lines() as opened:
            await fold([alert(1, "firing", event_id="e-1"), alert(2, "firing", event_id="e-2")], STARTS)
        (line,) = opened.events
        number = line["incident_id"]
        assert line["event"] == "incident opened" and number.startswith("INC-")
        assert (line["fingerprint"], line["event_id"], line["actor"]) == ("logs-fp-1", "e-1", "vigil")

        with info_lines() as repeats:  # the same alerts again (new event ids): the hot path logs nothing
            await fold([alert(1, "firing", event_id="e-1b"), alert(2, "firing", event_id="e-2b")], STARTS + timedelta(seconds=1))
        assert repeats.events == []

        at = STARTS + timedelta(minutes=5)
        with info_lines() as resolved:
            await fold([alert(1, "resolved", event_id="r-1"), alert(2, "resolved", event_id="r-2")], at)
        (line,) = resolved.events
        assert (line["event"], line["incident_id"], line["fingerprint"], line["event_id"]) == (
            "incident resolved", number, "logs-fp-2", "r-2"
        )
        assert resolved_rows == [(int(number.removeprefix("INC-")), "resolved", at)]
        assert structlog.contextvars.get_contextvars() == bound_before  # nothing left bound after the batches
    finally:
        await conn.close()


def test_the_logs_of_an_incident_changed_through_the_api_tell_its_story(running_incidents):
    with running_incidents() as svc:
        api = svc.client("admin")
        with info_lines() as lines:
            number = api.post("/api/v1/incidents", json={"title": "logs", "severity": 3, "by": "carol"}).json()["number"]
            for path, body in [
                ("acknowledge", {"by": "alice"}), ("status", {"status": "mitigating", "by": "alice"}),
                ("commander", {"commander": "bob", "by": "carol"}), ("acknowledge", {"by": "alice"}),  # a repeat: no change
                ("resolve", {"by": "alice"}), ("reopen", {"by": "carol"}),
            ]:
                assert api.post(f"/api/v1/incidents/{number}/{path}", json=body).status_code == 200
    story = [(line["event"], line["actor"]) for line in lines.events if line.get("incident_id") == number]
    assert story == [
        ("incident opened", "carol"), ("incident acknowledged", "alice"), ("incident status changed", "alice"),
        ("incident commander assigned", "carol"), ("incident resolved", "alice"), ("incident reopened", "carol"),
    ]
