"""SLO-service benchmark: `python -m bench.slo_load` (`--quick` for a smoke run).

Starts its own Kafka broker and PostgreSQL (free ports, data in a temp dir, removed on exit) and
measures the two targets of the SLO issue:

1. Fold throughput. `--events` metrics events (`--services` services, one event per service and
   minute, each with a 10-bucket latency histogram and four utilisation gauges) are produced to
   `vigil.metrics.v1` first. Then the service's own consumer loop (`services.slo.consumer`, the
   shared ConsumerLoop with its per-poll batch fold) runs in this process against a freshly
   migrated schema. Events/s = events ÷ time from the first stored fold to the moment the group's
   committed offsets reach the end offsets. Checks: every event id recorded once, the buckets'
   request sum equals the events' sum.
2. Evaluation time. The schema is filled with SQL (generate_series) as 30 days of traffic for
   `--services` services would leave it: the last 6 h of minute buckets and 30 days of hour
   buckets. Then the evaluator's full tick for the four default SLOs (`service.evaluate_slos`:
   slice recomputation, the window queries, the pure evaluation, status and alert writes) runs
   `--rounds` times; the pure evaluation alone is timed separately.

3. `--ceiling`: what one Python process on this machine can do at most for the fold, from the same
   produced events: (a) a bare aiokafka consumer of the topic that only parses the records and
   `json.loads` each value (no validation, no store, no commits); (b) the cheapest idempotent
   PostgreSQL write of the same rows, from columns built beforehand: per poll-sized batch one
   transaction with the event-id insert (ON CONFLICT DO NOTHING) and the minute-row upsert, the
   service's two statements per event, without decode, fold or hour roll-up.

Prints the numbers and exits 0 when the checks passed (3 with --check-targets when a target was missed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from bench.harness import tree_cpu_seconds
from services.slo import repository
from services.slo.app import GC_THRESHOLDS, MIGRATIONS, SloContext, evaluator_config
from services.slo.config import SloSettings
from services.slo.consumer import consumer_loop
from services.slo.evaluation import evaluate_counts
from services.slo.service import evaluate_slos
from services.slo.window_cache import LongWindowCache, read_counts
from services.slo.windows import floor_minute
from shared.db import create_pool, migrate
from shared.events import LatencyBucket, MetricsEvent, Topic, Utilisation, encode
from shared.kafka import EventProducer, ensure_topics
from shared.runtime import freeze_startup_heap, tune_gc
from shared.local.kafka_broker import LocalKafka, free_port
from shared.local.postgres_server import LocalPostgres
from shared.observability import configure_logging

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"))
FOLD_TARGET_PER_S = 20_000
EVALUATION_TARGET_S = 1.0


def make_events(n: int, services: int, now: datetime) -> list[MetricsEvent]:
    minute0 = floor_minute(now) - timedelta(minutes=n // services + 1)
    events = []
    for i in range(n):
        service, minute = f"svc-{i % services:04d}", minute0 + timedelta(minutes=i // services)
        requests = 1000 + i % 97
        counts = [int(requests * f) for f in (0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 0.97, 0.99, 0.999)] + [requests]
        events.append(MetricsEvent(
            event_id=MetricsEvent.id_for(source="bench", service=service, interval_start=minute), occurred_at=minute,
            source="bench", service=service, interval_start=minute, requests=requests, errors=i % 3,
            latency_buckets=[LatencyBucket(le=le, count=c) for le, c in zip(BOUNDS, counts)],
            utilisation=Utilisation(cpu=0.4, memory=0.6, storage=0.5, network=0.3),
        ))
    return events


async def produce(bootstrap: str, events: list[MetricsEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, acks="all")
    await producer.start()
    try:
        for e in events:
            key, value, headers = encode(e, ce_source="/bench")
            await producer.send(Topic.METRICS, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def caught_up(bootstrap: str, group: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(Topic.METRICS, p) for p in consumer.partitions_for_topic(Topic.METRICS) or ()]
        if not tps:
            await consumer.topics()
            tps = [TopicPartition(Topic.METRICS, p) for p in consumer.partitions_for_topic(Topic.METRICS) or ()]
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            if (await consumer.committed(tp) or 0) < ends[tp]:
                return False
        return True
    finally:
        await consumer.stop()


def cpu_now(pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds so far: this process (the consumer) and the servers (PostgreSQL with its backends)."""
    out = {"consumer": time.process_time()}
    for name, pid in pids.items():
        out[name] = tree_cpu_seconds(pid) or 0.0
    return out


async def bench_fold(settings: SloSettings, pool, *, n_events: int, expected_requests: int, pids: dict[str, int | None]) -> dict:
    producer = EventProducer(settings, ce_source="/bench", ensure=[Topic.METRICS, Topic.dlq(Topic.METRICS), Topic.ALERTS])
    producer.start()
    await producer.wait_connected(60)
    ctx = SloContext(pool=pool, clock=lambda: datetime.now(UTC), settings=settings, definitions=settings.definitions(),
                     producer=producer)
    loop = consumer_loop(ctx, settings, producer)
    freeze_startup_heap()  # as the service's start does
    tune_gc(GC_THRESHOLDS)  # as its entry point does
    task = asyncio.create_task(loop.run())
    first = None
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            async with pool.acquire() as conn:
                stored = await conn.fetchval("SELECT count(*) FROM slo.processed_event")
            if first is None and stored:
                first, first_stored, cpu_first = time.perf_counter(), stored, cpu_now(pids)
            elif stored == n_events:
                break
        else:
            raise RuntimeError("the consumer did not fold every event in 600 s")
        done, cpu_done = time.perf_counter(), cpu_now(pids)
        while not await caught_up(",".join(settings.kafka_bootstrap_servers), settings.slo_consumer_group):
            await asyncio.sleep(0.2)  # the offsets are committed right after each stored batch
    finally:
        loop.stop()
        await task
        await producer.stop()
    async with pool.acquire() as conn:
        ids = await conn.fetchval("SELECT count(*) FROM slo.processed_event")
        requests = await conn.fetchval("SELECT sum(requests) FROM slo.minute_bucket")
    measured = n_events - first_stored
    return {"events": n_events, "seconds": done - first, "per_s": measured / (done - first),
            "ids_ok": ids == n_events, "sums_ok": requests == expected_requests,
            "cpu_us_per_event": {k: (cpu_done[k] - cpu_first[k]) * 1e6 / measured for k in cpu_done}}


async def ceiling_consume(bootstrap: str, n_events: int) -> dict:
    """Events/s of a bare consumer: records parsed by aiokafka and each value json.loads'ed."""
    consumer = AIOKafkaConsumer(Topic.METRICS, bootstrap_servers=bootstrap, group_id=f"ceiling-{uuid.uuid4().hex[:6]}",
                                enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=6000)
    await consumer.start()
    gc.disable()  # a ceiling: no collector walking the parsed values
    try:
        seen, first = 0, None
        while seen < n_events:
            polled = await consumer.getmany(timeout_ms=1000, max_records=6000)
            if first is None and polled:
                first = time.perf_counter()
            for records in polled.values():
                for r in records:
                    json.loads(r.value)
                seen += len(records)
        seconds = time.perf_counter() - first
    finally:
        gc.enable()
        await consumer.stop()
    return {"events": seen, "seconds": seconds, "per_s": seen / seconds}


async def ceiling_store(pool, events: list[MetricsEvent], batch: int, connections: int) -> dict:
    """Events/s of the cheapest idempotent write of the fold's rows (ids + minute rows)."""
    from services.slo.buckets import fold
    batches = []
    for k in range(0, len(events), batch):
        part = events[k:k + batch]
        minutes = fold(part)
        batches.append(([e.event_id for e in part], repository.epoch_seconds(e.interval_start for e in part),
                        repository._bucket_columns(minutes)))
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE slo.minute_bucket, slo.hour_bucket, slo.processed_event")
    todo = iter(batches)

    async def worker() -> None:  # the batches hold different minutes: concurrent writers touch disjoint rows
        async with pool.acquire() as conn:
            for ids, starts, columns in todo:
                async with conn.transaction():
                    await conn.execute(repository.MARK_PROCESSED_MANY, ids, starts)
                    await conn.execute(repository.ADD_MINUTES, *columns)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    seconds = time.perf_counter() - started
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE slo.minute_bucket, slo.hour_bucket, slo.processed_event")
    return {"events": len(events), "seconds": seconds, "per_s": len(events) / seconds}


SEED_MINUTES = """
INSERT INTO slo.minute_bucket (service, minute, requests, errors, events, latency)
SELECT 'eval-' || lpad(s::text, 4, '0'), m, 1000, (s + extract(minute FROM m)::int) % 3, 1,
       '{"0.1": 700, "0.5": 990, "+Inf": 1000}'::jsonb
FROM generate_series(1, $1) AS s, generate_series($2::timestamptz - interval '6 hours', $2::timestamptz, interval '1 minute') AS m"""
SEED_HOURS = """
INSERT INTO slo.hour_bucket (service, hour, requests, errors, events, latency, cpu_sum, cpu_n, memory_sum, memory_n, updated_at, sliced)
SELECT 'eval-' || lpad(s::text, 4, '0'), h, 60000, s % 50, 60, '{"0.1": 42000, "0.5": 59400, "+Inf": 60000}'::jsonb,
       24 + (s % 10), 60, 36, 60, $2::timestamptz - interval '1 day', h < $2::timestamptz
FROM generate_series(1, $1) AS s, generate_series($2::timestamptz - interval '31 days', $2::timestamptz, interval '1 hour') AS h"""
# The time slices of the past hours, as earlier ticks left them (one bad minute every 10 hours).
SEED_SLICES = """
INSERT INTO slo.slice_hour (slo, service, hour, bad_minutes)
SELECT 'availability', 'eval-' || lpad(s::text, 4, '0'), h, (extract(hour FROM h)::int % 10 = 0)::int
FROM generate_series(1, $1) AS s, generate_series($2::timestamptz - interval '31 days', $2::timestamptz - interval '1 hour', interval '1 hour') AS h"""


async def bench_evaluation(settings: SloSettings, pool, services: int, rounds: int) -> dict:
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE slo.minute_bucket, slo.hour_bucket, slo.slo_status, slo.slice_hour")
        await conn.execute(SEED_MINUTES, services, floor_minute(now))
        await conn.execute(SEED_HOURS, services, floor_minute(now).replace(minute=0))
        await conn.execute(SEED_SLICES, services, floor_minute(now).replace(minute=0))
        await conn.execute("ANALYZE slo.minute_bucket; ANALYZE slo.hour_bucket; ANALYZE slo.slice_hour")
    cfg = evaluator_config(settings, settings.definitions())
    ticks, pure = [], []
    cache = LongWindowCache()  # the evaluator's, kept across its ticks: the first tick reads every window in full
    for i in range(rounds):
        at = now + i * timedelta(seconds=settings.slo_evaluate_interval_s)
        async with pool.acquire() as conn:  # the fold flags the current hour of every service each minute (the last minute's events)
            await conn.execute("UPDATE slo.hour_bucket SET sliced = false, updated_at = clock_timestamp(), changed_from = $2 "
                               "WHERE hour = $1", floor_minute(now).replace(minute=0), floor_minute(at) - timedelta(minutes=1))
        started = time.perf_counter()  # ticks as often as the service's evaluator ticks (the minute moves on every other one)
        evaluations = await evaluate_slos(pool, cfg, at, cache)
        ticks.append(time.perf_counter() - started)
    async with pool.acquire() as conn:
        counts, histograms = await read_counts(conn, cfg, now)
    for _ in range(rounds):
        started = time.perf_counter()
        evaluate_counts(counts, histograms, cfg, now)
        pure.append(time.perf_counter() - started)
    return {"slos": len(evaluations), "tick_median_s": statistics.median(ticks), "tick_max_s": max(ticks),
            "first_tick_s": ticks[0], "pure_median_s": statistics.median(pure)}


async def run(args) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-slo-"))
    kafka = LocalKafka(tmp / "kafka", port=free_port(), controller_port=free_port(), partitions=args.partitions)
    postgres = LocalPostgres(tmp / "postgres", port=free_port())
    try:
        kafka.start()
        postgres.start()
        settings = SloSettings.load(
            kafka_bootstrap_servers=kafka.bootstrap_servers, database_url=postgres.url, topic_partitions=args.partitions,
            slo_consumer_group=f"bench-{uuid.uuid4().hex[:6]}", slo_late_event_window_s=7 * 86400,
        )
        await ensure_topics(settings, [Topic.METRICS, Topic.dlq(Topic.METRICS), Topic.ALERTS])
        events = make_events(args.events if args.only != "evaluation" else 0, args.services, datetime.now(UTC))
        started = time.perf_counter()
        await produce(kafka.bootstrap_servers, events)
        print(f"produced {len(events):,} events in {time.perf_counter() - started:.1f} s", flush=True)
        # The service's process does not hold the events it consumes: 200,000 live models here
        # would make every garbage collection in the consumer walk them.
        n_events, expected_requests = len(events), sum(e.requests for e in events)
        kept = events if args.ceiling else None
        del events
        # The service's pool (`shared.db.create_pool`'s default size, 10): the consumer folds a poll's six
        # partitions concurrently, each on its own connection (with 4, two of them waited for one).
        pool = await create_pool(postgres.url, init=repository.init_connection)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, schema=repository.SCHEMA, directory=MIGRATIONS)
            fold = evaluation = None
            if args.ceiling:
                consume = await ceiling_consume(kafka.bootstrap_servers, n_events)
                print(f"ceiling, bare consumer (aiokafka records + json.loads): {consume['events']:,} events in "
                      f"{consume['seconds']:.2f} s = {consume['per_s']:,.0f} events/s", flush=True)
                for connections in (1, 2):
                    store = await ceiling_store(pool, kept, settings.slo_consumer_max_batch, connections)
                    print(f"ceiling, cheapest idempotent store (ids + minute rows, batches of {settings.slo_consumer_max_batch:,}, "
                          f"{connections} connection(s)): {store['events']:,} events in {store['seconds']:.2f} s = {store['per_s']:,.0f} events/s", flush=True)
                del kept
            if args.only in (None, "fold"):
                pids = {"postgres": postgres.pid, "kafka": kafka.pid}
                fold = await bench_fold(settings, pool, n_events=n_events, expected_requests=expected_requests, pids=pids)
                if n_events < 4 * settings.slo_consumer_max_batch:
                    print(f"note: {n_events:,} events are fewer than four polls of {settings.slo_consumer_max_batch:,}: "
                          "the fold's numbers below measure little more than one poll (a smoke run, not a measurement)", flush=True)
                print(f"fold: {fold['events']:,} events in {fold['seconds']:.2f} s = {fold['per_s']:,.0f} events/s "
                      f"(after the first stored batch; target >= {FOLD_TARGET_PER_S:,}); ids once: {fold['ids_ok']}, sums equal: {fold['sums_ok']}; "
                      "CPU per event: " + ", ".join(f"{k} {v:.1f} us" for k, v in fold["cpu_us_per_event"].items()), flush=True)
            if args.only in (None, "evaluation"):
                evaluation = await bench_evaluation(settings, pool, args.services, args.rounds)
                print(f"evaluation of {evaluation['slos']:,} SLOs ({args.services:,} services x 4): tick median "
                      f"{evaluation['tick_median_s']:.3f} s, max {evaluation['tick_max_s']:.3f} s, first {evaluation['first_tick_s']:.3f} s "
                      f"(target <= {EVALUATION_TARGET_S} s); pure evaluation alone {evaluation['pure_median_s']:.3f} s", flush=True)
        finally:
            await pool.close()
    finally:
        postgres.stop()
        kafka.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if fold and not (fold["ids_ok"] and fold["sums_ok"]):
        return 1
    missed = (fold and fold["per_s"] < FOLD_TARGET_PER_S) or (evaluation and evaluation["tick_median_s"] > EVALUATION_TARGET_S)
    return 3 if args.check_targets and missed else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20,000 events, 100 services, 2 rounds")
    parser.add_argument("--check-targets", action="store_true")
    parser.add_argument("--only", choices=("fold", "evaluation"), help="run one of the two measurements")
    parser.add_argument("--ceiling", action="store_true", help="also measure the fold's ceilings (bare consumer, cheapest store)")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.services, args.rounds = 20_000, 100, 2
    configure_logging(level="warning", fmt="console")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
