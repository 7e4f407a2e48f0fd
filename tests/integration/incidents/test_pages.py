"""Pages and tickets from the escalator go into the timeline once per page (ticket) id, also when a
consumer poll is folded in one transaction and when the topic is read again from the start (a new
consumer group: a replay); why the error-budget policy changed an incident's escalation, once per
incident. Real PostgreSQL and a real broker."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from services.incidents import paging, repository, service
from services.incidents.app import MIGRATIONS
from shared.db import migrate
from shared.events import PageRequested, TicketRequested, Topic, encode
from tests.conftest import create_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def page(incident_id: int, n: int, run: str) -> PageRequested:
    return PageRequested(
        event_id=f"page-{run}-{incident_id}-{n}", occurred_at=NOW + timedelta(seconds=n), source="escalator",
        page_id=f"pg-{run}-{incident_id}-{n}", incident_id=incident_id, number=f"INC-{incident_id}", severity=2,
        title="t", target=f"person-{n}", reason="initial", step=n,
    )


def ticket(incident_id: int, n: int, run: str) -> TicketRequested:
    return TicketRequested(
        event_id=f"ticket-{run}-{incident_id}-{n}", occurred_at=NOW + timedelta(seconds=n), source="escalator",
        ticket_id=f"T-{run}-{incident_id}-{n}", incident_id=incident_id, number=f"INC-{incident_id}", severity=3,
        title="t", due_at=NOW + timedelta(days=1),
    )


async def declare(conn: asyncpg.Connection, title: str) -> int:
    row = await service.open_incident(
        conn, group_key=f"manual:{uuid.uuid4()}", title=title, severity=2, detected_by="user_report", labels={},
        started_at=NOW, now=NOW, actor="ana", opened_text="declared",
    )
    return row["id"]


async def entries(conn: asyncpg.Connection, run: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT incident_id, kind, text, dedup_key FROM incidents.timeline_entry WHERE dedup_key LIKE $1 ORDER BY id",
        f"%{run}%",
    )


@asynccontextmanager
async def migrated(postgres_server):
    """A connection to a new database with the incident service's schema."""
    conn = await asyncpg.connect(create_database(postgres_server))
    await repository.init_connection(conn)
    try:
        await migrate(conn, schema=repository.SCHEMA, directory=MIGRATIONS)
        yield conn
    finally:
        await conn.close()


async def test_a_poll_of_pages_and_tickets_is_one_transaction_and_a_replay_adds_nothing(postgres_server):
    async with migrated(postgres_server) as conn:
        first, second = await declare(conn, "one"), await declare(conn, "two")
        run = uuid.uuid4().hex[:6]
        pages = [page(first, 1, run), page(second, 1, run), page(first, 1, run), page(first, 2, run),
                 page(999_999, 1, run)]  # a duplicate within the poll; an incident this database does not have
        tickets = [ticket(second, 1, run), ticket(second, 1, run)]
        for _ in range(2):  # the second time: the same poll read again after a crash before the offset commit
            async with conn.transaction():
                await paging.record_pages(conn, pages, clock=lambda: NOW)
                await paging.record_tickets(conn, tickets, clock=lambda: NOW)
        found = await entries(conn, run)
        assert [(r["incident_id"], r["kind"], r["text"]) for r in found] == [
            (first, "page", "paged person-1 (initial)"),
            (second, "page", "paged person-1 (initial)"),
            (first, "page", "paged person-2 (initial)"),
            (second, "ticket", f"ticket T-{run}-{second}-1 due {(NOW + timedelta(days=1)).isoformat()}"),
        ]


async def test_the_error_budget_policys_note_is_one_timeline_entry_per_incident_before_its_first_page(postgres_server):
    async with migrated(postgres_server) as conn:
        noted, plain = await declare(conn, "noted"), await declare(conn, "plain")
        run = uuid.uuid4().hex[:6]
        note = "medium → page: checkout's error budget is exhausted (availability: -4 % left)"
        # Two people paged at once (a handoff overlap), a later page and a ticket: all carry the note.
        pages = [page(noted, 1, run).model_copy(update={"policy_note": note}),
                 page(noted, 1, run).model_copy(update={"page_id": f"pg-{run}-{noted}-1b", "target": "person-1b",
                                                        "policy_note": note}),
                 page(noted, 2, run).model_copy(update={"policy_note": note}), page(plain, 1, run)]
        for _ in range(2):  # the poll read again: nothing twice
            async with conn.transaction():
                await paging.record_pages(conn, pages, clock=lambda: NOW)
                await paging.record_tickets(conn, [ticket(noted, 3, run).model_copy(update={"policy_note": note})],
                                            clock=lambda: NOW)
        rows = await conn.fetch("SELECT incident_id, kind, text FROM incidents.timeline_entry "
                                "WHERE incident_id = ANY($1::bigint[]) AND actor = 'escalator' ORDER BY id", [noted, plain])
        assert [(r["incident_id"], r["kind"], r["text"]) for r in rows] == [
            (noted, "budget_policy", f"escalation changed by the error-budget policy: {note}"),
            (noted, "page", "paged person-1 (initial)"),
            (noted, "page", "paged person-1b (initial)"),
            (noted, "page", "paged person-2 (initial)"),
            (plain, "page", "paged person-1 (initial)"),
            (noted, "ticket", f"ticket T-{run}-{noted}-3 due {(NOW + timedelta(days=1)).isoformat()}"),
        ]


async def end_offset(bootstrap: str, topic: str) -> int:
    producer, reader = AIOKafkaProducer(bootstrap_servers=bootstrap), AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await producer.start()
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await producer.partitions_for(topic)]
        return sum((await reader.end_offsets(partitions)).values())
    finally:
        await reader.stop()
        await producer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return sum(max(0, meta.offset) for tp, meta in offsets.items() if tp.topic == topic)
    except Exception:  # noqa: BLE001 - the group does not exist yet
        return 0
    finally:
        await admin.close()


async def test_pages_replayed_from_the_start_of_the_topic_stay_one_timeline_entry_each(running_incidents, kafka_broker,
                                                                                       database_url, topic_prefix):
    bootstrap, pages_topic, tickets_topic = kafka_broker.bootstrap_servers, topic_prefix + Topic.PAGES, topic_prefix + Topic.TICKETS
    run = uuid.uuid4().hex[:6]

    first_group = f"incidents-pages-{run}-a"
    with running_incidents(incidents_consumer_group=first_group) as svc:
        api = svc.client("admin")
        ids = [api.post("/api/v1/incidents", json={"title": f"pages {n}", "severity": 2}).json()["id"] for n in range(4)]
        pages = [page(i, n, run) for i in ids for n in range(1, 6)]
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for message in [*pages, *pages, ticket(ids[0], 1, run), ticket(ids[0], 1, run)]:  # each twice
                key, value, headers = encode(message, ce_source="/test")
                await producer.send(topic_prefix + message.topic, value, key=key, headers=headers)
            await producer.flush()
        finally:
            await producer.stop()
        conn = await asyncpg.connect(database_url)
        try:
            for _ in range(200):
                if len(await entries(conn, run)) == len(pages) + 1:
                    break
                await asyncio.sleep(0.1)
            before = [tuple(r) for r in await entries(conn, run)]
        finally:
            await conn.close()
    assert len(before) == len(pages) + 1
    assert len({r[3] for r in before}) == len(before)  # one row per page (ticket) id

    # A second service with a new consumer group reads both topics again from the start.
    replay_group = f"incidents-pages-{run}-b"
    end_pages, end_tickets = await end_offset(bootstrap, pages_topic), await end_offset(bootstrap, tickets_topic)
    with running_incidents(incidents_consumer_group=replay_group):
        for _ in range(300):
            if (await committed(bootstrap, f"{replay_group}-pages", pages_topic) >= end_pages
                    and await committed(bootstrap, f"{replay_group}-tickets", tickets_topic) >= end_tickets):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the replaying consumers did not reach the end of the topics")
    conn = await asyncpg.connect(database_url)
    try:
        after = [tuple(r) for r in await entries(conn, run)]
    finally:
        await conn.close()
    assert after == before
