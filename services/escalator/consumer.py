"""The escalator's consumer: each incident event is one transaction (decide, store timers, mark the
event processed); the loop commits the offset after it."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from services.escalator import service
from services.escalator.config import EscalatorSettings
from services.escalator.ticker import fire_due_now
from shared.events import IncidentEvent, Topic
from shared.kafka import ConsumerLoop, EventProducer


def incident_events_loop(ctx, settings: EscalatorSettings, producer: EventProducer) -> ConsumerLoop:
    async def on_incident_event(event: IncidentEvent, record: ConsumerRecord) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            now = ctx.clock()
            applied = await service.apply_incident_event(conn, event, store=ctx.store, now=now)
            if applied.due_now:
                await fire_due_now(conn, applied.due_now, config=applied.config, now=now, link_base=ctx.link_base)

    return ConsumerLoop(
        settings, topic=Topic.INCIDENTS, group_id=settings.escalator_consumer_group, model=IncidentEvent,
        handle=on_incident_event, producer=producer,
        # Events are keyed by incident and an incident's state is its own: partitions are independent.
        concurrent_partitions=True,
    )
