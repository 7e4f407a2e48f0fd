"""The escalator's consumer: a poll's events of one partition are one transaction (decide, store
timers, fire what is due now, mark the events processed) with set-based statements; the loop
commits the offsets after it. Should that fail for any reason but a lost connection, the events are
applied again one by one (each timer firing in its savepoint, so a failing one stays pending for
the ticker). While an event is applied on its own, its incident (INC-<n>) and event id are bound
to the log context; the batch path binds nothing per event (its lines name their incident)."""

from __future__ import annotations

import asyncpg
import structlog
from aiokafka import ConsumerRecord
from structlog.contextvars import bound_contextvars

from services.escalator import firing, repository as repo, service
from services.escalator.config import EscalatorSettings
from shared.events import IncidentEvent, Topic
from shared.kafka import ConsumerLoop, EventProducer
from shared.outbox import channel

log = structlog.get_logger("vigil.escalator")


def incident_events_loop(ctx, settings: EscalatorSettings, producer: EventProducer) -> ConsumerLoop:
    async def apply(conn, event: IncidentEvent) -> None:
        now = ctx.clock()
        with bound_contextvars(incident_id=event.number, event_id=event.event_id):
            applied = await service.apply_incident_event(conn, event, store=ctx.store, now=now)
            if applied.due_now:
                await firing.fire_due_now(conn, applied.due_now, store=ctx.store, config=applied.config, now=now,
                                          link_base=ctx.link_base, who=applied.who)

    async def one_by_one(events: list[IncidentEvent]) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            for event in events:
                await apply(conn, event)

    async def on_incident_events(items: list[tuple[IncidentEvent, ConsumerRecord]]) -> None:
        events = [event for event, _record in items]
        # This process's relay leads (holds the outbox lock and listens): the batch's pages need no
        # NOTIFY, the relay is woken here after the commit. Otherwise another replica relays: NOTIFY.
        relay = ctx.relay if ctx.relay is not None and ctx.relay.leading else None
        try:
            async with ctx.pool.acquire() as conn, conn.transaction():
                now = ctx.clock()
                applied = await service.apply_incident_events(conn, events, store=ctx.store, now=now,
                                                              notify_timers_within=ctx.ticker.notify_within)
                if applied is not None:
                    await firing.fire_batch_due_now(conn, applied, store=ctx.store, now=now, link_base=ctx.link_base,
                                                    outbox_channel=None if relay is not None else channel(repo.SCHEMA))
                else:  # several events of one incident: in order, one at a time
                    for event in events:
                        await apply(conn, event)
        except (asyncpg.PostgresConnectionError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - the one-by-one path isolates what failed
            log.warning("set-based apply failed; applying one by one", events=len(events), error=repr(exc))
        else:
            if applied is not None:  # committed: wake what the commit did not notify
                if relay is not None and applied.due_now:
                    relay.wake()
                if applied.ticker_due is not None and not applied.notified:
                    ctx.ticker.timers_stored(applied.ticker_due)
            return
        await one_by_one(events)

    async def on_incident_event(event: IncidentEvent, record: ConsumerRecord) -> None:
        await on_incident_events([(event, record)])

    return ConsumerLoop(
        settings, topic=Topic.INCIDENTS, group_id=settings.escalator_consumer_group, model=IncidentEvent,
        handle=on_incident_event, handle_batch=on_incident_events, producer=producer,
        # Events are keyed by incident and an incident's state is its own: partitions are independent.
        concurrent_partitions=True,
        commit_interval_s=settings.escalator_consumer_commit_interval_s, consumer_options=settings.consumer_options(),
    )
