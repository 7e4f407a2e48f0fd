"""The incident service's consumer loops: alerts become incidents; pages, tickets and deliveries go
into the timeline. The pages (tickets) of one poll are one transaction; the alerts of one poll (every partition)
are folded in a few concurrent transactions that share no incident group, fingerprint or event id.
The loop commits the offsets after them."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import ConsumerRecord

from services.incidents import acknowledgements, paging, service
from services.incidents.alerts import independent_parts
from services.incidents.config import IncidentsSettings
from shared.events import AlertAcknowledged, AlertEvent, AlertTopicMessage, DeliveryUpdated, PageRequested, TicketRequested, Topic
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

    async def on_alert(event: AlertEvent | AlertAcknowledged, record: ConsumerRecord) -> None:
        if isinstance(event, AlertAcknowledged):  # a sender's acknowledgement (PagerDuty Events v2)
            await on_alerts([(event, record)])
            return
        with bound(fingerprint=event.fingerprint, event_id=event.event_id):
            async with ctx.pool.acquire() as conn, conn.transaction():
                outcome = await service.handle_alert(conn, event, rules=rules, now=ctx.clock(), on_resolved=on_resolved)
            log.debug("alert folded", outcome=outcome.value if outcome else "duplicate")

    def fold_alerts(conn, events: list[AlertEvent]):
        return service.handle_alerts(conn, events, rules=rules, clock=ctx.clock, on_resolved=on_resolved)

    async def fold(events: list[AlertEvent]) -> None:
        # No per-event log context here (the hot path): `service` binds the alert and the incident
        # only where an incident is opened or changed, around its one log line.
        async with ctx.pool.acquire() as conn, conn.transaction():
            await fold_alerts(conn, events)

    async def on_alerts(items: list[tuple[AlertEvent, ConsumerRecord]]) -> None:
        # Parts that share no group, fingerprint or event id, each folded in its own transaction at
        # the same time: PostgreSQL works on one while this process prepares the other. If one
        # fails, the loop folds the records again (per partition, then one by one); what a committed part stored is
        # then found processed (by event id) and not done twice.
        events = [event for event, _record in items]
        if acknowledgements.holds_acknowledgements(events):  # rare: folded in order, in one transaction
            async with ctx.pool.acquire() as conn, conn.transaction():
                await acknowledgements.fold_in_order(conn, events, fold_alerts=fold_alerts, clock=ctx.clock)
            return
        if len(events) < SPLIT_FROM:
            await fold(events)
            return
        parts = independent_parts(events, group_by=rules.group_by, parts=ALERT_PARTS)
        results = await asyncio.gather(*(fold(part) for part in parts), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def loop(topic, model, handle, suffix, handle_batch=None, **options):
        return ConsumerLoop(
            settings, topic=topic, group_id=f"{group}{suffix}", model=model, handle=handle,
            handle_batch=handle_batch, producer=producer, **options,
        )

    def timeline_loop(topic, model, suffix, record_one, record_many, id_field: str):
        """A loop writing each event into its incident's timeline (`paging`): a poll (every
        partition) in one transaction, in order, each event once per its dedup key, so a poll
        folded again after a failure or a replay adds nothing twice; offsets committed at most every
        COMMIT_INTERVAL_S (a replay after a crash re-reads a little more, and adds nothing)."""

        async def handle(event, record: ConsumerRecord) -> None:
            with bound(incident_id=f"INC-{event.incident_id}", **{id_field: getattr(event, id_field)}):
                async with ctx.pool.acquire() as conn, conn.transaction():
                    await record_one(conn, event, now=ctx.clock())

        async def handle_batch(items: list[tuple]) -> None:
            async with ctx.pool.acquire() as conn, conn.transaction():
                await record_many(conn, [event for event, _record in items], clock=ctx.clock)

        return loop(topic, model, handle, suffix, handle_batch, batch_partitions=True, commit_interval_s=COMMIT_INTERVAL_S)

    return [
        # One transaction for every partition of a poll: the alerts of one group are spread over
        # the partitions (the key is the fingerprint) and meet at the group's incident row anyway.
        loop(Topic.ALERTS, AlertTopicMessage, on_alert, "", on_alerts, batch_partitions=True, max_batch=ALERT_BATCH,
             commit_interval_s=COMMIT_INTERVAL_S),
        timeline_loop(Topic.PAGES, PageRequested, "-pages", paging.record_page, paging.record_pages, "page_id"),
        timeline_loop(Topic.TICKETS, TicketRequested, "-tickets", paging.record_ticket, paging.record_tickets, "ticket_id"),
        # The notifier's deliveries (sent, failed, cancelled).
        timeline_loop(Topic.DELIVERIES, DeliveryUpdated, "-deliveries", paging.record_delivery, paging.record_deliveries,
                      "delivery_id"),
    ]
