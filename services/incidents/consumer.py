"""The incident service's consumer loops: alerts become incidents; pages and tickets go into the
timeline. Each message is one transaction (the alerts of one poll of a partition share one); the
loop commits the offset after it."""

from __future__ import annotations

import structlog
from aiokafka import ConsumerRecord

from services.incidents import service
from services.incidents.config import IncidentsSettings
from shared.events import AlertEvent, PageRequested, TicketRequested, Topic
from shared.kafka import ConsumerLoop, EventProducer

log = structlog.get_logger("vigil.incidents")

ALERT_BATCH = 1000  # records per poll of vigil.alerts.v1, all folded in one transaction


def consumer_loops(ctx, settings: IncidentsSettings, producer: EventProducer) -> list[ConsumerLoop]:
    rules = settings.grouping()
    group = settings.incidents_consumer_group

    async def on_alert(event: AlertEvent, record: ConsumerRecord) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            outcome = await service.handle_alert(conn, event, rules=rules, now=ctx.clock())
        log.debug("alert folded", fingerprint=event.fingerprint, outcome=outcome.value if outcome else "duplicate")

    async def on_alerts(items: list[tuple[AlertEvent, ConsumerRecord]]) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await service.handle_alerts(conn, [event for event, _record in items], rules=rules, clock=ctx.clock)

    async def on_page(event: PageRequested, record: ConsumerRecord) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await service.record_page(conn, event, now=ctx.clock())

    async def on_ticket(event: TicketRequested, record: ConsumerRecord) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await service.record_ticket(conn, event, now=ctx.clock())

    def loop(topic, model, handle, suffix, handle_batch=None, **options):
        return ConsumerLoop(
            settings, topic=topic, group_id=f"{group}{suffix}", model=model, handle=handle,
            handle_batch=handle_batch, producer=producer, **options,
        )

    return [
        # One transaction for every partition of a poll: the alerts of one group are spread over
        # the partitions (the key is the fingerprint) and meet at the group's incident row anyway.
        loop(Topic.ALERTS, AlertEvent, on_alert, "", on_alerts, batch_partitions=True, max_batch=ALERT_BATCH),
        loop(Topic.PAGES, PageRequested, on_page, "-pages"),
        loop(Topic.TICKETS, TicketRequested, on_ticket, "-tickets"),
    ]
