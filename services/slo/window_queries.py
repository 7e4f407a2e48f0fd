"""The evaluator's window reads: SQL built per set of definitions from a fixed vocabulary (column
expressions per indicator kind, numbered parameters for every value), so no text from configuration
or requests reaches the SQL. The statements with fixed text are in `repository`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from services.slo.definitions import SloDefinition

HOUR = timedelta(hours=1)


class _Params:
    """Numbered query parameters, collected while the SQL is written."""

    def __init__(self) -> None:
        self.values: list = []

    def __call__(self, value, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def _by_service(rows: list[asyncpg.Record]) -> dict[str, dict]:
    out = {}
    for r in rows:
        row = dict(r)
        out[row.pop("service")] = row
    return out


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
    return _by_service(await conn.fetch(sql, *values))


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
    return _by_service(await conn.fetch(sql, *values))



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



async def put_slices(conn: asyncpg.Connection, definition: SloDefinition, services_by_hour: dict[datetime, list[str]]) -> None:
    """Recompute the bad minutes of `definition` for these hours and services: one statement per
    hour, a range scan of that hour's minutes (usually just the current hour)."""
    sql, values = recompute_slices_sql(definition)
    await conn.executemany(sql, [
        [services, [hour] * len(services), hour, hour + HOUR, *values[4:]] for hour, services in sorted(services_by_hour.items())
    ])
