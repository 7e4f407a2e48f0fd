"""The units of work of the incident service: what the alert consumer and the HTTP routes do, inside
the caller's transaction (the page and ticket consumer's are in `paging`). Decisions come from the
pure modules (`alerts`, `lifecycle`); this module carries them out with the repository and the outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime

import asyncpg
import structlog

from services.incidents import repository as repo
from services.incidents.alerts import Occurrence, Outcome, classify, group_of, timeline_text, title_of
from services.incidents.config import GroupingRules
from services.incidents.silences import MaintenanceScope, Suppressions, suppressed_text
from services.incidents.silencing.repository import live_suppressions
from services.incidents.lifecycle import (
    SYSTEM, Change, Entry, Incident, alert_fired_again, alert_severity_seen, all_alerts_resolved, flapping,
    flapping_ended, flapping_started, reopen,
)
from shared.clock import Clock
from shared.events import AlertEvent, IncidentEvent
from shared.outbox import enqueue, outbox_row

CE_SOURCE = "/vigil/incidents"
log = structlog.get_logger("vigil.incidents")


class NotFound(Exception):
    pass


# Runs in the transaction that resolves an incident, with its row as stored: app.py passes the
# operations wing's `open_for_resolved` (a SEV1/SEV2 gets its postmortem in that transaction).
OnResolved = Callable[[asyncpg.Connection, asyncpg.Record, datetime], Awaitable[object]]


class DirectWrites:
    """Where the alert path's writes (and its look-ups of a group's open incident) go when one
    alert is folded: straight to the database, in the order the code makes them. `AlertBatch`
    holds some of them back instead."""

    def __init__(self, conn: asyncpg.Connection, *, suppressions: Suppressions | None = None) -> None:
        self.conn = conn
        self._suppressions = suppressions

    async def suppressions(self, now: datetime) -> Suppressions:
        """The silences and scoped maintenance windows not ended at `now`, read once per instance
        (per alert, per batch) and only when a new firing alert needs them."""
        if self._suppressions is None:
            self._suppressions = await live_suppressions(self.conn, now)
        return self._suppressions

    async def open_incident_of_group(self, group: str) -> Incident | None:
        return await repo.open_incident_of_group(self.conn, group)

    def remember(self, group: str, incident: Incident) -> None:
        pass

    async def insert_occurrence(self, *, event: AlertEvent, incident_id: int | None, severity: int, group_key: str, now: datetime,
                                suppressed_by: int | None = None) -> None:
        await repo.insert_occurrence(self.conn, event=event, incident_id=incident_id, severity=severity, group_key=group_key,
                                     now=now, suppressed_by=suppressed_by)

    async def touch_occurrence(self, event: AlertEvent, now: datetime) -> None:
        await repo.touch_occurrence(self.conn, event, now)

    async def note_alert_start(self, incident_id: int, starts_at: datetime) -> None:
        await repo.note_alert_start(self.conn, incident_id, starts_at)

    async def add_timeline(self, incident_id: int, entries: list[Entry], *, at: datetime) -> None:
        await repo.add_timeline(self.conn, incident_id, entries, at=at)

    async def enqueue(self, event: IncidentEvent) -> None:
        await enqueue(self.conn, schema=repo.SCHEMA, event=event, ce_source=CE_SOURCE)

    async def flush(self) -> None:
        pass

    def forget_incidents(self) -> None:
        pass


class AlertBatch(DirectWrites):
    """The state of `handle_alerts` in one transaction: what it read ahead (and locked), and the
    writes it holds back and sends together.

    Held back until `flush`: new occurrences, touched occurrences, earlier incident starts,
    timeline entries and outbox events (encoded when made, stored in the order made; nothing in the
    transaction reads the outbox). Every other statement runs at once, in the order of the one-alert code. The
    held-back writes are sent before anything reads what they change: before an occurrence is read
    a second time, before the reopen look-up and before the resolve path. (The one exception is the
    row `apply` gets back after a severity change, whose `started_at` may not show the batch's
    earlier starts yet; only its event is made from it, and events carry no `started_at`.) Their
    effects do not depend on their order among each other, except the timeline's, which keeps
    it. The open incident of a group is looked up once per batch (locked), and then kept as this
    transaction changes it; the resolve path, which may change any incident, forgets them all. So
    the transaction ends with exactly the rows, ids and outbox events of folding the alerts one by
    one, which bench/incidents_equivalence.py checks.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__(conn)
        self.occurrences: dict[tuple[str, datetime], Occurrence] = {}  # read ahead, for each key's first use
        self.used: set[tuple[str, datetime]] = set()
        self.incidents: dict[str, Incident | None] = {}  # group -> its open incident, locked by us
        # At most one write per occurrence between flushes (`occurrence` flushes before a second
        # use); the dicts keep what the one-alert code would leave even if that did not hold: an
        # insert of an existing key does nothing, a later touch wins.
        self._new: dict[tuple[str, datetime], tuple] = {}
        self._touched: dict[tuple[str, datetime], datetime] = {}
        self._starts: dict[int, datetime] = {}
        self._timeline: list[tuple] = []
        self._outbox: list[tuple] = []  # encoded now (as `enqueue` would), stored in this order

    async def read_ahead(self, events: Sequence[AlertEvent], rules: GroupingRules) -> None:
        """Read (FOR UPDATE) the occurrences of the events and the open incidents of the groups
        their first firings will look up: one query each instead of one per event."""
        keys = list(dict.fromkeys((e.fingerprint, e.starts_at) for e in events))
        self.occurrences = await repo.get_occurrences(self.conn, keys) if keys else {}
        groups: dict[str, None] = {}
        seen: set[tuple[str, datetime]] = set()
        for e in events:
            key = (e.fingerprint, e.starts_at)
            if key in seen:
                continue
            seen.add(key)
            if key not in self.occurrences and classify(e, None) is Outcome.NEW_FIRING:
                groups[group_of(e, group_by=rules.group_by)] = None
        if groups:
            found = await repo.open_incidents_of_groups(self.conn, list(groups))
            self.incidents = {g: found.get(g) for g in groups}

    async def occurrence(self, event: AlertEvent) -> Occurrence | None:
        key = (event.fingerprint, event.starts_at)
        if key not in self.used:
            self.used.add(key)
            return self.occurrences.get(key)
        await self.flush()  # this batch changed it: read it as the one-alert code would
        return await repo.get_occurrence(self.conn, event.fingerprint, event.starts_at)

    async def open_incident_of_group(self, group: str) -> Incident | None:
        if group in self.incidents:
            return self.incidents[group]
        incident = await repo.open_incident_of_group(self.conn, group)
        self.incidents[group] = incident
        return incident

    def remember(self, group: str, incident: Incident) -> None:
        """`incident` is the group's open incident as this transaction left it."""
        self.incidents[group] = incident

    def forget_incidents(self) -> None:
        self.incidents.clear()

    async def insert_occurrence(self, *, event: AlertEvent, incident_id: int | None, severity: int, group_key: str, now: datetime,
                                suppressed_by: int | None = None) -> None:
        self._new.setdefault(
            (event.fingerprint, event.starts_at),
            repo.occurrence_args(event=event, incident_id=incident_id, severity=severity, group_key=group_key, now=now,
                                 suppressed_by=suppressed_by),
        )

    async def touch_occurrence(self, event: AlertEvent, now: datetime) -> None:
        self._touched[(event.fingerprint, event.starts_at)] = now

    async def note_alert_start(self, incident_id: int, starts_at: datetime) -> None:
        # Several "start no later than" updates of one incident leave the earliest.
        known = self._starts.get(incident_id)
        if known is None or starts_at < known:
            self._starts[incident_id] = starts_at

    async def add_timeline(self, incident_id: int, entries: list[Entry], *, at: datetime) -> None:
        self._timeline.extend(repo.timeline_args(incident_id, entries, at=at))

    async def enqueue(self, event: IncidentEvent) -> None:
        self._outbox.append(outbox_row(event, ce_source=CE_SOURCE))

    async def flush(self) -> None:
        if self._outbox or self._new or self._timeline:
            # Outbox events, new occurrences and timeline entries: one statement (nothing reads
            # them in between; the timeline rows refer only to incidents that exist already).
            await repo.insert_batch(self.conn, outbox=self._outbox, occurrences=list(self._new.values()), timeline=self._timeline)
            self._outbox, self._new, self._timeline = [], {}, []
        if self._touched:
            await repo.touch_occurrences(self.conn, [(fp, starts, now) for (fp, starts), now in self._touched.items()])
            self._touched = {}
        if self._starts:
            await repo.note_alert_starts(self.conn, list(self._starts.items()))
            self._starts = {}


async def publish(
    conn: asyncpg.Connection, row: asyncpg.Record, kinds: list[str], *, actor: str | None, now: datetime,
    writes: DirectWrites | None = None,
) -> None:
    writes = writes or DirectWrites(conn)
    for kind in kinds:
        event = IncidentEvent(
            event_id=IncidentEvent.id_for(incident_id=row["id"], version=row["version"], kind=kind),
            occurred_at=now, source="incidents", kind=kind, incident_id=row["id"], number=f"INC-{row['id']}",
            version=row["version"], title=row["title"], severity=row["severity"], status=row["status"],
            acknowledged_by=row["acknowledged_by"], commander=row["commander"], actor=actor,
            labels=row["labels"], detected_at=row["detected_at"], suppressed=row["suppressed_by_window"] is not None and row["suppression_lifted_at"] is None,
        )
        await writes.enqueue(event)


def log_lifecycle(row: asyncpg.Record, kinds: list[str], *, actor: str | None, alert: AlertEvent | None) -> None:
    """One info line per lifecycle event ("incident opened", "incident acknowledged", …) with the
    incident (and the alert that made it) bound in the log context, so the logs of INC-42 tell its
    story. Only opened or changed incidents get here, never an alert firing again into an open one."""
    if not kinds:  # a change without a lifecycle event (a timeline note, a person confirming the SEV)
        return
    context = {"incident_id": f"INC-{row['id']}"}
    if alert is not None:
        context.update(fingerprint=alert.fingerprint, event_id=alert.event_id)
    with structlog.contextvars.bound_contextvars(**context):
        for kind in kinds:
            extra = {"title": row["title"]} if kind == "opened" else {"commander": row["commander"]} if kind == "commander_assigned" else {}
            log.info(f"incident {kind.replace('_', ' ')}", status=row["status"], severity=f"SEV{row['severity']}", actor=actor, **extra)


async def apply(
    conn: asyncpg.Connection, change: Change, *, now: datetime, actor: str | None = None, writes: DirectWrites | None = None,
    alert: AlertEvent | None = None, on_resolved: OnResolved | None = None,
) -> asyncpg.Record:
    """Store a lifecycle decision: the incident, its timeline entries and its events (outbox); a
    resolve then calls `on_resolved` in the same transaction. `alert`: the alert event that made
    the change (for the log)."""
    writes = writes or DirectWrites(conn)
    incident = change.incident
    row = await repo.save_lifecycle(conn, incident, now)
    await writes.add_timeline(incident.id, change.entries, at=now)
    actor = actor or (change.entries[0].actor if change.entries else None)
    await publish(conn, row, list(change.events), actor=actor, now=now, writes=writes)
    log_lifecycle(row, change.events, actor=actor, alert=alert)
    if on_resolved is not None and "resolved" in change.events:
        await writes.flush()  # the hook reads the incident's timeline
        await on_resolved(conn, row, now)
    return row


async def change_incident(
    conn: asyncpg.Connection, incident_id: int, decide: Callable[[Incident], Change], *, now: datetime,
    on_resolved: OnResolved | None = None,
) -> tuple[asyncpg.Record, Change]:
    """Lock the incident, let `decide` (a lifecycle function; may raise Refused) say what changes,
    and store it. An idempotent repeat writes nothing."""
    row = await repo.get_incident_row(conn, incident_id, for_update=True)
    if row is None:
        raise NotFound(f"no incident INC-{incident_id}")
    change = decide(repo.incident_from_row(row))
    if change.changed:
        row = await apply(conn, change, now=now, on_resolved=on_resolved)
    return row, change


async def open_incident(
    conn: asyncpg.Connection, *, group_key: str, title: str, severity: int, detected_by: str, labels: dict,
    started_at: datetime, now: datetime, actor: str, opened_text: str, impact_text: str | None = None,
    commander: str | None = None, severity_source: str = "alerts", detected_at: datetime | None = None,
    writes: DirectWrites | None = None, alert: AlertEvent | None = None, suppressed_by: MaintenanceScope | None = None,
) -> asyncpg.Record | None:
    """Open a new incident; None if the group already has an open one (a concurrent transaction won).
    `alert`: the alert event that opened it (for the log). `suppressed_by`: the maintenance window
    whose scope it opened in: recorded and visible, never paged (its events say `suppressed`)."""
    writes = writes or DirectWrites(conn)
    row = await repo.insert_incident(
        conn, group_key=group_key, title=title, severity=severity, detected_by=detected_by, labels=labels,
        started_at=started_at, detected_at=detected_at or now, impact_text=impact_text, commander=commander,
        severity_source=severity_source, suppressed_by_window=suppressed_by.id if suppressed_by else None,
    )
    if row is None:
        return None
    entries = [Entry("opened", opened_text, actor)]
    if suppressed_by is not None:
        entries.append(Entry("suppressed", suppressed_text(suppressed_by), SYSTEM))
    await writes.add_timeline(row["id"], entries, at=now)
    await publish(conn, row, ["opened"], actor=actor, now=now, writes=writes)
    log_lifecycle(row, ["opened"], actor=actor, alert=alert)
    return row


async def handle_alert(
    conn: asyncpg.Connection, event: AlertEvent, *, rules: GroupingRules, now: datetime, on_resolved: OnResolved | None = None
) -> Outcome | None:
    """Fold one alert event into occurrences and incidents. Returns what it was (None: a duplicate
    event id, nothing done). `on_resolved`: see `apply`."""
    if not await repo.mark_processed(conn, event.event_id):
        return None
    occurrence = await repo.get_occurrence(conn, event.fingerprint, event.starts_at)
    return await _fold(conn, event, occurrence, rules=rules, now=now, writes=DirectWrites(conn), on_resolved=on_resolved)


async def handle_alerts(
    conn: asyncpg.Connection, events: Sequence[AlertEvent], *, rules: GroupingRules, clock: Clock,
    on_resolved: OnResolved | None = None,
) -> list[Outcome | None]:
    """Fold many alert events, in order, in the caller's transaction: the same rows, incident ids,
    timeline and outbox events as `handle_alert` on each in turn (with `now=clock()` per event),
    in a few round trips per batch instead of several per event. Duplicate ids are found with one
    statement, the occurrences and the groups' open incidents are read (and locked) ahead with one
    each, and the writes nothing reads back are sent together (`AlertBatch`)."""
    first_seen = await repo.mark_processed_many(conn, [e.event_id for e in events])
    fresh: list[AlertEvent | None] = []  # None: a duplicate id (a second copy in the batch is one too)
    for event in events:
        if event.event_id in first_seen:
            first_seen.discard(event.event_id)
            fresh.append(event)
        else:
            fresh.append(None)
    batch = AlertBatch(conn)
    await batch.read_ahead([e for e in fresh if e is not None], rules)
    outcomes: list[Outcome | None] = []
    for event in fresh:
        now = clock()
        if event is None:
            outcomes.append(None)
            continue
        occurrence = await batch.occurrence(event)
        outcomes.append(await _fold(conn, event, occurrence, rules=rules, now=now, writes=batch, on_resolved=on_resolved))
    await batch.flush()
    return outcomes


async def _fold(
    conn: asyncpg.Connection, event: AlertEvent, occurrence: Occurrence | None, *, rules: GroupingRules,
    now: datetime, writes: DirectWrites, on_resolved: OnResolved | None,
) -> Outcome:
    outcome = classify(event, occurrence)
    severity = rules.severity_of(event.labels)
    group = group_of(event, group_by=rules.group_by)
    if outcome in (Outcome.REPEAT, Outcome.STALE_FIRING, Outcome.REPEAT_RESOLVE):
        await writes.touch_occurrence(event, now)
    elif outcome is Outcome.ORPHAN_RESOLVE:
        await writes.insert_occurrence(event=event, incident_id=None, severity=severity, group_key=group, now=now)
    elif outcome is Outcome.NEW_FIRING:
        silence = (await writes.suppressions(now)).silence_for(event.labels, now)
        if silence is not None:  # recorded as suppressed; its silence's end hands it to the normal path
            await writes.insert_occurrence(event=event, incident_id=None, severity=severity, group_key=group, now=now,
                                           suppressed_by=silence.id)
            return Outcome.SILENCED
        await _attach_new_firing(conn, event, severity=severity, group=group, rules=rules, now=now, writes=writes)
    elif outcome is Outcome.RESOLVE:
        # Reads occurrences and incidents and may change any of the incident's fields: with
        # nothing held back, and nothing remembered afterwards.
        await writes.flush()
        await repo.resolve_occurrence(conn, event, now)
        if occurrence.incident_id is not None:
            await _alert_resolved(conn, event, occurrence.incident_id, rules=rules, now=now, on_resolved=on_resolved)
        writes.forget_incidents()
    return outcome


async def attach_firing(
    conn: asyncpg.Connection, event: AlertEvent, *, severity: int, group: str, rules: GroupingRules, now: datetime,
    writes: DirectWrites,
) -> None:
    """What a new firing alert does — join its group's (or a correlated) incident, reopen, or open
    one — for an alert a silence held until now (`services.incidents.silencing`)."""
    await _attach_new_firing(conn, event, severity=severity, group=group, rules=rules, now=now, writes=writes)


async def _attach_new_firing(
    conn: asyncpg.Connection, event: AlertEvent, *, severity: int, group: str, rules: GroupingRules, now: datetime,
    writes: DirectWrites,
) -> None:
    incident = await writes.open_incident_of_group(group)
    if incident is None and rules.correlation_window is not None and (value := event.labels.get(rules.correlate_by)):
        await writes.flush()  # the query reads incidents this batch may have opened
        incident = await repo.open_incident_correlated(conn, rules.correlate_by, value, now - rules.correlation_window)
        if incident is not None:
            text = (f"alert {event.labels.get('alertname', event.fingerprint)} joined: the same {rules.correlate_by} "
                    f"({value}) within {rules.correlation_window.total_seconds() / 60:g} min of this incident")
            await writes.add_timeline(incident.id, [Entry("correlated", text, SYSTEM)], at=now)
    if incident is None and rules.reopen_window is not None:
        await writes.flush()  # the query reads occurrences
        resolved = await repo.recently_resolved_with_fingerprint(conn, event.fingerprint, now - rules.reopen_window)
        if resolved is not None:
            change = reopen(resolved, by="vigil", reason=f"alert {event.fingerprint} fired again", now=now)
            await apply(conn, change, now=now, writes=writes, alert=event)  # a reopen: never a resolve
            incident = change.incident
    if incident is None:
        window = (await writes.suppressions(now)).window_for(event.labels, now)
        row = await open_incident(
            conn, group_key=group, title=title_of(event), severity=severity, detected_by="alert",
            labels=event.labels, started_at=event.starts_at, now=now, actor="vigil",
            detected_at=event.occurred_at,  # when Vigil received the alert, not when it was folded
            opened_text=f"opened from alert {event.labels.get('alertname', event.fingerprint)}",
            writes=writes, alert=event, suppressed_by=window,
        )
        if row is None:  # another consumer opened the group's incident a moment ago
            incident = await repo.open_incident_of_group(conn, group)
        else:
            incident = repo.incident_from_row(row)
    elif incident.status == "mitigating":
        await writes.flush()  # the count reads occurrences
        if await repo.firing_count(conn, incident.id) == 0 and await repo.flapping_since(conn, incident.id) is None:
            # Its escalation stopped when the alerts resolved: it resumes (once, even when this
            # firing starts flapping — from then on the alerts' changes leave the escalation alone).
            await _starts_flapping(conn, incident, rules=rules, now=now, pending=1)  # this firing's entry is not written yet
            change = alert_fired_again(incident, alert=event.labels.get("alertname", event.fingerprint))
            await apply(conn, change, now=now, writes=writes, alert=event)
            incident = change.incident
    await writes.insert_occurrence(event=event, incident_id=incident.id, severity=severity, group_key=group, now=now)
    # `incident` is the row as this transaction holds it (locked): the update would change nothing
    # unless the alert started earlier. (A new incident starts when its first alert started.)
    if event.starts_at < incident.started_at:
        await writes.note_alert_start(incident.id, event.starts_at)
    await writes.add_timeline(incident.id, [Entry("alert_firing", timeline_text(event), "alertmanager")], at=now)
    change = alert_severity_seen(incident, severity=severity)
    if change.changed:
        await apply(conn, change, now=now, writes=writes, alert=event)
        incident = change.incident
    if event.starts_at < incident.started_at:  # what note_alert_start did to it
        incident = replace(incident, started_at=event.starts_at)
    writes.remember(group, incident)


async def _alert_resolved(
    conn: asyncpg.Connection, event: AlertEvent, incident_id: int, *, rules: GroupingRules, now: datetime,
    on_resolved: OnResolved | None,
) -> None:
    row = await repo.get_incident_row(conn, incident_id, for_update=True)
    await repo.add_timeline(conn, incident_id, [Entry("alert_resolved", timeline_text(event), "alertmanager")], at=now)
    if await repo.firing_count(conn, incident_id) == 0:
        incident = repo.incident_from_row(row)
        if incident.status != "resolved" and (await repo.flapping_since(conn, incident_id) is not None
                                              or await _starts_flapping(conn, incident, rules=rules, now=now)):
            return  # flapping: it stays as it is until its alerts are stable (`settle_flapping`)
        change = all_alerts_resolved(incident, auto_resolve_sevs=rules.auto_resolve_sevs, now=now)
        if change.changed:
            await apply(conn, change, now=now, alert=event, on_resolved=on_resolved)


async def _starts_flapping(conn: asyncpg.Connection, incident: Incident, *, rules: GroupingRules, now: datetime,
                           pending: int = 0) -> bool:
    """Whether the incident's alerts start flapping now (`pending`: changes not in its timeline yet);
    if so it is marked, with a timeline entry saying what that means."""
    if not rules.flap_changes:
        return False
    changes = await repo.alert_changes_since(conn, incident.id, now - rules.flap_window) + pending
    if not flapping(changes, limit=rules.flap_changes):
        return False
    await repo.set_flapping(conn, incident.id, now)
    await repo.add_timeline(conn, incident.id, flapping_started(incident, changes=changes, window=rules.flap_window).entries,
                            at=now)
    log.info("incident flapping", incident_id=f"INC-{incident.id}", changes=changes)
    return True


async def settle_flapping(pool: asyncpg.Pool, *, rules: GroupingRules, now: datetime,
                          on_resolved: OnResolved | None) -> int:
    """End flapping where the alerts have been stable for the flap window: the timeline says so,
    and an incident whose alerts all resolved meanwhile is now treated as such (SEV3/SEV4 resolve,
    SEV1/SEV2 stop paging and wait in Mitigating). Several replicas: each incident is settled once."""
    if not rules.flap_changes:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        settled = await repo.flapping_settled(conn, stable_since=now - rules.flap_window)
        for row in settled:
            await repo.set_flapping(conn, row["id"], None)
            if row["status"] == "resolved":
                continue
            incident = repo.incident_from_row(await repo.get_incident_row(conn, row["id"], for_update=True))
            firing = await repo.firing_count(conn, incident.id)
            await repo.add_timeline(conn, incident.id, flapping_ended(incident, window=rules.flap_window, firing=firing).entries,
                                    at=now)
            log.info("incident stable again", incident_id=f"INC-{incident.id}", firing=firing)
            if firing == 0:
                change = all_alerts_resolved(incident, auto_resolve_sevs=rules.auto_resolve_sevs, now=now)
                if change.changed:
                    await apply(conn, change, now=now, on_resolved=on_resolved)
    return len(settled)
