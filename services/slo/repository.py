"""All SQL of the SLO service: named constants and small functions taking a connection.
Repositories never open or commit transactions; the caller's unit of work does.

The window queries are built from a fixed vocabulary (column expressions per indicator kind,
numbered parameters for every value): no text from configuration or requests reaches the SQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import attrgetter

import asyncpg
from pydantic_core import to_json

from services.slo.buckets import RESOURCES, Bucket, BucketKey
from services.slo.definitions import SloDefinition
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
        await conn.execute(ADD_HOURS, *_bucket_columns(hours), [first.get(k, k[1]) for k in sorted(hours)])


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
    end: datetime, bad_minutes: bool, services: Sequence[str] | None = None,
) -> tuple[str, list]:
    """One scan of `table` from the earliest of `starts` to `end`, one row per service: the windows
    all end at `end`, so the distinct starts (descending) cut the scan into segments (summed per
    service and segment) and each window is a prefix of them (summed per service). Per definition i
    and window j: g_i_j (good), t_i_j (total) and, for minute buckets, b_i_j (bad minutes: minutes
    with traffic whose good fraction is under target). Each row's expressions are computed once
    (innermost query), whatever the number of windows. `services`: only these."""
    p = _Params()
    bounds = sorted(set(starts), reverse=True)
    segment = "CASE " + " ".join(f"WHEN {time_column} >= {p(b, '::timestamptz')} THEN {s}" for s, b in enumerate(bounds)) + " END"
    inner = [f"{segment} AS seg", "service"]
    middle = ["service", "seg"]
    for i, d in enumerate(definitions):
        good, total = _good_total(d, p)
        inner += [f"{good} AS g{i}", f"{total} AS t{i}"]
        middle += [f"sum(g{i}) AS g{i}", f"sum(t{i}) AS t{i}"]
        if bad_minutes:
            middle.append(f"count(*) FILTER (WHERE t{i} > 0 AND g{i} < {p(d.target, '::float8')} * t{i}) AS b{i}")
    outer = ["service"]
    for j, start in enumerate(starts):
        last = bounds.index(start)  # window j: the segments 0..last
        for i in range(len(definitions)):
            for c in ("g", "t", *(("b",) if bad_minutes else ())):
                outer.append(f"coalesce(sum({c}{i}) FILTER (WHERE seg <= {last}), 0)::bigint AS {c}_{i}_{j}")
    only = f" AND service = ANY({p(list(services), '::text[]')})" if services is not None else ""
    sql = (f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(middle)} FROM (SELECT {', '.join(inner)} FROM slo.{table} "
           f"WHERE {time_column} >= {p(bounds[-1], '::timestamptz')} AND {time_column} < {p(end, '::timestamptz')}{only}) AS r "
           "GROUP BY service, seg) AS s GROUP BY service")
    return sql, p.values


def prefix_sums(rows, *, columns: Sequence[str], starts: Sequence[datetime], bounds: Sequence[datetime], key=("service",)) -> dict:
    """{key: {f"{column}_{j}": sum}} for window j = the segments whose bound is at or after starts[j]."""
    out: dict = {}
    for r in rows:
        k = tuple(r[c] for c in key) if len(key) > 1 else r[key[0]]
        acc = out.setdefault(k, {f"{c}_{j}": 0 for c in columns for j in range(len(starts))})
        seg_start = bounds[r["seg"]]
        for j, start in enumerate(starts):
            if seg_start >= start:
                for c in columns:
                    acc[f"{c}_{j}"] += r[c] or 0
    return out


async def window_sums(conn: asyncpg.Connection, *, table: str, time_column: str, definitions: Sequence[SloDefinition],
                      starts: Sequence[datetime], end: datetime, bad_minutes: bool,
                      services: Sequence[str] | None = None) -> dict[str, dict]:
    """{service: {"g_<i>_<j>", "t_<i>_<j>"[, "b_<i>_<j>"]: sums}} for definition i and window j."""
    sql, values = window_sums_sql(table=table, time_column=time_column, definitions=definitions,
                                  starts=starts, end=end, bad_minutes=bad_minutes, services=services)
    out = {}
    for r in await conn.fetch(sql, *values):
        row = dict(r)
        out[row.pop("service")] = row
    return out


def window_changes_sql(
    definitions: Sequence[SloDefinition], *, old_starts: Sequence[datetime], old_end: datetime,
    new_starts: Sequence[datetime], new_end: datetime,
) -> tuple[str, list]:
    """What moving the windows from [old_starts[j], old_end) forward to [new_starts[j], new_end)
    changes in the minute-bucket sums of `window_sums`, one row per service: g_i_j, t_i_j and b_i_j
    to add (negative for the minutes that left). Scans only the minutes in one range and not the
    other (index ranges)."""
    p = _Params()
    inner = ["service"]
    for i, d in enumerate(definitions):
        good, total = _good_total(d, p)
        target = p(d.target, "::float8")
        inner += [f"{good} AS g{i}", f"{total} AS t{i}", f"({total} > 0 AND {good} < {target} * {total})::int AS b{i}"]
    old_until, new_until = p(old_end, "::timestamptz"), p(new_end, "::timestamptz")
    for j, (old, new) in enumerate(zip(old_starts, new_starts)):
        inner.append(f"(minute >= {p(new, '::timestamptz')} AND minute < {new_until})::int"
                     f" - (minute >= {p(old, '::timestamptz')} AND minute < {old_until})::int AS d{j}")
    outer = ["service"] + [f"sum({c}{i} * d{j})::bigint AS {c}_{i}_{j}"
                           for j in range(len(new_starts)) for i in range(len(definitions)) for c in ("g", "t", "b")]
    ranges = sorted({(old, new) for old, new in zip(old_starts, new_starts) if new > old} | {(old_end, new_end)})
    where = " OR ".join(f"(minute >= {p(a, '::timestamptz')} AND minute < {p(b, '::timestamptz')})" for a, b in ranges)
    sql = f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM slo.minute_bucket WHERE {where}) AS r GROUP BY service"
    return sql, p.values


async def window_changes(conn: asyncpg.Connection, definitions: Sequence[SloDefinition], **ranges) -> dict[str, dict]:
    """{service: {"g_<i>_<j>", ...: change}}: see `window_changes_sql`."""
    sql, values = window_changes_sql(definitions, **ranges)
    out = {}
    for r in await conn.fetch(sql, *values):
        row = dict(r)
        out[row.pop("service")] = row
    return out


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


def recompute_slices_sql(definition: SloDefinition) -> tuple[str, list]:
    """Bad minutes of `definition` for the (service, hour) pairs given as $1/$2, from one range scan
    of the minute buckets between $3 and $4 (the caller fills these four; one hour at a time)."""
    p = _Params()
    services, hours = p(None, "::text[]"), p(None, "::timestamptz[]")
    since, until = p(None, "::timestamptz"), p(None, "::timestamptz")
    slo = p(definition.name, "::text")
    good, total = _good_total(definition, p)
    target = p(definition.target, "::float8")
    sql = f"""
INSERT INTO slo.slice_hour (slo, service, hour, bad_minutes)
SELECT {slo}, c.service, c.hour, coalesce(b.bad, 0)
FROM unnest({services}, {hours}) AS c(service, hour)
LEFT JOIN (
    SELECT service, date_trunc('hour', minute, 'UTC') AS hour,
           count(*) FILTER (WHERE {total} > 0 AND {good} < {target} * {total}) AS bad
    FROM slo.minute_bucket
    WHERE minute >= {since} AND minute < {until}
    GROUP BY 1, 2
) AS b ON b.service = c.service AND b.hour = c.hour
ON CONFLICT (slo, service, hour) DO UPDATE SET bad_minutes = excluded.bad_minutes"""
    return sql, p.values


async def slice_sums(conn: asyncpg.Connection, *, names: Sequence[str], starts: Sequence[datetime], end: datetime) -> dict:
    """{(slo, service): {"b_<j>": bad minutes in window j}} from the hourly time slices."""
    p = _Params()
    bounds = sorted(set(starts), reverse=True)
    segment = "CASE " + " ".join(f"WHEN hour >= {p(b, '::timestamptz')} THEN {s}" for s, b in enumerate(bounds)) + " END"
    sql = (f"SELECT slo, service, {segment} AS seg, sum(bad_minutes)::bigint AS b FROM slo.slice_hour "
           f"WHERE slo = ANY({p(list(names), '::text[]')}) AND hour >= {p(bounds[-1], '::timestamptz')} "
           f"AND hour < {p(end, '::timestamptz')} GROUP BY slo, service, seg")
    return prefix_sums(await conn.fetch(sql, *p.values), columns=["b"], starts=starts, bounds=bounds, key=("slo", "service"))


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

PRUNE_MINUTES = "DELETE FROM slo.minute_bucket WHERE minute < $1"
PRUNE_HOURS = "DELETE FROM slo.hour_bucket WHERE hour < $1"
PRUNE_SLICES = "DELETE FROM slo.slice_hour WHERE hour < $1"
PRUNE_PROCESSED = "DELETE FROM slo.processed_event WHERE interval_start < $1"


async def put_statuses(conn: asyncpg.Connection, rows: list[tuple[str, str, dict]], evaluated_at: datetime) -> None:
    # pydantic_core's encoder: datetimes as ISO 8601 text, as the API returns them.
    await conn.execute(PUT_STATUSES, [r[0] for r in rows], [r[1] for r in rows], evaluated_at,
                       [to_json(r[2]).decode() for r in rows])


async def put_capacity(conn: asyncpg.Connection, rows: list[tuple[str, str, dict]], evaluated_at: datetime) -> None:
    await conn.execute(PUT_CAPACITY, [r[0] for r in rows], [r[1] for r in rows], evaluated_at,
                       [json.dumps(r[2], default=str) for r in rows])
