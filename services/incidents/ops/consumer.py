"""The operations wing's consumer loop: the escalator's handovers (vigil.handovers.v1) become draft
handoffs (`handover_flow.receive_handover`). Each event is one transaction — the draft and its
message to the outgoing person — and the offset is committed after it; a replay finds the
handover's draft (its id is unique) and adds nothing."""

from __future__ import annotations

import structlog
from aiokafka import ConsumerRecord

from services.incidents.config import IncidentsSettings
from services.incidents.ops.handover_flow import receive_handover
from shared.events import HandoverDue, Topic
from shared.kafka import ConsumerLoop, EventProducer


def handover_loop(ctx, settings: IncidentsSettings, producer: EventProducer) -> ConsumerLoop:
    async def on_handover(event: HandoverDue, record: ConsumerRecord) -> None:
        with structlog.contextvars.bound_contextvars(handover_id=event.handover_id, schedule=event.schedule):
            async with ctx.pool.acquire() as conn, conn.transaction():
                await receive_handover(conn, event, zone=settings.incidents_report_zone,
                                       console_url=settings.incidents_public_url, now=ctx.clock())

    return ConsumerLoop(settings, topic=Topic.HANDOVERS, group_id=f"{settings.incidents_consumer_group}-handovers",
                        model=HandoverDue, handle=on_handover, producer=producer)
