"""The escalator's units of work on incident events and configuration, used by the consumer, the
ticker and the routes. Each takes a connection inside the caller's transaction and the time `now`;
the decisions come from the pure `policy` and `rotation` modules. Firing due timers is `firing`'s."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import structlog

from services.escalator import repository as repo
from services.escalator.budget_policy import BudgetOfSlo, adjusted, adjustments, policy_for
from services.escalator.oncall_config import OnCallConfig, ScheduleSpec, load_yaml, parse, people_updates, schedule_of
from services.escalator.policy import IncidentState, PlannedStep, PolicyConfig, decide
from services.escalator.handoffs import reach
from services.escalator.rotation import OnCallWindow, Override, Schedule, on_call_window
from shared.events import IncidentEvent
from shared.outbox import enqueue_many, outbox_row

log = structlog.get_logger("vigil.escalator")
CE_SOURCE = "/vigil/escalator"
LOOKAHEAD = timedelta(days=2)  # overrides loaded for a plan: its steps fall within hours of now
WINDOW_BEFORE, WINDOW_AFTER = timedelta(hours=1), timedelta(days=3)
CACHED = 64  # entries per cache of the store (cleared when full)

Who = Callable[[str, datetime], list[str]]  # role, instant -> the people on call


class ConfigStore:
    """The configuration in force: the latest version in the database, re-read when it changes
    (another replica or the API stored a new one). Per version it keeps what every incident event
    needs decoded once: the policy snapshot document, its JSON text and its `PolicyConfig`. It also
    keeps the policies of incidents' stored snapshots and the on-call answers of recent hours."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.config: OnCallConfig | None = None
        self.policy_doc: dict | None = None  # config.policy as stored on each new incident (never mutated)
        self.policy_json: str | None = None  # json.dumps(policy_doc)
        self.policy: PolicyConfig | None = None  # PolicyConfig.model_validate(policy_doc)
        self._policies: dict[str, PolicyConfig] = {}  # other snapshots, by their sorted JSON
        self._windows: dict[tuple, dict[str, OnCallWindow]] = {}  # (schedule, overrides, hour) -> tier -> window

    async def current(self, conn: asyncpg.Connection) -> OnCallConfig:
        return await self.at_version(conn, await repo.latest_config_version(conn))

    async def at_version(self, conn: asyncpg.Connection, version: int | None) -> OnCallConfig:
        """The configuration, given the latest version number read in the caller's transaction."""
        if version is None:
            raise RuntimeError("no escalator configuration stored (the file is imported at start)")
        if version != self.version or self.config is None:
            row = await repo.latest_config(conn)
            self._keep(row["version"], parse(row["document"], where=f"stored configuration v{row['version']}"))
        return self.config

    def _keep(self, version: int, config: OnCallConfig) -> None:
        self.policy_doc = config.policy.model_dump(mode="json")
        self.policy_json = json.dumps(self.policy_doc)
        self.policy = PolicyConfig.model_validate(self.policy_doc)
        self.config, self.version = config, version

    def policy_of(self, doc: dict) -> PolicyConfig:
        """The `PolicyConfig` of an incident's stored snapshot, decoded once per distinct document."""
        if doc == self.policy_doc:
            return self.policy
        key = json.dumps(doc, sort_keys=True)
        policy = self._policies.get(key)
        if policy is None:
            if len(self._policies) >= CACHED:
                self._policies.clear()
            policy = self._policies[key] = PolicyConfig.model_validate(doc)
        return policy

    def policy_text(self, doc: dict) -> str:
        """json.dumps of a policy snapshot; the configuration's own (the same object for every new
        incident) is encoded once per version."""
        return self.policy_json if doc is self.policy_doc else json.dumps(doc)

    async def store(self, conn: asyncpg.Connection, config: OnCallConfig, *, source: str, by: str, now: datetime,
                    file_hash: str | None = None) -> int:
        """Store `config` as the new version and publish its people (`publish_people`), both in the
        caller's transaction."""
        await repo.lock_config(conn)
        previous = await repo.latest_config(conn)
        version = await repo.insert_config(
            conn, document=config.model_dump(mode="json"), fingerprint=config.fingerprint(), source=source,
            file_hash=file_hash, by=by, now=now,
        )
        await publish_people(conn, config, previous=previous["document"] if previous else None, revision=version, now=now)
        self._keep(version, config)
        return version

    async def who_is_on_call_fn(
        self, conn: asyncpg.Connection, config: OnCallConfig, schedule: str, *, start: datetime, end: datetime
    ) -> Who:
        """role, instant → the people on call, with the overrides stored for [start, end)."""
        spec = config.schedule_spec(schedule) or config.schedule_spec(config.route({}))
        assert spec is not None
        overrides = [override_of(r) for r in await repo.overrides(conn, spec.name, start=start, end=end)]
        return self.on_call_fn(spec, overrides, now=start)

    def on_call_fn(self, spec: ScheduleSpec, overrides: list[tuple[str, Override]], *, now: datetime) -> Who:
        """role, instant → the people on call (`rotation.on_call` of the schedule's tier with its
        overrides). The rotation model and its effective shifts around `now` are computed once per
        (schedule, overrides, hour) and reused by every event and timer asking the same."""
        hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        key = (spec, tuple(overrides), hour)
        tiers = self._windows.get(key)
        if tiers is None:
            model = schedule_of(spec, overrides)
            tiers = {tier: on_call_window(rotation, tier_overrides, start=hour - WINDOW_BEFORE, end=hour + WINDOW_AFTER)
                     for tier, rotation, tier_overrides in model.tiers()}
            if len(self._windows) >= CACHED:
                self._windows.clear()
            self._windows[key] = tiers

        def who(role: str, at: datetime) -> list[str]:
            return tiers[role].on_call(at)

        return who


async def publish_people(conn: asyncpg.Connection, config: OnCallConfig, *, previous: dict | None, revision: int,
                         now: datetime) -> None:
    """Enqueue a PersonUpdated for every person of `config` at `revision` and a removal for each
    person of the `previous` document that it no longer has (through the outbox: published once
    the caller's transaction commits, never lost). vigil.people.v1 is compacted by person, so the
    topic keeps each person's latest state for a notifier that starts later."""
    gone_from = (previous or {}).get("people") or {}
    events = people_updates(config, previous=gone_from, revision=revision, now=now)
    if events:
        await enqueue_many(conn, schema=repo.SCHEMA, rows=[outbox_row(e, ce_source=CE_SOURCE) for e in events])
    log.info("people published", revision=revision, people=len(config.people), removed=len(events) - len(config.people))


async def import_file(conn: asyncpg.Connection, store: ConfigStore, path: Path, *, now: datetime) -> int | None:
    """Validate the YAML file (raising ConfigError) and store it as a new version when its content
    changed since it was last imported; returns the new version or None. A latest version whose
    people were never published (stored by an escalator before it published people) is published."""
    text = path.read_text()
    config = load_yaml(text, where=str(path))
    file_hash = hashlib.sha256(text.encode()).hexdigest()
    await repo.lock_config(conn)
    if await repo.last_file_hash(conn) == file_hash:
        unpublished = await repo.unpublished_people(conn)
        if unpublished is not None:
            stored = parse(unpublished["document"], where=f"stored configuration v{unpublished['version']}")
            await publish_people(conn, stored, previous=None, revision=unpublished["version"], now=now)
            await repo.mark_people_published(conn, unpublished["version"])
        return None
    version = await store.store(conn, config, source="file", by=f"file {path.name}", now=now, file_hash=file_hash)
    log.info("configuration imported", file=str(path), version=version)
    return version


def override_of(row: asyncpg.Record) -> tuple[str, Override]:
    return row["tier"], Override(person=row["person"], start_at=row["start_at"], end_at=row["end_at"], created_at=row["created_at"])


async def schedules_around(conn: asyncpg.Connection, store: ConfigStore, *, now: datetime,
                           lead: timedelta) -> tuple[OnCallConfig, list[tuple[str, Schedule]]]:
    """The configuration in force and each of its schedules with the overrides that can matter within
    `lead` of `now` (its longest shift further, so a stint that started or ends out there is whole) —
    what the shift-notice and handover jobs look at."""
    config = await store.current(conn)
    around = lead + max(reach(schedule_of(spec)) for spec in config.schedules)
    by_schedule: dict[str, list] = {}
    for row in await repo.overrides_between(conn, start=now - around, end=now + around):
        by_schedule.setdefault(row["schedule"], []).append(override_of(row))
    return config, [(spec.name, schedule_of(spec, by_schedule.get(spec.name, []))) for spec in config.schedules]


def planned_of(row: asyncpg.Record) -> PlannedStep:
    return PlannedStep(
        incident_id=row["incident_id"], escalation=row["escalation"], step=row["step"], repetition=row["repetition"],
        role=row["role"], action=row["action"], due_at=row["due_at"], reason=row["reason"],
        ticket_due_at=row["ticket_due_at"],
    )


async def budget_policies(conn: asyncpg.Connection, opening: list[IncidentEvent], config: OnCallConfig,
                          store: ConfigStore) -> dict[int, tuple[dict, str]]:
    """For incidents opening now whose service's error-budget state changes their policy (the
    configuration's `budget_policy`): incident id -> (the adjusted policy snapshot, why it differs)."""
    services = sorted({svc for e in opening if (svc := e.labels.get("service"))})
    if not config.budget_policy or not services:
        return {}
    states = await repo.budget_states_of(conn, services)
    out = {}
    for event in opening:
        service = event.labels.get("service")
        budgets = [BudgetOfSlo(r["slo"], r["state"], r["remaining_fraction"]) for r in states.get(service, [])]
        changes = adjustments(service=service, policy=policy_for(service, config.budget_policy), budgets=budgets)
        if changes:
            out[event.incident_id] = (adjusted(store.policy, changes).model_dump(mode="json"),
                                      "; ".join(c.reason for c in changes))
    return out


def _routing(event: IncidentEvent, stored: asyncpg.Record | None, config: OnCallConfig, store: ConfigStore,
             budget: dict[int, tuple[dict, str]] | None = None):
    """(schedule, policy snapshot document, the kind to decide on, acknowledged_at) for `event`;
    `budget`: the snapshots the error-budget policy adjusted, by incident."""
    if stored is None:
        schedule = config.route(event.labels)
        policy_doc = budget[event.incident_id][0] if budget and event.incident_id in budget else store.policy_doc
        # An incident first seen after it opened (the escalator was added later) still escalates.
        kind = "opened" if event.status != "resolved" and event.acknowledged_by is None else event.kind
    else:
        schedule, policy_doc, kind = stored["schedule"], stored["policy"], event.kind
    if event.kind == "acknowledged":
        acknowledged_at = event.occurred_at
    elif event.acknowledged_by is None:
        acknowledged_at = None
    else:
        acknowledged_at = (stored["acknowledged_at"] if stored else None) or event.occurred_at
    return schedule, policy_doc, kind, acknowledged_at


def _steps(event: IncidentEvent, stored: asyncpg.Record | None, *, kind: str, acknowledged_at: datetime | None,
           policy: PolicyConfig, planned: list[PlannedStep], who, now: datetime):
    """PURE: the decision for one event and the timers to store (ack-timeout reasons applied)."""
    incident = IncidentState(id=event.incident_id, version=event.version, severity=event.severity,
                             status=event.status, acknowledged_at=acknowledged_at, suppressed=event.suppressed)
    decision = decide(kind=kind, incident=incident, planned=planned, config=policy, targets=who, now=now)
    steps = list(decision.schedule)
    ack_timeout = kind == "unacknowledged" and stored is not None and stored["ack_timed_out"]
    if ack_timeout:
        # This unacknowledgement is the one our ack-timeout check asked for: say so on its pages.
        steps = [replace(s, reason="ack-timeout") if s.repetition == 0 and s.reason in ("initial", "escalation") else s for s in steps]
    return decision, steps, ack_timeout


def _with_budget(reason: str, budget: tuple[dict, str] | None) -> str:
    """The decision's reason, with why the error-budget policy changed the plan (when it did)."""
    return reason if budget is None else f"{reason} (budget policy: {budget[1]})"


def _incident_fields(event: IncidentEvent, *, acknowledged_at, schedule: str, policy: dict | str) -> dict:
    """The incident row's columns; `policy` the snapshot document (or its JSON text for the batch's upsert)."""
    return dict(id=event.incident_id, number=event.number, version=event.version, title=event.title,
                severity=event.severity, status=event.status, acknowledged_at=acknowledged_at,
                acknowledged_by=event.acknowledged_by, labels=event.labels, schedule=schedule, policy=policy,
                suppressed=event.suppressed)


async def apply_incident_event(conn: asyncpg.Connection, event: IncidentEvent, *, store: ConfigStore, now: datetime) -> Applied:
    """React to one incident event: store what the escalator knows of the incident and replace or
    stop its timers as the policy decides. Idempotent per event id and ordered by version."""
    if not await repo.mark_processed(conn, event.event_id):
        return Applied("duplicate", [])
    stored = await repo.get_incident(conn, event.incident_id, for_update=True)
    if stored is not None and event.version <= stored["version"]:
        return Applied(f"stale: version {event.version} ≤ {stored['version']}", [])
    config = await store.current(conn)
    budget = await budget_policies(conn, [event], config, store) if stored is None else {}
    schedule, policy_doc, kind, acknowledged_at = _routing(event, stored, config, store, budget)
    await repo.upsert_incident(conn, **_incident_fields(event, acknowledged_at=acknowledged_at, schedule=schedule,
                                                        policy=policy_doc), now=now)
    if budget:
        await repo.set_budget_notes(conn, {i: note for i, (_doc, note) in budget.items()})
    # A new incident has no timers yet: two round trips saved on the paging path.
    planned = [planned_of(r) for r in await repo.pending_timers(conn, event.incident_id)] if stored else []
    who = await store.who_is_on_call_fn(conn, config, schedule, start=now, end=now + LOOKAHEAD)
    decision, steps, ack_timeout = _steps(event, stored, kind=kind, acknowledged_at=acknowledged_at,
                                          policy=store.policy_of(policy_doc), planned=planned, who=who, now=now)
    if ack_timeout:
        await repo.set_ack_timed_out(conn, event.incident_id, False)
    if decision.cancel_all and stored is not None:
        await repo.cancel_pending(conn, event.incident_id, why=decision.reason, now=now)
    await repo.insert_timers(conn, steps, now=now)
    log.info("incident event applied", incident_id=event.number, event_id=event.event_id, kind=event.kind,
             version=event.version, decision=_with_budget(decision.reason, budget.get(event.incident_id)), timers=len(steps))
    return Applied(decision.reason, due_now=[s.id for s in steps if s.due_at <= now], config=config, who=who)


@dataclass(frozen=True)
class Applied:
    """What an incident event did: `due_now` are the ids of timers planned for now or earlier;
    `who` answers who is on call (overrides loaded) for firing them in the same transaction."""

    outcome: str
    due_now: list[str]
    config: OnCallConfig | None = None
    who: Who | None = None


@dataclass(frozen=True)
class DueNow:
    """A timer planned for now or earlier by an event of a batch, with what firing it needs: the
    incident as just stored, who is on call (overrides loaded in this transaction), and whether this
    transaction inserted the timer (so it holds its row: no lock query needed)."""

    step: PlannedStep
    incident: dict
    who: Who
    inserted: bool


@dataclass(frozen=True)
class BatchApplied:
    """`ticker_due`: the earliest due time of the stored timers the ticker will fire (none: no such
    timer); `notified`: whether the commit tells every ticker so by NOTIFY (else the caller wakes
    its own ticker after the commit)."""

    config: OnCallConfig
    due_now: list[DueNow]
    ticker_due: datetime | None = None
    notified: bool = False


async def apply_incident_events(
    conn: asyncpg.Connection, events: list[IncidentEvent], *, store: ConfigStore, now: datetime,
    notify_timers_within: timedelta | None = None,
) -> BatchApplied | None:
    """`apply_incident_event` for a poll's events at once, with set-based statements: the same
    rows, timers and decisions, a constant number of round trips per batch instead of ~10 per event.
    Only for events of distinct incidents (returns None otherwise: apply them one by one, in order).

    `notify_timers_within`: NOTIFY the tickers only when a stored timer is due sooner than that
    (None: whenever one is stored). Every ticker looks at the next due time at least every
    `max_idle_s` anyway, so a timer due later than that (twice it, to spare) is seen by all
    replicas in time without a NOTIFY — and the commit stays out of PostgreSQL's NOTIFY lock, which
    every notifying commit in the database takes in turn."""
    if len({e.incident_id for e in events}) != len(events):
        return None
    marked = await repo.mark_processed_many(conn, [e.event_id for e in events])
    config = await store.at_version(conn, marked["config_version"])
    fresh_ids = set(marked["fresh"])
    fresh = [e for e in events if e.event_id in fresh_ids]
    stored_rows = await repo.incidents_for_update(conn, [e.incident_id for e in fresh]) if fresh else {}
    budget = await budget_policies(conn, [e for e in fresh if e.incident_id not in stored_rows], config, store)
    work = []
    for event in fresh:
        stored = stored_rows.get(event.incident_id)
        if stored is not None and event.version <= stored["version"]:
            log.info("incident event applied", incident_id=event.number, event_id=event.event_id, kind=event.kind,
                     version=event.version, decision=f"stale: version {event.version} ≤ {stored['version']}", timers=0)
            continue
        work.append((event, stored, *_routing(event, stored, config, store, budget)))
    if not work:
        return BatchApplied(config, [])
    await repo.upsert_incidents(conn, [
        _incident_fields(event, acknowledged_at=ack, schedule=schedule, policy=store.policy_text(doc))
        for event, _stored, schedule, doc, _kind, ack in work
    ], now=now)
    if budget:
        await repo.set_budget_notes(conn, {i: note for i, (_doc, note) in budget.items()})
    known = [event.incident_id for event, stored, *_ in work if stored is not None]
    pending: dict[int, list[PlannedStep]] = {}
    for row in await repo.pending_timers_of(conn, known) if known else []:
        pending.setdefault(row["incident_id"], []).append(planned_of(row))
    whos: dict[str, Who] = {}
    for schedule in dict.fromkeys(schedule for _e, _s, schedule, *_ in work):
        whos[schedule] = await store.who_is_on_call_fn(conn, config, schedule, start=now, end=now + LOOKAHEAD)
    all_steps: list[PlannedStep] = []
    cancels: list[tuple[int, str]] = []
    due: list[tuple[PlannedStep, dict, Who]] = []
    for event, stored, schedule, doc, kind, ack in work:
        decision, steps, ack_timeout = _steps(event, stored, kind=kind, acknowledged_at=ack, policy=store.policy_of(doc),
                                              planned=pending.get(event.incident_id, []), who=whos[schedule], now=now)
        if ack_timeout:
            await repo.set_ack_timed_out(conn, event.incident_id, False)
        if decision.cancel_all and stored is not None:
            cancels.append((event.incident_id, decision.reason))
        all_steps += steps
        incident = dict(id=event.incident_id, number=event.number, severity=event.severity, title=event.title, schedule=schedule,
                        budget_note=stored["budget_note"] if stored is not None else budget.get(event.incident_id, (None, None))[1])
        # The order the one-by-one path fires them in (LOCK_PENDING): by due time, then step.
        due += [(s, incident, whos[schedule]) for s in sorted(steps, key=lambda s: (s.due_at, s.step))
                if s.due_at <= now and s.action != "ack_check"]
        log.info("incident event applied", incident_id=event.number, event_id=event.event_id, kind=event.kind,
                 version=event.version, decision=_with_budget(decision.reason, budget.get(event.incident_id)),
                 timers=len(steps))
    if cancels:
        await repo.cancel_pending_many(conn, cancels, now=now)
    ticker_due = repo.ticker_due(all_steps, now=now)
    notify = ticker_due is not None and (notify_timers_within is None or ticker_due < now + notify_timers_within)
    inserted = await repo.insert_timers(conn, all_steps, now=now, notify=notify)
    return BatchApplied(config, [DueNow(step, incident, who, step.id in inserted) for step, incident, who in due],
                        ticker_due=ticker_due, notified=notify)
