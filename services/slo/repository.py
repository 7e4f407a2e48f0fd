"""All SQL of the SLO service: named constants and small functions taking a connection.
Repositories never open or commit transactions; the caller's unit of work does.

The evaluator's window reads, built per set of definitions, are in `window_queries`."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import attrgetter

import asyncpg
from pydantic_core import to_json

from services.slo.alerts import Firing, Transition
from services.slo.budget_policy import StoredState
from services.slo.buckets import RESOURCES, Bucket, BucketKey
from services.slo.windows import floor_hour

SCHEMA = "slo"


async def init_connection(conn: asyncpg.Connection) -> None:
    """Pool connection setup: jsonb columns as Python dicts."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


# The new ids come back only when some were not new: nearly always NULL, not a row per event.
MARK_PROCESSED_MANY = """
WITH new AS (
    INSERT INTO slo.processed_event (event_id, interval_start)
    SELECT id, to_timestamp(at) FROM unnest($1::text[], $2::float8[]) AS r(id, at)
    ON CONFLICT DO NOTHING RETURNING event_id)
SELECT CASE WHEN count(*) < cardinality($1::text[]) THEN coalesce(array_agg(event_id), '{}') END FROM new"""

_UTIL_COLUMNS = ", ".join(f"{r}_sum, {r}_n" for r in RESOURCES)
_UTIL_TYPES = ", ".join(f"${7 + 2 * i}::float8[], ${8 + 2 * i}::int[]" for i in range(len(RESOURCES)))
_UTIL_UPDATE = ", ".join(f"{r}_sum = b.{r}_sum + excluded.{r}_sum, {r}_n = b.{r}_n + excluded.{r}_n" for r in RESOURCES)


def _add_buckets_sql(table: str, time_column: str, touch: str, *, changed_from: bool = False) -> str:
    extra, extra_type = (", changed_from", ", $15::timestamptz[]") if changed_from else ("", "")
    return f"""
INSERT INTO slo.{table} AS b (service, {time_column}, requests, errors, events, latency, {_UTIL_COLUMNS}{extra})
SELECT service, to_timestamp(at), requests, errors, events, latency::jsonb, {_UTIL_COLUMNS}{extra}
FROM unnest($1::text[], $2::float8[], $3::bigint[], $4::bigint[], $5::int[], $6::text[], {_UTIL_TYPES}{extra_type})
    AS r(service, at, requests, errors, events, latency, {_UTIL_COLUMNS}{extra})
ON CONFLICT (service, {time_column}) DO UPDATE SET
    requests = b.requests + excluded.requests, errors = b.errors + excluded.errors, events = b.events + excluded.events,
    latency = CASE WHEN excluded.latency = '{{}}'::jsonb THEN b.latency ELSE slo.merge_counts(b.latency, excluded.latency) END,
    {_UTIL_UPDATE}{touch}"""


ADD_MINUTES = _add_buckets_sql("minute_bucket", "minute", "")
# An hour is flagged for the evaluator (sliced = false) with the earliest minute changed since it
# collected the flag (a flag it has not collected yet keeps the earlier minute; NULL stays NULL).
ADD_HOURS = _add_buckets_sql("hour_bucket", "hour", """, updated_at = clock_timestamp(), sliced = false,
    changed_from = CASE WHEN b.sliced THEN excluded.changed_from WHEN b.changed_from IS NULL THEN NULL
                        ELSE least(b.changed_from, excluded.changed_from) END""", changed_from=True)


# Both in one statement (one round trip, atomic without BEGIN/COMMIT): remote-write folds a small
# request at a time, so the round trips, not the rows, are its store's cost.
ADD_MINUTES_AND_HOURS = (f"WITH added_minutes AS ({ADD_MINUTES})\n"
                         + re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + 14}", ADD_HOURS))


def epoch_seconds(times: Iterable[datetime]) -> list[float]:
    """`times` as seconds since the epoch, for `to_timestamp()` in SQL: asyncpg encodes a float
    about four times faster than a datetime (measured 0.17 vs 0.78 µs), and the fold sends one or
    two per event. Exact to the microsecond (to_timestamp rounds to it); a poll has few distinct times."""
    seconds: dict[datetime, float] = {}
    out = []
    for t in times:
        s = seconds.get(t)
        if s is None:
            s = seconds[t] = t.timestamp()
        out.append(s)
    return out


async def mark_processed_many(conn: asyncpg.Connection, event_ids: list[str], interval_starts: list[datetime]) -> set[str]:
    """The ids not seen before (now recorded); the others were folded already. `event_ids` are distinct."""
    new = await conn.fetchval(MARK_PROCESSED_MANY, event_ids, epoch_seconds(interval_starts))
    return set(event_ids) if new is None else set(new)


def _bucket_columns(buckets: dict[BucketKey, Bucket]) -> list[list]:
    keys = sorted(buckets)  # one lock order for every writer: concurrent folds cannot deadlock
    columns: list[list] = [[k[0] for k in keys], epoch_seconds(k[1] for k in keys)]
    rows = [buckets[k] for k in keys]
    columns += [[b.requests for b in rows], [b.errors for b in rows], [b.events for b in rows],
                [to_json(b.latency).decode() for b in rows]]
    for r in RESOURCES:
        columns += [list(map(attrgetter(f"{r}_sum"), rows)), list(map(attrgetter(f"{r}_n"), rows))]
    return columns


async def add_buckets(conn: asyncpg.Connection, *, minutes: dict[BucketKey, Bucket], hours: dict[BucketKey, Bucket]) -> None:
    """`hours`: the roll-up of `minutes` (each hour flagged with the earliest of its minutes here)."""
    if minutes:
        await conn.execute(ADD_MINUTES, *_bucket_columns(minutes))
    if hours:
        await conn.execute(ADD_HOURS, *_bucket_columns(hours), _first_minutes(minutes, hours))


def _first_minutes(minutes: dict[BucketKey, Bucket], hours: dict[BucketKey, Bucket]) -> list[datetime]:
    """Per hour row (in `_bucket_columns` order) the earliest of its minutes in `minutes`."""
    first: dict[BucketKey, datetime] = {}
    hour_of: dict[datetime, datetime] = {}  # a poll has few distinct minutes
    for service, minute in minutes:
        hour = hour_of.get(minute)
        if hour is None:
            hour = hour_of[minute] = floor_hour(minute)
        key = (service, hour)
        earliest = first.get(key)
        if earliest is None or minute < earliest:
            first[key] = minute
    return [first.get(k, k[1]) for k in sorted(hours)]


async def add_buckets_at_once(conn: asyncpg.Connection, *, minutes: dict[BucketKey, Bucket], hours: dict[BucketKey, Bucket]) -> None:
    """`add_buckets` in one statement: a unit of work of its own, outside any transaction."""
    if minutes:
        await conn.execute(ADD_MINUTES_AND_HOURS, *_bucket_columns(minutes), *_bucket_columns(hours), _first_minutes(minutes, hours))


# --- the evaluator's tick ----------------------------------------------------------------------

# One replica evaluates at a time (a session-level advisory lock, held for the tick).
TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
UNLOCK = "SELECT pg_advisory_unlock($1)"

NEXT_GENERATION = "UPDATE slo.evaluator_generation SET generation = generation + 1 RETURNING generation"

# Newest first and bounded, so that a backlog (a first start on a long history) is worked off over
# several ticks instead of holding one tick for minutes.
UNSLICED_HOURS = """
SELECT service, hour, updated_at, coalesce(changed_from, hour) AS changed_from
FROM slo.hour_bucket WHERE NOT sliced ORDER BY hour DESC LIMIT $1"""
MAX_SLICED_PER_TICK = 20_000

# Cleared only where no fold changed the hour since it was read (its updated_at is the same).
MARK_SLICED = """
UPDATE slo.hour_bucket h SET sliced = true
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS c(service, hour, updated_at)
WHERE h.service = c.service AND h.hour = c.hour AND h.updated_at = c.updated_at"""

# Enough memory to hash-aggregate the window scans instead of sorting them on disk.
HASH_AGGREGATE_MEMORY = "SET LOCAL work_mem = '64MB'"

LATENCY_SUMS = """
SELECT service, key, sum(value::bigint)::bigint AS count
FROM slo.hour_bucket, jsonb_each_text(latency) WHERE hour >= $1 AND hour < $2 GROUP BY service, key"""


async def try_lock(conn: asyncpg.Connection, key: int) -> bool:
    return await conn.fetchval(TRY_LOCK, key)


async def unlock(conn: asyncpg.Connection, key: int) -> None:
    await conn.execute(UNLOCK, key)


async def next_generation(conn: asyncpg.Connection) -> int:
    """The evaluator's tick counter: a tick that sees a gap knows another replica ticked between."""
    return await conn.fetchval(NEXT_GENERATION)


async def unsliced_hours(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """The hours a fold flagged since they were last collected (at most MAX_SLICED_PER_TICK)."""
    return await conn.fetch(UNSLICED_HOURS, MAX_SLICED_PER_TICK)


async def mark_sliced(conn: asyncpg.Connection, changed: list[asyncpg.Record]) -> None:
    await conn.execute(MARK_SLICED, [r["service"] for r in changed], [r["hour"] for r in changed],
                       [r["updated_at"] for r in changed])


async def allow_hash_aggregates(conn: asyncpg.Connection) -> None:
    """For the rest of the caller's transaction."""
    await conn.execute(HASH_AGGREGATE_MEMORY)


async def latency_sums(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """{service: cumulative latency histogram} of the hours from `start` to `end`."""
    histograms: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await conn.fetch(LATENCY_SUMS, start, end):
        histograms[r["service"]][r["key"]] = r["count"]
    return histograms


# --- one SLO's history (the API) ---------------------------------------------------------------

HOURS_OF_SERVICE = """
SELECT hour, requests, errors, events, latency FROM slo.hour_bucket
WHERE service = $1 AND hour >= $2 AND hour < $3 ORDER BY hour"""

SLICES_OF_SERVICE = """
SELECT hour, bad_minutes FROM slo.slice_hour WHERE slo = $1 AND service = $2 AND hour >= $3 AND hour < $4"""


async def hours_of_service(conn: asyncpg.Connection, service: str, *, start: datetime, end: datetime) -> list[dict]:
    return [dict(r) for r in await conn.fetch(HOURS_OF_SERVICE, service, start, end)]


async def slices_of_service(conn: asyncpg.Connection, slo: str, service: str, *, start: datetime, end: datetime) -> dict[datetime, int]:
    """{hour: bad minutes} of a time-slice SLO."""
    return {r["hour"]: r["bad_minutes"] for r in await conn.fetch(SLICES_OF_SERVICE, slo, service, start, end)}


# --- capacity ----------------------------------------------------------------------------------

DAILY_UTILISATION = f"""
SELECT service, date_trunc('day', hour, 'UTC')::date AS day,
       {', '.join(f"sum({r}_sum) AS {r}_sum, sum({r}_n) AS {r}_n" for r in RESOURCES)}
FROM slo.hour_bucket WHERE hour >= $1 AND hour < $2 GROUP BY service, day"""

LATEST_UTILISATION = f"""
SELECT DISTINCT ON (service, resource) service, resource, hour, total / samples AS mean
FROM slo.hour_bucket,
     LATERAL (VALUES {', '.join(f"('{r}', {r}_sum, {r}_n)" for r in RESOURCES)}) AS u(resource, total, samples)
WHERE hour >= $1 AND hour < $2 AND samples > 0
ORDER BY service, resource, hour DESC"""


async def daily_utilisation(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(DAILY_UTILISATION, start, end)


async def latest_utilisation(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> list[asyncpg.Record]:
    """Per service and resource, the mean of its latest hour with samples."""
    return await conn.fetch(LATEST_UTILISATION, start, end)


# --- evaluation results and alert states ------------------------------------------------------

PUT_STATUSES = """
INSERT INTO slo.slo_status (service, slo, evaluated_at, status)
SELECT service, slo, $3, status::json FROM unnest($1::text[], $2::text[], $4::text[]) AS r(service, slo, status)
ON CONFLICT (service, slo) DO UPDATE SET evaluated_at = excluded.evaluated_at, status = excluded.status"""

DELETE_STALE_STATUSES = "DELETE FROM slo.slo_status WHERE evaluated_at < $1"

LIST_STATUSES = """
SELECT status, evaluated_at FROM slo.slo_status WHERE ($1::text IS NULL OR service = $1) ORDER BY service, slo"""

GET_STATUS = "SELECT status, evaluated_at FROM slo.slo_status WHERE service = $1 AND slo = $2"

PUT_CAPACITY = """
INSERT INTO slo.capacity_status (service, resource, evaluated_at, status)
SELECT service, resource, $3, status::jsonb FROM unnest($1::text[], $2::text[], $4::text[]) AS r(service, resource, status)
ON CONFLICT (service, resource) DO UPDATE SET evaluated_at = excluded.evaluated_at, status = excluded.status"""

DELETE_STALE_CAPACITY = "DELETE FROM slo.capacity_status WHERE evaluated_at < $1"

LIST_CAPACITY = """
SELECT status, evaluated_at FROM slo.capacity_status WHERE ($1::text IS NULL OR service = $1) ORDER BY service, resource"""

FIRING_ALERTS = "SELECT fingerprint, service, subject, tier, starts_at FROM slo.alert_state WHERE status = 'firing' AND tier = ANY($1::text[]) FOR UPDATE"

PUT_ALERT_STATE = """
INSERT INTO slo.alert_state (fingerprint, service, subject, tier, status, starts_at, ends_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (fingerprint) DO UPDATE SET status = excluded.status, starts_at = excluded.starts_at,
    ends_at = excluded.ends_at, updated_at = excluded.updated_at"""


async def put_statuses(conn: asyncpg.Connection, rows: list[tuple[str, str, dict]], evaluated_at: datetime) -> None:
    # pydantic_core's encoder: datetimes as ISO 8601 text, as the API returns them.
    await conn.execute(PUT_STATUSES, [r[0] for r in rows], [r[1] for r in rows], evaluated_at,
                       [to_json(r[2]).decode() for r in rows])


async def delete_stale_statuses(conn: asyncpg.Connection, before: datetime) -> None:
    """The statuses not evaluated since `before` (an SLO or service that went away)."""
    await conn.execute(DELETE_STALE_STATUSES, before)


async def list_statuses(conn: asyncpg.Connection, service: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_STATUSES, service)


async def get_status(conn: asyncpg.Connection, service: str, slo: str) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_STATUS, service, slo)


async def put_capacity(conn: asyncpg.Connection, rows: list[tuple[str, str, dict]], evaluated_at: datetime) -> None:
    await conn.execute(PUT_CAPACITY, [r[0] for r in rows], [r[1] for r in rows], evaluated_at,
                       [json.dumps(r[2], default=str) for r in rows])


async def delete_stale_capacity(conn: asyncpg.Connection, before: datetime) -> None:
    await conn.execute(DELETE_STALE_CAPACITY, before)


async def list_capacity(conn: asyncpg.Connection, service: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_CAPACITY, service)


async def firing_alerts(conn: asyncpg.Connection, tiers: Sequence[str]) -> list[Firing]:
    """The alerts of `tiers` stored as firing, locked until the caller's transaction ends."""
    rows = await conn.fetch(FIRING_ALERTS, list(tiers))
    return [Firing(r["fingerprint"], r["service"], r["subject"], r["tier"], r["starts_at"]) for r in rows]


async def put_alert_state(conn: asyncpg.Connection, t: Transition, *, now: datetime) -> None:
    await conn.execute(PUT_ALERT_STATE, t.fingerprint, t.service, t.subject, t.tier, t.status, t.starts_at, t.ends_at, now)


# --- error-budget states (budget_policy.state_changes) ----------------------------------------

BUDGET_STATES = "SELECT service, slo, state, since FROM slo.budget_state FOR UPDATE"
PUT_BUDGET_STATES = """
INSERT INTO slo.budget_state (service, slo, state, since)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (service, slo) DO UPDATE SET state = excluded.state, since = excluded.since"""


async def budget_states(conn: asyncpg.Connection) -> list[StoredState]:
    """The budget states last published, locked until the caller's transaction ends (one publisher)."""
    return [StoredState(r["service"], r["slo"], r["state"], r["since"]) for r in await conn.fetch(BUDGET_STATES)]


async def put_budget_states(conn: asyncpg.Connection, states: Sequence[StoredState]) -> None:
    await conn.execute(PUT_BUDGET_STATES, [s.service for s in states], [s.slo for s in states],
                       [s.state for s in states], [s.since for s in states])


# --- pruning -----------------------------------------------------------------------------------

PRUNE_MINUTES = "DELETE FROM slo.minute_bucket WHERE minute < $1"
PRUNE_HOURS = "DELETE FROM slo.hour_bucket WHERE hour < $1"
PRUNE_SLICES = "DELETE FROM slo.slice_hour WHERE hour < $1"
PRUNE_PROCESSED = "DELETE FROM slo.processed_event WHERE interval_start < $1"


async def prune(conn: asyncpg.Connection, *, minutes_before: datetime, hours_before: datetime, events_before: datetime) -> None:
    """Minute buckets before `minutes_before`, hour buckets and time slices before `hours_before`,
    the folded event ids of intervals before `events_before`."""
    await conn.execute(PRUNE_MINUTES, minutes_before)
    await conn.execute(PRUNE_HOURS, hours_before)
    await conn.execute(PRUNE_SLICES, hours_before)
    await conn.execute(PRUNE_PROCESSED, events_before)
