"""The escalator's second consumer: `vigil.budgets.v1` (BudgetStateChanged from the SLO service,
compacted by service and SLO) into `escalator.budget_state`, the latest state of each SLO, which
the error-budget policy (`budget_policy.py`) reads when an incident opens."""

from __future__ import annotations

import structlog
from aiokafka import ConsumerRecord

from services.escalator import repository as repo
from services.escalator.config import EscalatorSettings
from shared.events import BudgetStateChanged, Topic
from shared.kafka import ConsumerLoop, EventProducer

log = structlog.get_logger("vigil.escalator")


def budget_events_loop(ctx, settings: EscalatorSettings, producer: EventProducer) -> ConsumerLoop:
    async def on_budget_state(event: BudgetStateChanged, _record: ConsumerRecord) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await repo.put_budget_state(conn, service=event.service, slo=event.slo, state=event.state,
                                        remaining_fraction=event.remaining_fraction, since=event.since, now=ctx.clock())
        log.info("error budget state stored", service=event.service, slo=event.slo, state=event.state)

    return ConsumerLoop(
        settings, topic=Topic.BUDGETS, group_id=f"{settings.escalator_consumer_group}-budgets", model=BudgetStateChanged,
        handle=on_budget_state, producer=producer,
    )
