"""All SQL of the SLO service: named constants and small functions taking a connection.
Repositories never open or commit transactions; the caller's unit of work does.

The window queries are built from a fixed vocabulary (column expressions per indicator kind,
numbered parameters for every value): no text from configuration or requests reaches the SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.slo.buckets import RESOURCES, Bucket, BucketKey
from services.slo.definitions import SloDefinition

SCHEMA = "slo"


async def init_connection(conn: asyncpg.Connection) -> None:
    """Pool connection setup: jsonb columns as Python dicts."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


MARK_PROCESSED_MANY = """
INSERT INTO slo.processed_event (event_id, interval_start) SELECT * FROM unnest($1::text[], $2::timestamptz[])
ON CONFLICT DO NOTHING RETURNING event_id"""

_UTIL_COLUMNS = ", ".join(f"{r}_sum, {r}_n" for r in RESOURCES)
_UTIL_TYPES = ", ".join(f"${7 + 2 * i}::float8[], ${8 + 2 * i}::int[]" for i in range(len(RESOURCES)))
_UTIL_UPDATE = ", ".join(f"{r}_sum = b.{r}_sum + excluded.{r}_sum, {r}_n = b.{r}_n + excluded.{r}_n" for r in RESOURCES)


def _add_buckets_sql(table: str, time_column: str, touch: str) -> str:
    return f"""
INSERT INTO slo.{table} AS b (service, {time_column}, requests, errors, events, latency, {_UTIL_COLUMNS})
SELECT service, at, requests, errors, events, latency::jsonb, {_UTIL_COLUMNS}
FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::int[], $6::text[], {_UTIL_TYPES})
    AS r(service, at, requests, errors, events, latency, {_UTIL_COLUMNS})
ON CONFLICT (service, {time_column}) DO UPDATE SET
    requests = b.requests + excluded.requests, errors = b.errors + excluded.errors, events = b.events + excluded.events,
    latency = CASE WHEN excluded.latency = '{{}}'::jsonb THEN b.latency ELSE slo.merge_counts(b.latency, excluded.latency) END,
    {_UTIL_UPDATE}{touch}"""


ADD_MINUTES = _add_buckets_sql("minute_bucket", "minute", "")
ADD_HOURS = _add_buckets_sql("hour_bucket", "hour", ", updated_at = clock_timestamp()")


async def mark_processed_many(conn: asyncpg.Connection, event_ids: list[str], interval_starts: list[datetime]) -> set[str]:
    """The ids not seen before (now recorded); the others were folded already."""
    rows = await conn.fetch(MARK_PROCESSED_MANY, event_ids, interval_starts)
    return {r["event_id"] for r in rows}


def _bucket_columns(buckets: dict[BucketKey, Bucket]) -> list[list]:
    keys = sorted(buckets)  # one lock order for every writer: concurrent folds cannot deadlock
    columns: list[list] = [[k[0] for k in keys], [k[1] for k in keys]]
    rows = [buckets[k] for k in keys]
    columns += [[b.requests for b in rows], [b.errors for b in rows], [b.events for b in rows],
                [json.dumps(b.latency) for b in rows]]
    for r in RESOURCES:
        columns += [[b.utilisation_sum.get(r, 0.0) for b in rows], [b.utilisation_samples.get(r, 0) for b in rows]]
    return columns


async def add_buckets(conn: asyncpg.Connection, *, minutes: dict[BucketKey, Bucket], hours: dict[BucketKey, Bucket]) -> None:
    if minutes:
        await conn.execute(ADD_MINUTES, *_bucket_columns(minutes))
    if hours:
        await conn.execute(ADD_HOURS, *_bucket_columns(hours))


# --- window sums -------------------------------------------------------------------------------

class _Params:
    """Numbered query parameters, collected while the SQL is written."""

    def __init__(self) -> None:
        self.values: list = []

    def __call__(self, value, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def _good_total(definition: SloDefinition, p: _Params) -> tuple[str, str]:
    if definition.indicator == "latency_under":
        return (f"coalesce((latency->>{p(definition.threshold_key, '::text')})::bigint, 0)",
                "coalesce((latency->>'+Inf')::bigint, 0)")
    return "(requests - errors)", "requests"


def window_sums_sql(
    *, table: str, time_column: str, definitions: Sequence[SloDefinition], starts: Sequence[datetime],
    end: datetime, bad_minutes: bool,
) -> tuple[str, list]:
    """One scan of `table` from the earliest of `starts` to `end`: per service and definition i
    and window j the columns g_i_j (good), t_i_j (total) and, for minute buckets, b_i_j (bad minutes:
    minutes with traffic whose good fraction is under the target)."""
    p = _Params()
    window_params = [p(s, "::timestamptz") for s in starts]
    select = ["service", "sum(events) AS events"]
    for i, d in enumerate(definitions):
        good, total = _good_total(d, p)
        target = p(d.target, "::float8") if bad_minutes else ""
        for j, w in enumerate(window_params):
            select.append(f"coalesce(sum({good}) FILTER (WHERE {time_column} >= {w}), 0)::bigint AS g_{i}_{j}")
            select.append(f"coalesce(sum({total}) FILTER (WHERE {time_column} >= {w}), 0)::bigint AS t_{i}_{j}")
            if bad_minutes:
                select.append(
                    f"count(*) FILTER (WHERE {time_column} >= {w} AND {total} > 0 AND {good} < {target} * {total}) AS b_{i}_{j}"
                )
    earliest = p(min(starts), "::timestamptz")
    until = p(end, "::timestamptz")
    sql = (f"SELECT {', '.join(select)} FROM slo.{table} "
           f"WHERE {time_column} >= {earliest} AND {time_column} < {until} GROUP BY service")
    return sql, p.values


SLICE_CHANGED = "SELECT service, hour, updated_at FROM slo.hour_bucket WHERE updated_at > $1"


def recompute_slices_sql(definition: SloDefinition) -> tuple[str, list]:
    """Bad minutes of `definition` for the (service, hour) pairs passed as $1/$2 (appended)."""
    p = _Params()
    pairs_s, pairs_h, slo = p(None, "::text[]"), p(None, "::timestamptz[]"), p(definition.name, "::text")
    good, total = _good_total(definition, p)
    target = p(definition.target, "::float8")
    sql = f"""
INSERT INTO slo.slice_hour (slo, service, hour, bad_minutes)
SELECT {slo}, c.service, c.hour, count(m.minute) FILTER (WHERE {total} > 0 AND {good} < {target} * {total})
FROM unnest({pairs_s}, {pairs_h}) AS c(service, hour)
LEFT JOIN slo.minute_bucket m ON m.service = c.service AND m.minute >= c.hour AND m.minute < c.hour + interval '1 hour'
GROUP BY c.service, c.hour
ON CONFLICT (slo, service, hour) DO UPDATE SET bad_minutes = excluded.bad_minutes"""
    return sql, p.values


def slice_sums_sql(*, names: Sequence[str], starts: Sequence[datetime], end: datetime) -> tuple[str, list]:
    p = _Params()
    windows = [p(s, "::timestamptz") for s in starts]
    cols = [f"coalesce(sum(bad_minutes) FILTER (WHERE hour >= {w}), 0)::bigint AS b_{j}" for j, w in enumerate(windows)]
    sql = (f"SELECT slo, service, {', '.join(cols)} FROM slo.slice_hour "
           f"WHERE slo = ANY({p(list(names), '::text[]')}) AND hour >= {p(min(starts), '::timestamptz')} "
           f"AND hour < {p(end, '::timestamptz')} GROUP BY slo, service")
    return sql, p.values


LATENCY_SUMS = """
SELECT service, key, sum(value::bigint)::bigint AS count
FROM slo.hour_bucket, jsonb_each_text(latency) WHERE hour >= $1 AND hour < $2 GROUP BY service, key"""

HOURS_OF_SERVICE = """
SELECT hour, requests, errors, events, latency FROM slo.hour_bucket
WHERE service = $1 AND hour >= $2 AND hour < $3 ORDER BY hour"""

SLICES_OF_SERVICE = """
SELECT hour, bad_minutes FROM slo.slice_hour WHERE slo = $1 AND service = $2 AND hour >= $3 AND hour < $4"""

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

# --- evaluation results and alert states ------------------------------------------------------

GET_MARK = "SELECT at FROM slo.evaluator_mark WHERE name = $1"
SET_MARK = """INSERT INTO slo.evaluator_mark (name, at) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET at = excluded.at"""

PUT_STATUSES = """
INSERT INTO slo.slo_status (service, slo, evaluated_at, status)
SELECT service, slo, $3, status::jsonb FROM unnest($1::text[], $2::text[], $4::text[]) AS r(service, slo, status)
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

PRUNE_MINUTES = "DELETE FROM slo.minute_bucket WHERE minute < $1"
PRUNE_HOURS = "DELETE FROM slo.hour_bucket WHERE hour < $1"
PRUNE_SLICES = "DELETE FROM slo.slice_hour WHERE hour < $1"
PRUNE_PROCESSED = "DELETE FROM slo.processed_event WHERE interval_start < $1"


async def put_statuses(conn: asyncpg.Connection, rows: list[tuple[str, str, dict]], evaluated_at: datetime) -> None:
    await conn.execute(PUT_STATUSES, [r[0] for r in rows], [r[1] for r in rows], evaluated_at,
                       [json.dumps(r[2], default=str) for r in rows])


async def put_capacity(conn: asyncpg.Connection, rows: list[tuple[str, str, dict]], evaluated_at: datetime) -> None:
    await conn.execute(PUT_CAPACITY, [r[0] for r in rows], [r[1] for r in rows], evaluated_at,
                       [json.dumps(r[2], default=str) for r in rows])
