"""The escalator's units of work, shared by the consumer, the ticker and the routes. Each takes a
connection inside the caller's transaction and the time `now`; the decisions come from the pure
`policy` and `rotation` modules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import structlog

from services.escalator import repository as repo
from services.escalator.oncall_config import OnCallConfig, load_yaml, parse, schedule_of
from services.escalator.policy import IncidentState, PlannedStep, PolicyConfig, decide
from services.escalator.rotation import Override, on_call
from shared.events import IncidentEvent, PageRequested, TicketRequested
from shared.outbox import enqueue

log = structlog.get_logger("vigil.escalator")
CE_SOURCE = "/vigil/escalator"
LOOKAHEAD = timedelta(days=2)  # overrides loaded for a plan: its steps fall within hours of now


class ConfigStore:
    """The configuration in force: the latest version in the database, re-read when it changes
    (another replica or the API stored a new one)."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.config: OnCallConfig | None = None

    async def current(self, conn: asyncpg.Connection) -> OnCallConfig:
        version = await repo.latest_config_version(conn)
        if version is None:
            raise RuntimeError("no escalator configuration stored (the file is imported at start)")
        if version != self.version or self.config is None:
            row = await repo.latest_config(conn)
            self.config, self.version = parse(row["document"], where=f"stored configuration v{row['version']}"), row["version"]
        return self.config

    async def store(self, conn: asyncpg.Connection, config: OnCallConfig, *, source: str, by: str, now: datetime,
                    file_hash: str | None = None) -> int:
        version = await repo.insert_config(
            conn, document=config.model_dump(mode="json"), fingerprint=config.fingerprint(), source=source,
            file_hash=file_hash, by=by, now=now,
        )
        self.version, self.config = version, config
        return version


async def import_file(conn: asyncpg.Connection, store: ConfigStore, path: Path, *, now: datetime) -> int | None:
    """Validate the YAML file (raising ConfigError) and store it as a new version when its content
    changed since it was last imported; returns the new version or None."""
    text = path.read_text()
    config = load_yaml(text, where=str(path))
    file_hash = hashlib.sha256(text.encode()).hexdigest()
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('vigil-escalator-config', 0))")
    if await repo.last_file_hash(conn) == file_hash:
        return None
    version = await store.store(conn, config, source="file", by=f"file {path.name}", now=now, file_hash=file_hash)
    log.info("configuration imported", file=str(path), version=version)
    return version


def override_of(row: asyncpg.Record) -> tuple[str, Override]:
    return row["tier"], Override(person=row["person"], start_at=row["start_at"], end_at=row["end_at"], created_at=row["created_at"])


async def who_is_on_call_fn(
    conn: asyncpg.Connection, config: OnCallConfig, schedule: str, *, start: datetime, end: datetime
) -> Callable[[str, datetime], list[str]]:
    """role, instant → the people on call, with the overrides stored for [start, end)."""
    spec = config.schedule_spec(schedule) or config.schedule_spec(config.route({}))
    assert spec is not None
    overrides = [override_of(r) for r in await repo.overrides(conn, spec.name, start=start, end=end)]
    model = schedule_of(spec, overrides)

    tiers = {tier: (rotation, tier_overrides) for tier, rotation, tier_overrides in model.tiers()}

    def who(role: str, at: datetime) -> list[str]:
        rotation, tier_overrides = tiers[role]
        return on_call(rotation, tier_overrides, at=at)

    return who


def planned_of(row: asyncpg.Record) -> PlannedStep:
    return PlannedStep(
        incident_id=row["incident_id"], escalation=row["escalation"], step=row["step"], repetition=row["repetition"],
        role=row["role"], action=row["action"], due_at=row["due_at"], reason=row["reason"],
        ticket_due_at=row["ticket_due_at"],
    )


async def apply_incident_event(conn: asyncpg.Connection, event: IncidentEvent, *, store: ConfigStore, now: datetime) -> Applied:
    """React to one incident event: store what the escalator knows of the incident and replace or
    stop its timers as the policy decides. Idempotent per event id and ordered by version."""
    if not await repo.mark_processed(conn, event.event_id):
        return Applied("duplicate", [])
    stored = await repo.get_incident(conn, event.incident_id, for_update=True)
    if stored is not None and event.version <= stored["version"]:
        return Applied(f"stale: version {event.version} ≤ {stored['version']}", [])
    config = await store.current(conn)
    if stored is None:
        schedule, policy_doc = config.route(event.labels), config.policy.model_dump(mode="json")
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
    await repo.upsert_incident(
        conn, id=event.incident_id, number=event.number, version=event.version, title=event.title,
        severity=event.severity, status=event.status, acknowledged_at=acknowledged_at,
        acknowledged_by=event.acknowledged_by, labels=event.labels, schedule=schedule, policy=policy_doc, now=now,
    )
    policy = PolicyConfig.model_validate(policy_doc)
    incident = IncidentState(id=event.incident_id, version=event.version, severity=event.severity,
                             status=event.status, acknowledged_at=acknowledged_at)
    # A new incident has no timers yet: two round trips saved on the paging path.
    planned = [planned_of(r) for r in await repo.pending_timers(conn, event.incident_id)] if stored else []
    who = await who_is_on_call_fn(conn, config, schedule, start=now, end=now + LOOKAHEAD)
    decision = decide(kind=kind, incident=incident, planned=planned, config=policy, targets=who, now=now)
    steps = list(decision.schedule)
    if kind == "unacknowledged" and stored is not None and stored["ack_timed_out"]:
        # This unacknowledgement is the one our ack-timeout check asked for: say so on its pages.
        steps = [replace(s, reason="ack-timeout") if s.repetition == 0 and s.reason in ("initial", "escalation") else s for s in steps]
        await repo.set_ack_timed_out(conn, event.incident_id, False)
    if decision.cancel_all and stored is not None:
        await repo.cancel_pending(conn, event.incident_id, why=decision.reason, now=now)
    await repo.insert_timers(conn, steps)
    log.info("incident event applied", incident=event.number, kind=event.kind, version=event.version,
             decision=decision.reason, timers=len(steps))
    return Applied(decision.reason, due_now=[s.id for s in steps if s.due_at <= now], config=config, who=who)


@dataclass(frozen=True)
class Applied:
    """What an incident event did: `due_now` are the ids of timers planned for now or earlier;
    `who` answers who is on call (overrides loaded) for firing them in the same transaction."""

    outcome: str
    due_now: list[str]
    config: OnCallConfig | None = None
    who: Callable[[str, datetime], list[str]] | None = None


@dataclass(frozen=True)
class Fired:
    """What firing a timer did; `unacknowledge` asks the caller to clear a lapsed acknowledgement
    through the incident service before the transaction commits."""

    outcome: str
    sent: int = 0
    action: str = ""
    unacknowledge: str | None = None
    number: str = ""


def links_for(link_base: str | None, incident_id: int) -> dict[str, str]:
    return {"incident": f"{link_base}/api/v1/incidents/{incident_id}"} if link_base else {}


async def fire_timer(
    conn: asyncpg.Connection, timer: asyncpg.Record, *, config: OnCallConfig, now: datetime, link_base: str | None,
    who: Callable[[str, datetime], list[str]] | None = None,
) -> Fired:
    """Carry out one due timer: pages/notifications to whoever is on call now for its role (both
    engineers during a handoff overlap), a ticket, or the acknowledgement-timeout check. Every page
    and ticket id is unique in the database and written to the outbox in this transaction."""
    incident = await repo.get_incident(conn, timer["incident_id"], for_update=True)
    step = planned_of(timer)
    if timer["action"] == "ack_check":
        policy = PolicyConfig.model_validate(incident["policy"])
        state = IncidentState(id=incident["id"], version=incident["version"], severity=incident["severity"],
                              status=incident["status"], acknowledged_at=incident["acknowledged_at"])
        decision = decide(kind="ack_timeout", incident=state, planned=[], config=policy, targets={}, now=now)
        return Fired(decision.reason, action="ack_check", unacknowledge=decision.unacknowledge, number=incident["number"])
    who = who or await who_is_on_call_fn(conn, config, incident["schedule"], start=now, end=now + timedelta(seconds=1))
    targets = tuple(dict.fromkeys(who(step.role, now)))
    common = dict(occurred_at=now, source="escalator", incident_id=incident["id"], number=incident["number"],
                  severity=incident["severity"], title=incident["title"])
    if step.action == "ticket":
        assignee = targets[0] if targets else None
        ticket_id = timer["id"]  # one ticket per step, whoever is assigned
        if await repo.insert_ticket(conn, ticket_id=ticket_id, timer_id=timer["id"], incident_id=incident["id"],
                                    assignee=assignee, due_at=step.ticket_due_at, now=now):
            ticket = TicketRequested(event_id=ticket_id, ticket_id=ticket_id, due_at=step.ticket_due_at, assignee=assignee, **common)
            await enqueue(conn, schema=repo.SCHEMA, event=ticket, ce_source=CE_SOURCE)
        return Fired(f"ticket for {assignee or 'nobody (unassigned)'}", sent=1, action="ticket")
    if not targets:
        return Fired(f"no one on call for {step.role}", action=step.action)
    reason = "escalation" if step.reason.startswith("no one on call") else step.reason
    step = replace(step, targets=targets)
    sent = 0
    for person, page_id in step.page_ids():
        new = await repo.insert_page(conn, page_id=page_id, timer_id=timer["id"], incident_id=incident["id"], target=person,
                                     role=step.role, channel=step.action, reason=reason, due_at=step.due_at, now=now)
        if not new:
            continue
        page = PageRequested(
            event_id=page_id, page_id=page_id, target=person, role=step.role, schedule=incident["schedule"],
            channel=step.action, reason=reason, step=max(step.step, 0), repetition=step.repetition,
            contact=config.contact(person), due_at=step.due_at, links=links_for(link_base, incident["id"]), **common,
        )
        await enqueue(conn, schema=repo.SCHEMA, event=page, ce_source=CE_SOURCE)
        sent += 1
    verb = "paged" if step.action == "page" else "notified"
    return Fired(f"{verb} {', '.join(targets)} ({reason})", sent=sent, action=step.action)

