"""The SQL of silences and of what they (and scoped maintenance windows) suppressed. Functions take
a connection; the caller's unit of work owns the transaction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.incidents.silences import MaintenanceScope, Silence, Suppressions, matchers_of

SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at, expired_by, released_at"

# What can still hold an alert, in one round trip: silences not ended, scoped maintenance windows
# not ended. Both tables stay small (what ended is kept for the record; ends_at is indexed).
LIVE_SUPPRESSIONS = """
SELECT 'silence' AS kind, id, matchers, starts_at, ends_at, NULL::text AS activity, NULL::text AS service
FROM incidents.silence WHERE ends_at > $1
UNION ALL
SELECT 'window', id, matchers, starts_at, ends_at, activity, service FROM incidents.maintenance_window
WHERE ends_at > $1 AND (service IS NOT NULL OR matchers <> '[]'::jsonb)"""

INSERT_SILENCE = f"""
INSERT INTO incidents.silence (matchers, starts_at, ends_at, created_by, comment, created_at)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SILENCE_COLUMNS}"""

GET_SILENCE = f"SELECT {SILENCE_COLUMNS} FROM incidents.silence WHERE id = $1"

# Expiring ends it now (Alertmanager's expire); one that has not started yet ends at its start.
EXPIRE_SILENCE = f"""
UPDATE incidents.silence SET ends_at = greatest(starts_at, $2), expired_at = $2, expired_by = $3
WHERE id = $1 AND ends_at > $2 RETURNING {SILENCE_COLUMNS}"""

LIST_SILENCES = f"""
SELECT {SILENCE_COLUMNS},
       (SELECT count(*) FROM incidents.alert_occurrence o WHERE o.suppressed_by = s.id) AS suppressed_alerts,
       (SELECT count(*) FROM incidents.alert_occurrence o
        WHERE o.suppressed_by = s.id AND o.status = 'firing' AND o.incident_id IS NULL) AS held_alerts
FROM incidents.silence s
WHERE ($1::text IS NULL
       OR ($1 = 'active' AND starts_at <= $2 AND ends_at > $2)
       OR ($1 = 'pending' AND starts_at > $2)
       OR ($1 = 'expired' AND ends_at <= $2))
ORDER BY ends_at DESC, id DESC LIMIT $3"""

SUPPRESSED_ALERTS = """
SELECT fingerprint, starts_at, status, alertname, labels, annotations, severity, incident_id, suppressed_by,
       first_seen_at, last_seen_at, ends_at
FROM incidents.alert_occurrence
WHERE suppressed_by = $1 ORDER BY first_seen_at, fingerprint LIMIT $2"""

# The check: silences whose end has passed and that may still hold alerts, and the alerts they hold
# (claimed: another replica skips what this one holds, and a released alert has an incident, so it
# is never released twice).
ENDED_SILENCES = """
SELECT id, ends_at, expired_by FROM incidents.silence WHERE released_at IS NULL AND ends_at <= $1
ORDER BY ends_at, id LIMIT $2"""
HELD_ALERTS = """
SELECT fingerprint, starts_at, status, labels, annotations, severity, group_key, source, generator_url,
       first_seen_at, suppressed_by
FROM incidents.alert_occurrence
WHERE suppressed_by = ANY($1::bigint[]) AND status = 'firing' AND incident_id IS NULL
ORDER BY fingerprint, starts_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
SILENCES_BY_ID = f"SELECT {SILENCE_COLUMNS} FROM incidents.silence WHERE id = ANY($1::bigint[])"
MOVE_HOLD = "UPDATE incidents.alert_occurrence SET suppressed_by = $3 WHERE fingerprint = $1 AND starts_at = $2"
RELEASE_ALERT = "UPDATE incidents.alert_occurrence SET incident_id = $3 WHERE fingerprint = $1 AND starts_at = $2"
# Done with a silence once it holds nothing and its end is `settled_before` ago: an alert folded
# just before the end, in a transaction that committed after a check, is still found by the next.
MARK_RELEASED = """
UPDATE incidents.silence s SET released_at = $2
WHERE s.id = ANY($1::bigint[]) AND s.released_at IS NULL AND s.ends_at <= $3 AND NOT EXISTS (
    SELECT 1 FROM incidents.alert_occurrence o
    WHERE o.suppressed_by = s.id AND o.status = 'firing' AND o.incident_id IS NULL)"""

# Open incidents a maintenance window suppressed whose window has ended (or was deleted): claimed, so
# with several replicas each is lifted once.
ENDED_WINDOW_INCIDENTS = """
SELECT i.id, i.suppressed_by_window FROM incidents.incident i
LEFT JOIN incidents.maintenance_window w ON w.id = i.suppressed_by_window
WHERE i.suppressed_by_window IS NOT NULL AND i.suppression_lifted_at IS NULL AND i.status <> 'resolved'
  AND (w.id IS NULL OR w.ends_at <= $1)
ORDER BY i.id LIMIT $2 FOR NO KEY UPDATE OF i SKIP LOCKED"""
LIFT_SUPPRESSION = "UPDATE incidents.incident SET suppression_lifted_at = $2 WHERE id = $1"

# The weekly review: silences created in the period, and alerts suppressed in it per silence and
# per maintenance window (an alert of an incident opened suppressed counts for its window).
SILENCES_CREATED_BETWEEN = f"""
SELECT {SILENCE_COLUMNS} FROM incidents.silence WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id"""
SUPPRESSED_BY_SILENCE = """
SELECT suppressed_by AS silence_id, count(*) AS alerts FROM incidents.alert_occurrence
WHERE suppressed_by IS NOT NULL AND first_seen_at >= $1 AND first_seen_at < $2
GROUP BY suppressed_by ORDER BY suppressed_by"""
SUPPRESSED_BY_WINDOW = """
SELECT i.suppressed_by_window AS window_id, w.activity, count(DISTINCT i.id) AS incidents, count(o.fingerprint) AS alerts
FROM incidents.incident i
LEFT JOIN incidents.alert_occurrence o ON o.incident_id = i.id
LEFT JOIN incidents.maintenance_window w ON w.id = i.suppressed_by_window
WHERE i.suppressed_by_window IS NOT NULL AND i.detected_at >= $1 AND i.detected_at < $2
GROUP BY i.suppressed_by_window, w.activity ORDER BY i.suppressed_by_window"""


async def live_suppressions(conn: asyncpg.Connection, now: datetime) -> Suppressions:
    """The silences and scoped maintenance windows not ended at `now`."""
    rows = await conn.fetch(LIVE_SUPPRESSIONS, now)
    return Suppressions(
        silences=tuple(Silence(r["id"], matchers_of(r["matchers"]), r["starts_at"], r["ends_at"])
                       for r in rows if r["kind"] == "silence"),
        windows=tuple(MaintenanceScope(r["id"], r["activity"], r["starts_at"], r["ends_at"], r["service"],
                                       matchers_of(r["matchers"])) for r in rows if r["kind"] == "window"),
    )


async def insert_silence(
    conn: asyncpg.Connection, *, matchers: list[dict], starts_at: datetime, ends_at: datetime, created_by: str,
    comment: str, now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_SILENCE, matchers, starts_at, ends_at, created_by, comment, now)


async def get_silence(conn: asyncpg.Connection, silence_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(GET_SILENCE, silence_id)


async def expire_silence(conn: asyncpg.Connection, silence_id: int, *, by: str, now: datetime) -> asyncpg.Record | None:
    """The silence, ended now; None when it does not exist or has ended already."""
    return await conn.fetchrow(EXPIRE_SILENCE, silence_id, now, by)


async def list_silences(conn: asyncpg.Connection, *, state: str | None, now: datetime, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_SILENCES, state, now, limit)


async def suppressed_alerts(conn: asyncpg.Connection, silence_id: int, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(SUPPRESSED_ALERTS, silence_id, limit)


async def ended_silences(conn: asyncpg.Connection, now: datetime, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(ENDED_SILENCES, now, limit)


async def held_alerts(conn: asyncpg.Connection, silence_ids: list[int], *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(HELD_ALERTS, silence_ids, limit)


async def silences_by_id(conn: asyncpg.Connection, silence_ids: list[int]) -> dict[int, asyncpg.Record]:
    return {r["id"]: r for r in await conn.fetch(SILENCES_BY_ID, silence_ids)}


async def move_hold(conn: asyncpg.Connection, fingerprint: str, starts_at: datetime, silence_id: int) -> None:
    await conn.execute(MOVE_HOLD, fingerprint, starts_at, silence_id)


async def release_alert(conn: asyncpg.Connection, fingerprint: str, starts_at: datetime, incident_id: int) -> None:
    await conn.execute(RELEASE_ALERT, fingerprint, starts_at, incident_id)


async def mark_released(conn: asyncpg.Connection, silence_ids: list[int], *, now: datetime, settled_before: datetime) -> None:
    await conn.execute(MARK_RELEASED, silence_ids, now, settled_before)


async def ended_window_incidents(conn: asyncpg.Connection, now: datetime, *, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(ENDED_WINDOW_INCIDENTS, now, limit)


async def lift_suppression(conn: asyncpg.Connection, incident_id: int, now: datetime) -> None:
    await conn.execute(LIFT_SUPPRESSION, incident_id, now)


async def silences_created_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(SILENCES_CREATED_BETWEEN, start, end)


async def suppressed_by_silence(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(SUPPRESSED_BY_SILENCE, start, end)


async def suppressed_by_window(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(SUPPRESSED_BY_WINDOW, start, end)
