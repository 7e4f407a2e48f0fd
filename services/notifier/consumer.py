"""The notifier's consumers: pages, tickets, shift notices and scheduled reports become delivery
rows, incident events cancel what is no longer needed, people events keep the notifier's copy of
contact methods and rules. A poll's events of one partition are one transaction; the offset is committed after it
(ConsumerLoop), and the dispatcher is woken once it committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import ConsumerRecord

from services.notifier import service
from services.notifier.config import NotifierSettings
from shared.events import Event, IncidentEvent, PageRequested, PersonUpdated, ReportPublished, ShiftNotice, TicketRequested
from shared.kafka import ConsumerLoop, EventProducer

E = TypeVar("E", bound=Event)


def loops(ctx, settings: NotifierSettings, producer: EventProducer) -> list[tuple[str, ConsumerLoop]]:
    """(name, loop) for each topic the notifier reads."""

    async def on_page(conn, page: PageRequested) -> bool:
        return bool(await service.apply_page(conn, page, now=ctx.clock(), started_at=ctx.started_at))

    async def on_ticket(conn, ticket: TicketRequested) -> bool:
        return bool(await service.apply_ticket(conn, ticket, now=ctx.clock(), started_at=ctx.started_at))

    async def on_shift(conn, notice: ShiftNotice) -> bool:
        return bool(await service.apply_shift(conn, notice, now=ctx.clock(), started_at=ctx.started_at))

    async def on_report(conn, report: ReportPublished) -> bool:
        return bool(await service.apply_report(conn, report, now=ctx.clock(), started_at=ctx.started_at))

    async def on_incident(conn, event: IncidentEvent) -> bool:
        await service.apply_incident_event(conn, event, now=ctx.clock())
        return False

    async def on_person(conn, event: PersonUpdated) -> bool:
        await service.apply_person(conn, event)
        return False

    return [
        ("consume-people", _loop(ctx, settings, producer, PersonUpdated, "-people", on_person)),
        ("consume-incidents", _loop(ctx, settings, producer, IncidentEvent, "-incidents", on_incident)),
        ("consume-pages", _loop(ctx, settings, producer, PageRequested, "-pages", on_page)),
        ("consume-tickets", _loop(ctx, settings, producer, TicketRequested, "-tickets", on_ticket)),
        ("consume-shifts", _loop(ctx, settings, producer, ShiftNotice, "-shifts", on_shift)),
        ("consume-reports", _loop(ctx, settings, producer, ReportPublished, "-reports", on_report)),
    ]


def _loop(ctx, settings: NotifierSettings, producer: EventProducer, model: type[E], group_suffix: str,
          apply: Callable[..., Awaitable[bool]]) -> ConsumerLoop[E]:
    """A loop applying a poll's events in one transaction; `apply` returns True when it stored
    deliveries, which wakes the dispatcher after the commit."""

    async def handle_batch(items: list[tuple[E, ConsumerRecord]]) -> None:
        stored = False
        async with ctx.pool.acquire() as conn, conn.transaction():
            for event, _record in items:
                stored = await apply(conn, event) or stored
        if stored:
            ctx.dispatcher.wake()

    async def handle(event: E, record: ConsumerRecord) -> None:
        await handle_batch([(event, record)])

    return ConsumerLoop(
        settings, topic=model.topic, group_id=settings.notifier_consumer_group + group_suffix, model=model,
        handle=handle, handle_batch=handle_batch, producer=producer, concurrent_partitions=True,
    )
