"""The SLO service's consumer loop: metrics events are folded into buckets, the events of one poll
of a partition in one transaction; the loop commits the offsets after it. Undecodable events and
intervals from the future go to the DLQ (shared ConsumerLoop)."""

from __future__ import annotations

from datetime import timedelta

import structlog
from aiokafka import ConsumerRecord

from services.slo import service
from services.slo.config import SloSettings
from shared.events import MetricsEvent, Topic
from shared.kafka import ConsumerLoop, EventProducer, PermanentHandlerError

log = structlog.get_logger("vigil.slo")


def consumer_loop(ctx, settings: SloSettings, producer: EventProducer) -> ConsumerLoop:
    late_window = timedelta(seconds=settings.slo_late_event_window_s)

    async def on_metrics(event: MetricsEvent, record: ConsumerRecord) -> None:
        now = ctx.clock()
        try:
            service.check_not_future(event, now)
        except service.FromTheFuture as exc:
            raise PermanentHandlerError(str(exc)) from None
        async with ctx.pool.acquire() as conn, conn.transaction():
            await service.fold_metrics(conn, [event], now=now, late_window=late_window)

    async def on_metrics_batch(items: list[tuple[MetricsEvent, ConsumerRecord]]) -> None:
        events = [event for event, _record in items]
        # In the tzinfo object of the events' times (pydantic gives every time it parsed at offset
        # zero the same one): datetimes with the identical tzinfo compare without two utcoffset()
        # calls (measured 0.12 instead of 0.48 µs), and each event is compared with `now` twice.
        now = ctx.clock().astimezone(events[0].interval_start.tzinfo)
        for event in events:
            service.check_not_future(event, now)  # raises: the loop retries one by one and dead-letters it
        async with ctx.pool.acquire() as conn, conn.transaction():
            outcome = await service.fold_metrics(conn, events, now=now, late_window=late_window)
        log.debug("metrics folded", folded=outcome.folded, duplicates=outcome.duplicates, too_late=outcome.too_late)

    return ConsumerLoop(
        settings, topic=Topic.METRICS, group_id=settings.slo_consumer_group, model=MetricsEvent,
        handle=on_metrics, handle_batch=on_metrics_batch, producer=producer, max_batch=settings.slo_consumer_max_batch,
        # A partition's services are its own (the key is the service): their folds touch disjoint
        # rows, so the partitions of a poll are folded concurrently, each in its own transaction.
        concurrent_partitions=True,
        # The next poll is fetched and decoded (pydantic, CPU here) while this one's folds wait for
        # PostgreSQL; its folds start only after this poll's returned and its offsets went to the commit.
        pipeline=True,
        # A partition's share of a full poll must fit one fetch (aiokafka's default is 1 MiB, ~1,700
        # events): bigger folds touch each hour row once for more minutes.
        consumer_options={"max_partition_fetch_bytes": 8 * 1024 * 1024},
    )
