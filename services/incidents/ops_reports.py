"""Building the operations reports: read the period's records (in the caller's transaction), ask
the peers (before it, see `peer_inputs`), compute with `reports` (pure), render with the Markdown
templates and store. The stored JSON is what the Markdown is rendered from, so both always agree."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import asyncpg
from fastapi.encoders import jsonable_encoder

from services.incidents import ops_repository as ops, record_store, repository as repo
from services.incidents.lifecycle import durations
from services.incidents.peers import Peers
from services.incidents.reports import (
    MANUAL_CHECKS, Period, PeerResult, alert_counts, capacity_summary, carried_over, daily_check, incident_rows,
    overall_attainment, runbook_rows, severity_summary, slo_rows, toil_rows, toil_trend,
)
from services.incidents.rendering import render

KIND_TEMPLATE = {"daily_check": "daily_check", "weekly_review": "weekly_review", "monthly_review": "monthly_review"}
RECENT_DAYS = 7  # a handoff lists the incidents of the last week
MAINTENANCE_AHEAD_DAYS = 14


@dataclass
class PeerInputs:
    """What the peers said, fetched before the database transaction opens."""

    slo: PeerResult = field(default_factory=lambda: PeerResult("not_configured"))
    capacity: PeerResult = field(default_factory=lambda: PeerResult("not_configured"))
    gaps: PeerResult = field(default_factory=lambda: PeerResult("not_configured"))
    health: dict[str, PeerResult] = field(default_factory=dict)


async def peer_inputs(peers: Peers | None, *, kind: str) -> PeerInputs:
    if peers is None:
        return PeerInputs()
    if kind == "daily_check":
        slo, gaps, health = await asyncio.gather(peers.slo_status(), peers.coverage_gaps(8), peers.readiness())
        return PeerInputs(slo=slo, gaps=gaps, health=health)
    slo, capacity = await asyncio.gather(peers.slo_status(), peers.capacity())
    return PeerInputs(slo=slo, capacity=capacity)


def _peer(result: PeerResult) -> dict:
    return {"state": result.state, "error": result.error}


def period_json(period: Period, zone: str) -> dict:
    return {"label": period.label, "start": period.start, "end": period.end, "first_day": period.first_day,
            "last_day": period.last_day, "zone": zone}


async def _incidents_of(conn: asyncpg.Connection, period: Period, now: datetime):
    rows = await ops.incidents_detected_between(conn, period.start, period.end)
    incidents = [repo.incident_from_row(r) for r in rows]
    titles = {r["id"]: r["title"] for r in rows}
    noise = {r["id"] for r in rows if r["noise"]}
    return incidents, incident_rows(incidents, titles=titles, noise=noise, now=now)


async def _action_items(conn: asyncpg.Connection) -> list[dict]:
    rows = await ops.list_action_items(conn, statuses=["open", "in_progress"], incident_id=None, owner=None, due_before=None, limit=1000)
    return [{**dict(r), "incident": f"INC-{r['incident_id']}" if r["incident_id"] else None} for r in rows]


async def _runbooks(conn: asyncpg.Connection, today: date, max_age_days: int) -> list[dict]:
    return runbook_rows([dict(r) for r in await record_store.list_all(conn, "runbook")], today=today, max_age_days=max_age_days)


async def review_data(
    conn: asyncpg.Connection, *, kind: str, period: Period, zone: str, inputs: PeerInputs, now: datetime, today: date,
    runbook_max_age_days: int,
) -> dict:
    """The weekly or monthly review's computed part."""
    incidents, table = await _incidents_of(conn, period, now)
    summary = severity_summary(incidents, now=now)
    alerts = [bool(r["noise"]) for r in await ops.alerts_started_between(conn, period.start, period.end)]
    data = {
        "kind": kind, "period": period_json(period, zone), "generated_at": now,
        "slo": {**_peer(inputs.slo), "rows": slo_rows(inputs.slo)},
        "incidents": table,
        "severity_summary": [s.as_dict() for s in summary],
        "attainment_percent": overall_attainment(summary),
        "alerts": alert_counts(alerts),
        "deployments": [dict(r) for r in await record_store.deployments_between(conn, period.start, period.end)],
        "action_items": carried_over(await _action_items(conn), period, today=today),
        "capacity": {**_peer(inputs.capacity), **capacity_summary(inputs.capacity)},
    }
    if kind == "monthly_review":
        toil = toil_rows([dict(r) for r in await record_store.list_all(conn, "toil")])
        data["runbooks"] = await _runbooks(conn, today, runbook_max_age_days)
        data["toil"] = {"rows": [t for t in toil if t["month"] == period.first_day], "trend": toil_trend(toil)}
        data["reliability_gaps"] = [dict(r) for r in await record_store.list_all(conn, "reliability_gap")]
    return jsonable_encoder(data)


async def daily_check_data(
    conn: asyncpg.Connection, *, period: Period, zone: str, inputs: PeerInputs, self_ok: bool, now: datetime, today: date,
    runbook_max_age_days: int,
) -> dict:
    open_incidents = [repo.incident_from_row(r) for r in await ops.open_incidents(conn)]
    health = {"incidents": PeerResult("ok" if self_ok else "failing"), **inputs.health}
    result = daily_check(
        health=health, open_incidents=open_incidents, slo=inputs.slo, gaps=inputs.gaps,
        runbooks=await _runbooks(conn, today, runbook_max_age_days), now=now,
    )
    return jsonable_encoder({
        "kind": "daily_check", "period": period_json(period, zone), "generated_at": now, **result,
        "health": {n: _peer(r) for n, r in health.items()}, "slo": {**_peer(inputs.slo), "rows": slo_rows(inputs.slo)},
        "manual_checks": [{"key": k, "label": label} for k, label in MANUAL_CHECKS],
        "open_incidents": len(open_incidents),
    })


# What a person may add to a report (ops_schemas.ReportManual), as the templates expect it when unset.
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
    existing = await ops.get_report(conn, kind, period.label)
    manual = existing["manual"] if existing else {}
    markdown = render_report(kind, data, manual, zone=zone)
    return await ops.upsert_report(
        conn, kind=kind, period=period.label, start=period.start, end=period.end, data=data, markdown=markdown, by=by, now=now
    )


async def incident_report(conn: asyncpg.Connection, incident_id: int, *, zone: str, now: datetime) -> dict | None:
    """The 2.1 declaration and 2.3 resolution records of one incident."""
    row = await repo.get_incident_row(conn, incident_id)
    if row is None:
        return None
    d = durations(repo.incident_from_row(row), now=now)
    postmortem = await ops.get_postmortem(conn, incident_id)
    data = jsonable_encoder({
        "incident": {k: row[k] for k in row.keys() if k != "group_key"},
        "number": f"INC-{incident_id}",
        "timeline": [dict(t) for t in await repo.timeline(conn, incident_id)],
        "time_to_detect_s": d.time_to_detect.total_seconds() if d.time_to_detect is not None else None,
        "time_to_resolve_s": d.time_to_resolve.total_seconds() if d.time_to_resolve is not None else None,
        "response_due_at": d.response_due_at, "response_target_met": d.response_target_met,
        "noise": await ops.is_noise(conn, incident_id),
        "postmortem": {"status": postmortem["status"], "checklist": postmortem["checklist"], "review_at": postmortem["review_at"]}
        if postmortem else None,
        "action_items": await ops.count_action_items(conn, incident_id),
        "generated_at": now,
    })
    data["markdown"] = render("incident_report", {"r": data}, zone=zone)
    return data


async def handoff_data(conn: asyncpg.Connection, *, now: datetime, today: date) -> dict:
    """What the outgoing engineer hands over: open incidents and action items, the last week's
    incidents with their status, maintenance in the next two weeks."""
    open_incidents = await ops.open_incidents(conn)
    recent = await ops.incidents_detected_between(conn, now - timedelta(days=RECENT_DAYS), now + timedelta(seconds=1))
    items = [i for i in await _action_items(conn) if i["priority"] == "P1" or i["due_on"] < today]
    open_items = [
        {"item": f"INC-{r['id']}: {r['title']}", "priority": f"SEV{r['severity']}", "context": r["status"]} for r in open_incidents
    ] + [
        {"item": f"action item #{i['id']}: {i['title']}", "priority": i["priority"],
         "context": f"{i['owner']}, due {i['due_on'].isoformat()}" + (" (overdue)" if i["due_on"] < today else "")}
        for i in items
    ]
    maintenance = await record_store.maintenance_between(conn, now, now + timedelta(days=MAINTENANCE_AHEAD_DAYS))
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
