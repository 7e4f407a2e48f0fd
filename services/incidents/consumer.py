"""The incident service's consumer loops: alerts become incidents; pages, tickets and deliveries go
into the timeline. The pages (tickets) of one poll are one transaction; the alerts of one poll (every partition)
are folded in a few concurrent transactions that share no incident group, fingerprint or event id.
The loop commits the offsets after them."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import ConsumerRecord

from services.incidents import paging, service
from services.incidents.alerts import independent_parts
from services.incidents.config import IncidentsSettings
from shared.events import AlertEvent, DeliveryUpdated, PageRequested, TicketRequested, Topic
from shared.kafka import ConsumerLoop, EventProducer

log = structlog.get_logger("vigil.incidents")

ALERT_BATCH = 1000  # records per poll of vigil.alerts.v1, folded together
ALERT_PARTS = 2  # concurrent transactions per poll (independent_parts); 3, 4 and 6 measured no better
SPLIT_FROM = 200  # records: a smaller poll is one transaction (a second costs more than it overlaps)
COMMIT_INTERVAL_S = 0.05  # offset commits of vigil.alerts.v1 at most this often (broker CPU)


def consumer_loops(ctx, settings: IncidentsSettings, producer: EventProducer) -> list[ConsumerLoop]:
    rules = settings.grouping()
    group = settings.incidents_consumer_group
    on_resolved = ctx.on_resolved  # the ops wing's postmortem, in the resolve's transaction (app.py)
    bound = structlog.contextvars.bound_contextvars

    async def on_alert(event: AlertEvent, record: ConsumerRecord) -> None:
        with bound(fingerprint=event.fingerprint, event_id=event.event_id):
            async with ctx.pool.acquire() as conn, conn.transaction():
                outcome = await service.handle_alert(conn, event, rules=rules, now=ctx.clock(), on_resolved=on_resolved)
            log.debug("alert folded", outcome=outcome.value if outcome else "duplicate")

    async def fold(events: list[AlertEvent]) -> None:
        # No per-event log context here (the hot path): `service` binds the alert and the incident
        # only where an incident is opened or changed, around its one log line.
        async with ctx.pool.acquire() as conn, conn.transaction():
            await service.handle_alerts(conn, events, rules=rules, clock=ctx.clock, on_resolved=on_resolved)

    async def on_alerts(items: list[tuple[AlertEvent, ConsumerRecord]]) -> None:
        # Parts that share no group, fingerprint or event id, each folded in its own transaction at
        # the same time: PostgreSQL works on one while this process prepares the other. If one
        # fails, the loop folds the records again (per partition, then one by one); what a committed part stored is
        # then found processed (by event id) and not done twice.
        events = [event for event, _record in items]
        if len(events) < SPLIT_FROM:
            await fold(events)
            return
        parts = independent_parts(events, group_by=rules.group_by, parts=ALERT_PARTS)
        results = await asyncio.gather(*(fold(part) for part in parts), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def on_page(event: PageRequested, record: ConsumerRecord) -> None:
        with bound(incident_id=f"INC-{event.incident_id}", page_id=event.page_id):
            async with ctx.pool.acquire() as conn, conn.transaction():
                await paging.record_page(conn, event, now=ctx.clock())

    async def on_pages(items: list[tuple[PageRequested, ConsumerRecord]]) -> None:
        # A poll's pages in one transaction, in order; each is written once per page id (dedup key),
        # so a poll folded again after a failure or a replay adds nothing twice.
        async with ctx.pool.acquire() as conn, conn.transaction():
            await paging.record_pages(conn, [event for event, _record in items], clock=ctx.clock)

    async def on_ticket(event: TicketRequested, record: ConsumerRecord) -> None:
        with bound(incident_id=f"INC-{event.incident_id}", ticket_id=event.ticket_id):
            async with ctx.pool.acquire() as conn, conn.transaction():
                await paging.record_ticket(conn, event, now=ctx.clock())

    async def on_tickets(items: list[tuple[TicketRequested, ConsumerRecord]]) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await paging.record_tickets(conn, [event for event, _record in items], clock=ctx.clock)

    async def on_delivery(event: DeliveryUpdated, record: ConsumerRecord) -> None:
        with bound(incident_id=f"INC-{event.incident_id}", delivery_id=event.delivery_id):
            async with ctx.pool.acquire() as conn, conn.transaction():
                await paging.record_delivery(conn, event, now=ctx.clock())

    async def on_deliveries(items: list[tuple[DeliveryUpdated, ConsumerRecord]]) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await paging.record_deliveries(conn, [event for event, _record in items], clock=ctx.clock)

    def loop(topic, model, handle, suffix, handle_batch=None, **options):
        return ConsumerLoop(
            settings, topic=topic, group_id=f"{group}{suffix}", model=model, handle=handle,
            handle_batch=handle_batch, producer=producer, **options,
        )

    return [
        # One transaction for every partition of a poll: the alerts of one group are spread over
        # the partitions (the key is the fingerprint) and meet at the group's incident row anyway.
        loop(Topic.ALERTS, AlertEvent, on_alert, "", on_alerts, batch_partitions=True, max_batch=ALERT_BATCH,
             commit_interval_s=COMMIT_INTERVAL_S),
        # Pages and tickets: a poll (every partition) in one transaction, offsets committed at most
        # every COMMIT_INTERVAL_S (a replay after a crash re-reads a little more, and adds nothing).
        loop(Topic.PAGES, PageRequested, on_page, "-pages", on_pages, batch_partitions=True,
             commit_interval_s=COMMIT_INTERVAL_S),
        loop(Topic.TICKETS, TicketRequested, on_ticket, "-tickets", on_tickets, batch_partitions=True,
             commit_interval_s=COMMIT_INTERVAL_S),
        # The notifier's deliveries (sent, failed, cancelled): the same, once per event id.
        loop(Topic.DELIVERIES, DeliveryUpdated, on_delivery, "-deliveries", on_deliveries, batch_partitions=True,
             commit_interval_s=COMMIT_INTERVAL_S),
    ]
