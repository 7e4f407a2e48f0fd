"""The escalator's consumer: each incident event is one transaction (decide, store timers, fire
what is due now, mark the event processed; a poll's events of one partition share one); the loop
commits the offset after it."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from services.escalator import service
from services.escalator.config import EscalatorSettings
from services.escalator.ticker import fire_due_now
from shared.events import IncidentEvent, Topic
from shared.kafka import ConsumerLoop, EventProducer


def incident_events_loop(ctx, settings: EscalatorSettings, producer: EventProducer) -> ConsumerLoop:
    async def apply(conn, event: IncidentEvent) -> None:
        now = ctx.clock()
        applied = await service.apply_incident_event(conn, event, store=ctx.store, now=now)
        if applied.due_now:
            await fire_due_now(conn, applied.due_now, config=applied.config, now=now, link_base=ctx.link_base, who=applied.who)

    async def on_incident_event(event: IncidentEvent, record: ConsumerRecord) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await apply(conn, event)

    async def on_incident_events(items: list[tuple[IncidentEvent, ConsumerRecord]]) -> None:
        # A poll's events of one partition in one transaction (one commit instead of one each); if
        # any fails, the loop handles them one by one.
        async with ctx.pool.acquire() as conn, conn.transaction():
            for event, _record in items:
                await apply(conn, event)

    return ConsumerLoop(
        settings, topic=Topic.INCIDENTS, group_id=settings.escalator_consumer_group, model=IncidentEvent,
        handle=on_incident_event, handle_batch=on_incident_events, producer=producer,
        # Events are keyed by incident and an incident's state is its own: partitions are independent.
        concurrent_partitions=True,
    )
