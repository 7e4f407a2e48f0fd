"""Units of work of the operations wing, inside the caller's transaction: postmortems and action
items (decisions from the pure `postmortems`), and the reports — read the period's records, ask the
peers (before the transaction, see `peer_inputs`), compute with the pure `reports`, render with the
Markdown templates and store. The stored JSON is what the Markdown is rendered from, so both always
agree. SQL from `repository` (and the incident rows from the core's)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from fastapi.encoders import jsonable_encoder

from services.incidents import repository as incident_repo
from services.incidents.lifecycle import Entry, durations
from services.incidents.ops import repository
from services.incidents.ops.peers import Peers
from services.incidents.ops.postmortems import WorkflowRefused, change_status, default_due, draft_from_incident, tick
from services.incidents.ops.rendering import render
from services.incidents.ops.daily_check import MANUAL_CHECKS, Overnight, daily_check, overnight_since
from services.incidents.ops.reports import (
    Period, PeerResult, alert_counts, capacity_growth, capacity_summary, carried_over, incident_rows, month_over_month,
    overall_attainment, previous_month, runbook_rows, severity_summary, silencing_summary, slo_month_chart, slo_rows,
    toil_rows, toil_trend,
)
from services.incidents.severity import DEFAULT_CALENDAR
from services.incidents.silencing import repository as silencing_repo
from shared.business_calendar import BusinessCalendar

KIND_TEMPLATE = {"daily_check": "daily_check", "weekly_review": "weekly_review", "monthly_review": "monthly_review"}
RECENT_DAYS = 7  # a handoff lists the incidents of the last week
MAINTENANCE_AHEAD_DAYS = 14


@dataclass(frozen=True)
class OpsContext:
    """What the operations routes need beyond the incident context (`request.state.ops`, made by app.py)."""

    zone: str
    runbook_max_age_days: int
    peers: Peers | None
    checks: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)  # this service's readiness
    calendar: BusinessCalendar = DEFAULT_CALENDAR  # business days and hours of the SEV4 response deadline

    async def self_check(self) -> bool:
        for check in self.checks.values():
            try:
                if not await asyncio.wait_for(check(), 3):
                    return False
            except Exception:  # noqa: BLE001 - a failing dependency is a failed check, whatever it raised
                return False
        return True

    def today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.zone)).date()


class NoPostmortem(Exception):
    """404: the incident has no postmortem (or there is no such incident)."""


async def open_for_resolved(conn: asyncpg.Connection, row: asyncpg.Record, now: datetime) -> asyncpg.Record | None:
    """The core's resolve hook (`service.OnResolved`, wired in app.py), called in the transaction
    that resolves an incident: open its postmortem when the postmortem policy covers its SEV (and
    it has none yet, e.g. after a reopen)."""
    if row["severity"] not in await repository.postmortem_sevs(conn):
        return None
    return await open_postmortem(conn, row, now=now, reason=f"SEV{row['severity']} resolved")


async def open_postmortem(conn: asyncpg.Connection, row: asyncpg.Record, *, now: datetime, reason: str, by: str = "vigil") -> asyncpg.Record | None:
    timeline = [dict(t) for t in await incident_repo.timeline(conn, row["id"])]
    postmortem = await repository.insert_postmortem(conn, row["id"], draft_from_incident(dict(row), timeline), now=now)
    if postmortem is not None:
        await incident_repo.add_timeline(conn, row["id"], [Entry("postmortem", f"postmortem opened (draft): {reason}", by)], at=now)
    return postmortem


async def edit_postmortem(conn: asyncpg.Connection, incident_id: int, sent: dict, *, by: str, now: datetime) -> asyncpg.Record:
    """Apply an edit (only the fields sent); a status change goes through the workflow and is
    written into the incident's timeline. Raises `WorkflowRefused` (409), `NoPostmortem` (404)."""
    current = await conn.fetchrow(repository.GET_POSTMORTEM + " FOR UPDATE", incident_id)
    if current is None:
        raise NoPostmortem(f"INC-{incident_id} has no postmortem")
    fields = dict(current)
    if current["status"] == "published" and set(sent) - {"status"}:
        raise WorkflowRefused("the postmortem is published; it can no longer be edited")
    for key in ("author", "reviewers", "summary", "impact", "root_cause", "resolution", "went_well", "went_poorly", "lessons", "review_at"):
        if key in sent:
            fields[key] = sent[key]
    if "timeline" in sent:
        fields["timeline"] = [{"at": t["at"].isoformat(), "text": t["text"], "actor": t.get("actor")} for t in sent["timeline"]]
    if "checklist" in sent:
        fields["checklist"] = tick(current["checklist"], sent["checklist"])
    if "status" in sent:
        fields["status"] = change_status(current["status"], sent["status"], summary=fields["summary"], reviewers=fields["reviewers"])
        if fields["status"] != current["status"]:
            if fields["status"] == "published":
                fields["published_at"] = now
            text = f"postmortem {current['status']} → {fields['status']}"
            await incident_repo.add_timeline(conn, incident_id, [Entry("postmortem", text, by)], at=now)
    return await repository.update_postmortem(conn, incident_id, fields, now=now)


async def add_action_item(
    conn: asyncpg.Connection, *, incident_id: int | None, title: str, owner: str, priority: str, due_on: date | None,
    by: str, now: datetime, today: date,
) -> asyncpg.Record:
    """A new action item, linked to the incident (and its postmortem, if any)."""
    postmortem_id = None
    if incident_id is not None:
        if await incident_repo.get_incident_row(conn, incident_id) is None:
            raise NoPostmortem(f"no incident INC-{incident_id}")
        postmortem = await repository.get_postmortem(conn, incident_id)
        postmortem_id = postmortem["id"] if postmortem else None
    item = await repository.insert_action_item(
        conn, incident_id=incident_id, postmortem_id=postmortem_id, title=title, owner=owner, priority=priority,
        due_on=due_on or default_due(priority, today), now=now,
    )
    if incident_id is not None:
        text = f"action item #{item['id']} ({priority}, {owner}, due {item['due_on'].isoformat()}): {title}"
        await incident_repo.add_timeline(conn, incident_id, [Entry("action_item", text, by)], at=now)
    return item


async def update_action_item(conn: asyncpg.Connection, item_id: int, sent: dict, *, now: datetime) -> asyncpg.Record | None:
    current = await conn.fetchrow(repository.GET_ACTION_ITEM + " FOR UPDATE", item_id)
    if current is None:
        return None
    fields = {**dict(current), **sent}
    if fields["status"] in ("done", "wont_do"):
        fields["closed_at"] = current["closed_at"] or now
    else:
        fields["closed_at"] = None
    return await repository.update_action_item(conn, item_id, fields, now=now)


# --- the reports and handoffs


@dataclass
class PeerInputs:
    """What the peers said, fetched before the database transaction opens."""

    slo: PeerResult = field(default_factory=lambda: PeerResult("not_configured"))
    capacity: PeerResult = field(default_factory=lambda: PeerResult("not_configured"))
    gaps: PeerResult = field(default_factory=lambda: PeerResult("not_configured"))
    health: dict[str, PeerResult] = field(default_factory=dict)
    slo_history: dict[str, PeerResult] = field(default_factory=dict)  # the monthly review's chart, per SLO id


async def peer_inputs(peers: Peers | None, *, kind: str) -> PeerInputs:
    if peers is None:
        return PeerInputs()
    if kind == "daily_check":
        slo, capacity, gaps, health = await asyncio.gather(peers.slo_status(), peers.capacity(), peers.coverage_gaps(8),
                                                           peers.readiness())
        return PeerInputs(slo=slo, capacity=capacity, gaps=gaps, health=health)
    slo, capacity = await asyncio.gather(peers.slo_status(), peers.capacity())
    history: dict[str, PeerResult] = {}
    if kind == "monthly_review" and slo.state == "ok":
        ids = [s["id"] for s in (slo.data or {}).get("items", []) if s.get("id")]
        history = dict(zip(ids, await asyncio.gather(*(peers.slo_history(i) for i in ids)), strict=True))
    return PeerInputs(slo=slo, capacity=capacity, slo_history=history)


def _peer(result: PeerResult) -> dict:
    return {"state": result.state, "error": result.error}


def period_json(period: Period, zone: str) -> dict:
    return {"label": period.label, "start": period.start, "end": period.end, "first_day": period.first_day,
            "last_day": period.last_day, "zone": zone}


async def _incidents_of(conn: asyncpg.Connection, period: Period, now: datetime, calendar: BusinessCalendar):
    """The period's incidents, its incidents table and the ids of those whose start nobody knows
    (declared by a person without `started_at`: their start is their detection)."""
    rows = await repository.incidents_detected_between(conn, period.start, period.end)
    incidents = [incident_repo.incident_from_row(r) for r in rows]
    titles = {r["id"]: r["title"] for r in rows}
    noise = {r["id"] for r in rows if r["noise"]}
    start_unknown = frozenset(r["id"] for r in rows if r["detected_by"] != "alert" and r["started_at"] == r["detected_at"])
    return incidents, incident_rows(incidents, titles=titles, noise=noise, now=now, calendar=calendar), start_unknown


async def _action_items(conn: asyncpg.Connection) -> list[dict]:
    rows = await repository.list_action_items(conn, statuses=["open", "in_progress"], incident_id=None, owner=None, due_before=None, limit=1000)
    return [{**dict(r), "incident": f"INC-{r['incident_id']}" if r["incident_id"] else None} for r in rows]


async def _runbooks(conn: asyncpg.Connection, today: date, max_age_days: int) -> list[dict]:
    return runbook_rows([dict(r) for r in await repository.list_records(conn, "runbook")], today=today, max_age_days=max_age_days)


async def _silencing(conn: asyncpg.Connection, period: Period) -> dict:
    created = await silencing_repo.silences_created_between(conn, period.start, period.end)
    counts = {r["silence_id"]: r["alerts"] for r in await silencing_repo.suppressed_by_silence(conn, period.start, period.end)}
    earlier = await silencing_repo.silences_by_id(conn, [i for i in counts if i not in {r["id"] for r in created}])
    return silencing_summary(
        silences=[dict(r) for r in [*created, *earlier.values()]], alerts_by_silence=counts, period=period,
        windows=[dict(r) for r in await silencing_repo.suppressed_by_window(conn, period.start, period.end)],
    )


async def review_data(
    conn: asyncpg.Connection, *, kind: str, period: Period, zone: str, inputs: PeerInputs, now: datetime, today: date,
    runbook_max_age_days: int, calendar: BusinessCalendar = DEFAULT_CALENDAR,
) -> dict:
    """The weekly or monthly review's computed part."""
    incidents, table, start_unknown = await _incidents_of(conn, period, now, calendar)
    summary = severity_summary(incidents, now=now, calendar=calendar, start_unknown=start_unknown)
    alerts = [bool(r["noise"]) for r in await repository.alerts_started_between(conn, period.start, period.end)]
    data = {
        "kind": kind, "period": period_json(period, zone), "generated_at": now,
        "slo": {**_peer(inputs.slo), "rows": slo_rows(inputs.slo)},
        "incidents": table,
        "severity_summary": [s.as_dict() for s in summary],
        "attainment_percent": overall_attainment(summary),
        "alerts": alert_counts(alerts),
        "deployments": [dict(r) for r in await repository.deployments_between(conn, period.start, period.end)],
        "action_items": carried_over(await _action_items(conn), period, today=today),
        "capacity": {**_peer(inputs.capacity), **capacity_summary(inputs.capacity)},
        "silencing": await _silencing(conn, period),
    }
    if kind == "monthly_review":
        before = previous_month(period, zone)
        counts_before = {"incidents": len(await repository.incidents_detected_between(conn, before.start, before.end)),
                         "alerts": len(await repository.alerts_started_between(conn, before.start, before.end))}
        data["growth"] = {"month_before": before.label, "capacity": capacity_growth(data["capacity"]["rows"]),
                          "volume": month_over_month({"incidents": len(incidents), "alerts": len(alerts)}, counts_before)}
        data["slo_chart"] = slo_month_chart(inputs.slo, inputs.slo_history, period)
        toil = toil_rows([dict(r) for r in await repository.list_records(conn, "toil")])
        data["runbooks"] = await _runbooks(conn, today, runbook_max_age_days)
        data["toil"] = {"rows": [t for t in toil if t["month"] == period.first_day], "trend": toil_trend(toil)}
        data["reliability_gaps"] = [dict(r) for r in await repository.list_records(conn, "reliability_gap")]
    return jsonable_encoder(data)


async def daily_check_data(
    conn: asyncpg.Connection, *, period: Period, zone: str, inputs: PeerInputs, self_ok: bool, now: datetime, today: date,
    runbook_max_age_days: int,
) -> dict:
    open_incidents = [incident_repo.incident_from_row(r) for r in await repository.open_incidents(conn)]
    health = {"incidents": PeerResult("ok" if self_ok else "failing"), **inputs.health}
    since = overnight_since(await repository.last_daily_check_before(conn, period.label), now)
    overnight = Overnight(since=since, alerts=await repository.alerts_with_state_between(conn, since, now),
                          alerts_ever=await repository.any_alert(conn))
    result = daily_check(
        health=health, open_incidents=open_incidents, slo=inputs.slo, capacity=inputs.capacity, gaps=inputs.gaps,
        runbooks=await _runbooks(conn, today, runbook_max_age_days), overnight=overnight,
        tickets=await repository.open_tickets(conn), overdue_items=[i for i in await _action_items(conn) if i["due_on"] < today],
        now=now,
    )
    return jsonable_encoder({
        "kind": "daily_check", "period": period_json(period, zone), "generated_at": now, **result,
        "health": {n: _peer(r) for n, r in health.items()}, "slo": {**_peer(inputs.slo), "rows": slo_rows(inputs.slo)},
        "capacity": {**_peer(inputs.capacity), **capacity_summary(inputs.capacity)},
        "overnight": {"since": since, "alerts": len(overnight.alerts)},
        "manual_checks": [{"key": k, "label": label} for k, label in MANUAL_CHECKS],
        "open_incidents": len(open_incidents),
    })


async def report_data(
    conn: asyncpg.Connection, *, kind: str, period: Period, octx: OpsContext, inputs: PeerInputs, self_ok: bool,
    now: datetime,
) -> dict:
    """The computed part of a report of `kind` for `period`: what the API and the schedule store."""
    common = {"period": period, "zone": octx.zone, "inputs": inputs, "now": now, "today": octx.today(now),
              "runbook_max_age_days": octx.runbook_max_age_days}
    if kind == "daily_check":
        return await daily_check_data(conn, self_ok=self_ok, **common)
    return await review_data(conn, kind=kind, calendar=octx.calendar, **common)


# What a person may add to a report (schemas.ReportManual), as the templates expect it when unset.
MANUAL_DEFAULTS: dict = {
    "operator": None, "author": None, "attendees": [], "checks": {}, "anomalies": [], "executive_summary": None,
    "recommendations": [], "cost_analysis": None,
}


def render_report(kind: str, data: dict, manual: dict, *, zone: str) -> str:
    return render(KIND_TEMPLATE[kind], {"r": data, "m": {**MANUAL_DEFAULTS, **manual}}, zone=zone)


async def store_report(
    conn: asyncpg.Connection, *, kind: str, period: Period, data: dict, by: str, zone: str, now: datetime
) -> asyncpg.Record:
    """Store (or replace) the computed part; what a person wrote (`manual`) stays."""
    existing = await repository.get_report(conn, kind, period.label)
    manual = existing["manual"] if existing else {}
    markdown = render_report(kind, data, manual, zone=zone)
    return await repository.upsert_report(
        conn, kind=kind, period=period.label, start=period.start, end=period.end, data=data, markdown=markdown, by=by, now=now
    )


async def incident_report(conn: asyncpg.Connection, incident_id: int, *, zone: str, now: datetime,
                          calendar: BusinessCalendar = DEFAULT_CALENDAR) -> dict | None:
    """The 2.1 declaration and 2.3 resolution records of one incident."""
    row = await incident_repo.get_incident_row(conn, incident_id)
    if row is None:
        return None
    d = durations(incident_repo.incident_from_row(row), now=now, calendar=calendar)
    postmortem = await repository.get_postmortem(conn, incident_id)
    data = jsonable_encoder({
        "incident": {k: row[k] for k in row.keys() if k != "group_key"},
        "number": f"INC-{incident_id}",
        "timeline": [dict(t) for t in await incident_repo.timeline(conn, incident_id)],
        "time_to_detect_s": d.time_to_detect.total_seconds() if d.time_to_detect is not None else None,
        "time_to_resolve_s": d.time_to_resolve.total_seconds() if d.time_to_resolve is not None else None,
        "response_due_at": d.response_due_at, "response_target_met": d.response_target_met,
        "noise": await repository.is_noise(conn, incident_id),
        "postmortem": {"status": postmortem["status"], "checklist": postmortem["checklist"], "review_at": postmortem["review_at"]}
        if postmortem else None,
        "action_items": await repository.count_action_items(conn, incident_id),
        "generated_at": now,
    })
    data["markdown"] = render("incident_report", {"r": data}, zone=zone)
    return data


async def handoff_data(conn: asyncpg.Connection, *, now: datetime, today: date) -> dict:
    """What the outgoing engineer hands over: open incidents and action items, the last week's
    incidents with their status, maintenance in the next two weeks."""
    open_incidents = await repository.open_incidents(conn)
    recent = await repository.incidents_detected_between(conn, now - timedelta(days=RECENT_DAYS), now + timedelta(seconds=1))
    items = [i for i in await _action_items(conn) if i["priority"] == "P1" or i["due_on"] < today]
    open_items = [
        {"item": f"INC-{r['id']}: {r['title']}", "priority": f"SEV{r['severity']}", "context": r["status"]} for r in open_incidents
    ] + [
        {"item": f"action item #{i['id']}: {i['title']}", "priority": i["priority"],
         "context": f"{i['owner']}, due {i['due_on'].isoformat()}" + (" (overdue)" if i["due_on"] < today else "")}
        for i in items
    ]
    maintenance = await repository.maintenance_between(conn, now, now + timedelta(days=MAINTENANCE_AHEAD_DAYS))
    return jsonable_encoder({
        "open_items": open_items,
        "recent_incidents": [
            {"number": f"INC-{r['id']}", "title": r["title"], "severity": r["severity"], "status": r["status"],
             "notes": "noise" if r["noise"] else (r["root_cause"] or r["status_text"] or "")}
            for r in reversed(recent)
        ],
        "maintenance": [dict(m) for m in maintenance],
        "written_at": now,
    })


def render_handoff(row: dict, *, zone: str) -> str:
    return render("handoff", {"h": row, "d": row["data"]}, zone=zone)
