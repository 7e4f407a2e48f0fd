"""The evaluator's kept sums of completed hours (window_cache.LongWindowCache) against real PostgreSQL:
every tick counts exactly what a full read counts — when only the current hour changes, after a
late event changed a completed hour, when another replica ticked in between, and for the short
windows' minutes as the minute moves on."""

from datetime import UTC, datetime, timedelta

import pytest

from services.slo import repository as repo
from services.slo.app import MIGRATIONS
from services.slo.definitions import DEFAULT_DEFINITIONS
from services.slo.evaluation import EvaluatorConfig
from services.slo.service import evaluate_slos, fold_metrics
from services.slo.window_cache import LongWindowCache, read_counts
from shared.db import create_pool, migrate
from shared.events import LatencyBucket, MetricsEvent

NOW = datetime(2026, 4, 15, 12, 30, 20, tzinfo=UTC)
INF = float("inf")
CFG = EvaluatorConfig(definitions=DEFAULT_DEFINITIONS, zone="Europe/Berlin", min_events=100, capacity_threshold=0.8,
                      capacity_weeks=4, capacity_lead=timedelta(days=14), retention=timedelta(days=40),
                      late_window=timedelta(days=7))


def metrics(service: str, at: datetime, *, requests=1000, errors=0, fast=900, n=0) -> MetricsEvent:
    return MetricsEvent(
        event_id=f"{service}-{at.isoformat()}-{n}", occurred_at=at, source="test", service=service, interval_start=at,
        requests=requests, errors=errors,
        latency_buckets=[LatencyBucket(le=0.1, count=fast), LatencyBucket(le=0.5, count=requests), LatencyBucket(le=INF, count=requests)],
    )


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, init=repo.init_connection, max_size=2)
    async with pool.acquire() as conn:
        await migrate(conn, schema=repo.SCHEMA, directory=MIGRATIONS)
        await conn.execute("TRUNCATE slo.minute_bucket, slo.hour_bucket, slo.slice_hour, slo.processed_event, "
                           "slo.slo_status, slo.alert_state")
    yield pool
    await pool.close()


async def fold_events(pool, events: list[MetricsEvent]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await fold_metrics(conn, events, now=NOW, late_window=CFG.late_window)


async def full_read(pool, now: datetime):
    async with pool.acquire() as conn:
        return await read_counts(conn, CFG, now)


def statuses(evaluations) -> dict:
    return {(e.service, e.definition.name): e.status for e in evaluations}


async def test_a_kept_tick_counts_what_a_full_read_counts_through_late_events_and_other_replicas(pool):
    history = [metrics(s, NOW - timedelta(hours=h, minutes=m), errors=(h + m) % 4, fast=850 + h % 100, n=1)
               for s in ("api", "web") for h in range(1, 80, 7) for m in (0, 13)]
    await fold_events(pool, history)
    cache = LongWindowCache()

    await evaluate_slos(pool, CFG, NOW, cache)  # the first tick reads everything (and keeps the completed hours)
    assert cache.key is not None
    kept = cache.key

    # Only the current hour changes: the kept sums stay, and the tick still sees the new minute.
    await fold_events(pool, [metrics("api", NOW - timedelta(minutes=1), errors=600, fast=10, n=2)])
    tick = statuses(await evaluate_slos(pool, CFG, NOW + timedelta(seconds=30), cache))
    assert cache.key == kept
    counts, histograms = await full_read(pool, NOW + timedelta(seconds=30))
    assert counts == (await _cached_read(pool, cache, NOW + timedelta(seconds=30)))[0]
    assert tick[("api", "error-rate")]["budget"]["bad_events"] == counts["api"][3].rolling_30d.bad
    assert counts["api"][3].burn[timedelta(hours=1)].bad == 600  # the new minute is in the hour window

    # A late event into a completed hour (and a new service): the next tick reads the long windows again.
    await fold_events(pool, [metrics("api", NOW - timedelta(hours=30), errors=900, fast=0, n=3),
                             metrics("new", NOW - timedelta(hours=2), errors=5, n=3)])
    tick = statuses(await evaluate_slos(pool, CFG, NOW + timedelta(seconds=60), cache))
    counts, _ = await full_read(pool, NOW + timedelta(seconds=60))
    assert counts["api"][3].rolling_30d.bad == tick[("api", "error-rate")]["budget"]["bad_events"]
    assert counts["api"][3].burn[timedelta(hours=72)].bad >= 900 + 600
    assert ("new", "error-rate") in tick

    # Another replica ticked (and collected the flags of a change this one never saw).
    async with pool.acquire() as conn:
        await repo.next_generation(conn)
        await conn.execute("UPDATE slo.hour_bucket SET errors = errors + 7, sliced = true WHERE service = 'web' AND hour = $1",
                           (NOW - timedelta(hours=8)).replace(minute=0, second=0))
    tick = statuses(await evaluate_slos(pool, CFG, NOW + timedelta(seconds=90), cache))
    counts, _ = await full_read(pool, NOW + timedelta(seconds=90))
    assert tick[("web", "error-rate")]["budget"]["bad_events"] == counts["web"][3].rolling_30d.bad
    assert counts == (await _cached_read(pool, cache, NOW + timedelta(seconds=90)))[0]

    # The next hour: everything is read again for the new windows.
    later = NOW + timedelta(hours=1)
    await evaluate_slos(pool, CFG, later, cache)
    assert cache.key != kept
    assert (await _cached_read(pool, cache, later)) == await full_read(pool, later)


async def _cached_read(pool, cache: LongWindowCache, now: datetime):
    async with pool.acquire() as conn:
        return await read_counts(conn, CFG, now, cache)


def flag(service: str, hour: datetime, changed_from: datetime | None = None) -> dict:
    return {"service": service, "hour": hour, "changed_from": changed_from or hour}


def test_the_kept_sums_are_dropped_unless_this_replica_ticked_last_and_only_the_current_hour_changed():
    hour = datetime(2026, 4, 15, 12, tzinfo=UTC)
    cache = LongWindowCache()
    cache.observe(5, [], complete=True, hour_now=hour)
    cache.key = ("kept",)
    cache.observe(6, [flag("a", hour), flag("b", hour)], complete=True, hour_now=hour)
    assert cache.key == ("kept",)
    cache.short_boundary = hour
    cache.observe(8, [], complete=True, hour_now=hour)  # generation 7 was another replica's tick
    assert cache.key is None and cache.short_boundary is None
    cache.key = ("kept",)
    cache.observe(9, [flag("a", hour - timedelta(hours=1))], complete=True, hour_now=hour)
    assert cache.key is None
    cache.key = ("kept",)
    cache.observe(10, [flag("a", hour)], complete=False, hour_now=hour)  # more flagged hours than one tick collects
    assert cache.key is None and cache.short_boundary is None


def test_the_kept_short_sums_of_a_service_are_read_again_when_a_fold_changed_a_minute_before_the_boundary():
    hour = datetime(2026, 4, 15, 12, tzinfo=UTC)
    cache = LongWindowCache()
    cache.observe(1, [], complete=True, hour_now=hour)
    cache.short_boundary = hour + timedelta(minutes=28)
    cache.observe(2, [flag("on-time", hour, hour + timedelta(minutes=29)), flag("at-boundary", hour, hour + timedelta(minutes=28)),
                      flag("late", hour, hour + timedelta(minutes=27))], complete=True, hour_now=hour)
    assert cache.short_stale == {"late"} and cache.short_boundary is not None


async def test_kept_short_window_sums_count_what_a_full_read_counts_as_the_minutes_move_on(pool):
    # Every minute of the last 7 hours for two services, bad minutes here and there, so that each
    # window start that moves on drops a minute with traffic (and sometimes a bad one).
    start = NOW.replace(second=0) - timedelta(hours=7)
    history = [metrics(s, start + timedelta(minutes=m), errors=(5 if m % 3 == 0 else 0) + m % 2, fast=700 + m % 300, n=1)
               for s in ("api", "web") for m in range(7 * 60 + 1)]
    await fold_events(pool, history)
    cache = LongWindowCache()

    async def tick_and_compare(at: datetime) -> None:
        await evaluate_slos(pool, CFG, at, cache)
        assert await _cached_read(pool, cache, at) == await full_read(pool, at)

    await tick_and_compare(NOW)
    assert cache.short_boundary == NOW.replace(second=0) - timedelta(minutes=2)
    # A late event into an earlier minute of the current hour, then the minute moves on by one and two.
    await fold_events(pool, [metrics("api", NOW.replace(minute=5, second=0), errors=400, fast=0, n=2)])
    kept_web = cache.short_rows["web"]
    await tick_and_compare(NOW + timedelta(seconds=40))
    assert cache.short_rows["web"] is kept_web  # only the service with the late event was read again
    # Events into the minutes the tick reads anyway (after the boundary), and into the current minute.
    await fold_events(pool, [metrics("web", NOW.replace(second=0) - timedelta(minutes=1), errors=300, fast=0, n=2),
                             metrics("api", NOW.replace(second=0), errors=200, fast=0, n=3)])
    await tick_and_compare(NOW + timedelta(seconds=50))
    assert cache.short_rows["web"] is kept_web
    await tick_and_compare(NOW + timedelta(minutes=1))
    await tick_and_compare(NOW + timedelta(minutes=3))
    kept_api, kept_web = cache.short_rows["api"], cache.short_rows["web"]
    # A late event into a completed hour inside the 6 h window: that service is read again, and it counts.
    await fold_events(pool, [metrics("web", NOW.replace(minute=15, second=0) - timedelta(hours=3), errors=999, fast=0, n=2)])
    await tick_and_compare(NOW + timedelta(minutes=4))
    assert cache.short_rows["web"] is not kept_web and cache.short_rows["api"] is kept_api
    counts, _ = await full_read(pool, NOW + timedelta(minutes=4))
    assert counts["web"][3].burn[timedelta(hours=6)].bad >= 999
    await tick_and_compare(NOW + timedelta(minutes=20))  # too many minutes moved on: read again
    await tick_and_compare(NOW + timedelta(minutes=21))
    await tick_and_compare(NOW + timedelta(minutes=30))  # the next hour
    await tick_and_compare(NOW + timedelta(minutes=31))
    # A new service whose first minutes come before the boundary as the minute moves on.
    await fold_events(pool, [metrics("new", NOW.replace(second=0) + timedelta(minutes=31), errors=50, n=1)])
    await tick_and_compare(NOW + timedelta(minutes=32))
    await tick_and_compare(NOW + timedelta(minutes=34))
    assert "new" in cache.short_rows


async def test_the_fold_flags_an_hour_with_the_earliest_minute_changed_since_the_evaluator_collected_it(pool):
    hour = NOW.replace(minute=0, second=0)

    async def changed_from():
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT changed_from FROM slo.hour_bucket WHERE service = 'api' AND hour = $1", hour)

    await fold_events(pool, [metrics("api", hour + timedelta(minutes=20), n=1), metrics("api", hour + timedelta(minutes=12), n=1)])
    assert await changed_from() == hour + timedelta(minutes=12)
    await fold_events(pool, [metrics("api", hour + timedelta(minutes=25), n=2)])
    assert await changed_from() == hour + timedelta(minutes=12)  # not collected yet: the earlier minute stays
    await fold_events(pool, [metrics("api", hour + timedelta(minutes=3), n=3)])
    assert await changed_from() == hour + timedelta(minutes=3)
    await evaluate_slos(pool, CFG, NOW, LongWindowCache())  # collects the flag
    await fold_events(pool, [metrics("api", hour + timedelta(minutes=29), n=4)])
    assert await changed_from() == hour + timedelta(minutes=29)


async def test_a_redelivered_poll_folds_only_its_new_events_at_their_exact_times(pool):
    at = NOW.replace(minute=10, second=7, microsecond=123_457)  # not on a minute, with microseconds
    first = [metrics("api", at, n=i, requests=100, fast=50) for i in range(3)]
    async with pool.acquire() as conn, conn.transaction():
        outcome = await fold_metrics(conn, first, now=NOW, late_window=CFG.late_window)
    assert (outcome.folded, outcome.duplicates) == (3, 0)
    again = first[1:] + [metrics("api", at, n=i, requests=100, fast=50) for i in (3, 4)]
    async with pool.acquire() as conn, conn.transaction():
        outcome = await fold_metrics(conn, again, now=NOW, late_window=CFG.late_window)
        assert (outcome.folded, outcome.duplicates) == (2, 2)
        outcome = await fold_metrics(conn, again, now=NOW, late_window=CFG.late_window)
        assert (outcome.folded, outcome.duplicates) == (0, 4)
    async with pool.acquire() as conn:
        starts = await conn.fetch("SELECT DISTINCT interval_start FROM slo.processed_event")
        minute = await conn.fetchrow("SELECT minute, requests, latency FROM slo.minute_bucket WHERE service = 'api'")
        hour = await conn.fetchrow("SELECT hour, requests FROM slo.hour_bucket WHERE service = 'api'")
    assert [r["interval_start"] for r in starts] == [at]
    assert (minute["minute"], minute["requests"], minute["latency"]) == (at.replace(second=0, microsecond=0), 500,
                                                                         {"0.1": 250, "0.5": 500, "+Inf": 500})
    assert (hour["hour"], hour["requests"]) == (at.replace(minute=0, second=0, microsecond=0), 500)
