"""How answers look on a terminal: plain aligned columns, local times, ages. Pure: the answers (the
APIs' JSON), `now` and the local zone in, text out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo

NONE = "-"


def table(headers: Sequence[str] | None, rows: Iterable[Sequence[object]]) -> str:
    """Columns aligned by two spaces; the last column is not padded (a long title just runs on)."""
    lines = [[NONE if cell is None or cell == "" else str(cell) for cell in row] for row in rows]
    if headers:
        lines.insert(0, list(headers))
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines if i < len(line)) for i in range(max(map(len, lines)))]
    return "\n".join("  ".join(cell.ljust(widths[i]) if i < len(line) - 1 else cell for i, cell in enumerate(line))
                     for line in lines)


def instant(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def when(value: str | datetime | None, zone: tzinfo, *, with_zone: bool = False) -> str:
    """`2026-12-07 09:00` in the local zone (`with_zone`: and its name)."""
    moment = instant(value)
    if moment is None:
        return NONE
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M %Z" if with_zone else "%Y-%m-%d %H:%M").strip()


def span(delta: timedelta) -> str:
    """`45s`, `12m`, `3h 5m`, `4d 2h`: the two largest units."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{seconds}s"


def relative(value: str | datetime | None, now: datetime) -> str:
    """`3h 5m ago` / `in 4m`."""
    moment = instant(value)
    if moment is None:
        return NONE
    return f"{span(now - moment)} ago" if moment <= now else f"in {span(moment - now)}"


def pairs(mapping: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items())) or NONE


# Incidents ---------------------------------------------------------------------------------------

INCIDENT_HEADERS = ("INCIDENT", "SEV", "STATUS", "ACK BY", "AGE", "TITLE")


def incident_row(item: dict, now: datetime) -> tuple:
    return (item["number"], item["severity_label"], item["status"], item.get("acknowledged_by"),
            span(now - instant(item["detected_at"])), item["title"])


def incident_list(page: dict, now: datetime, *, open_only: bool) -> str:
    items = page.get("items", [])
    if not items:
        return "no open incidents" if open_only else "no incidents match"
    text = table(INCIDENT_HEADERS, (incident_row(i, now) for i in items))
    if page.get("next_cursor"):
        text += f"\n… more: raise --limit (shown {len(items)})"
    return text


def response_line(incident: dict, now: datetime, zone: tzinfo) -> str:
    if incident.get("acknowledged_at"):
        return f"by {incident.get('acknowledged_by') or NONE} at {when(incident['acknowledged_at'], zone)}"
    due = instant(incident["response_due_at"])
    lateness = f"overdue by {span(now - due)}" if due <= now else f"in {span(due - now)}"
    return f"not yet: response due {when(due, zone)} ({lateness})"


def incident_summary(incident: dict) -> str:
    """The one-line answer to a change: `INC-42 SEV1 mitigating, acknowledged by kim: checkout is down`."""
    ack = f", acknowledged by {incident['acknowledged_by']}" if incident.get("acknowledged_by") else ""
    return f"{incident['number']} {incident['severity_label']} {incident['status']}{ack}: {incident['title']}"


def incident_detail(incident: dict, now: datetime, zone: tzinfo) -> str:
    impact = incident.get("impact") or {}
    fields: list[tuple[str, object]] = [
        ("Detected", f"{when(incident['detected_at'], zone, with_zone=True)} ({relative(incident['detected_at'], now)})"),
        ("Acknowledged", response_line(incident, now, zone)),
        ("Commander", incident.get("commander")),
        ("Labels", pairs(incident.get("labels"))),
        ("Impact", impact.get("text")),
        ("Status text", incident.get("status_text")),
    ]
    if incident.get("resolved_at"):
        fields += [("Resolved", when(incident["resolved_at"], zone)), ("Root cause", incident.get("root_cause")),
                   ("Contributing", incident.get("contributing_factors")), ("Fix applied", incident.get("fix_applied"))]
    parts = [f"{incident['number']}  {incident['severity_label']}  {incident['status']}  {incident['title']}",
             table(None, fields)]
    alerts = incident.get("alerts") or []
    if alerts:
        rows = ((a["status"], a.get("alertname"), when(a["starts_at"], zone), pairs(a.get("labels")),
                 (a.get("annotations") or {}).get("runbook_url")) for a in alerts)
        parts += ["", f"Alerts ({len(alerts)})", table(("STATUS", "ALERT", "SINCE", "LABELS", "RUNBOOK"), rows)]
    timeline = incident.get("timeline") or []
    if timeline:
        rows = ((when(t["at"], zone), t["kind"], t.get("actor"), t["text"]) for t in timeline)
        parts += ["", "Timeline", table(("WHEN", "WHAT", "WHO", "TEXT"), rows)]
    return "\n".join(parts)


# On-call -----------------------------------------------------------------------------------------

def people(names: list[str]) -> str:
    # Two names are a handoff overlap (both are paged); none is a coverage gap.
    return " + ".join(names) if names else "nobody (gap)"


def oncall(entries: list[dict], zone: tzinfo) -> str:
    if not entries:
        return "no schedules: add one to the escalator's configuration (docs/oncall.md)"
    head = f"On call at {when(entries[0]['at'], zone, with_zone=True)}"
    rows = ((e["schedule"], people(e["primary"]), people(e["backup"])) for e in entries)
    return head + "\n" + table(("SCHEDULE", "PRIMARY", "BACKUP"), rows)


OVERRIDE_HEADERS = ("ID", "TIER", "WHO", "FROM", "UNTIL", "BY")


def override_row(override: dict, zone: tzinfo) -> tuple:
    return (override["id"], override["tier"], override["person"] or "nobody (a deliberate gap)",
            when(override["start_at"], zone), when(override["end_at"], zone), override.get("created_by"))


def overrides(schedule: str, items: list[dict], zone: tzinfo) -> str:
    if not items:
        return f"no overrides on {schedule} now or ahead"
    return table(OVERRIDE_HEADERS, (override_row(o, zone) for o in items))


# SLOs --------------------------------------------------------------------------------------------

def percent(value: float | None) -> str:
    return NONE if value is None else f"{value:.1f}%"


def met(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "no data"}[value]


def slo_list(answer: dict) -> str:
    items = answer.get("items") or []
    if not items:
        return ("no SLO has been evaluated yet: an SLO appears once its service sends metrics "
                "(POST /api/v1/metrics on the SLO service; docs/slo.md)")
    rows = ((i["id"], i["title"], i["target"], i["current"], met(i["met"]), percent(i["budget"]["remaining_percent"]),
             ", ".join(i.get("firing") or []) or NONE) for i in items)
    return table(("SLO", "TITLE", "TARGET", "CURRENT", "MET", "BUDGET LEFT", "FIRING"), rows)


def slo_detail(slo: dict, zone: tzinfo) -> str:
    fields = [("Target", slo["target"]), ("Current", slo.get("current")), ("Met", met(slo.get("met"))),
              ("Firing", ", ".join(slo.get("firing") or []) or NONE),
              ("Budget runs out", when(slo.get("projected_exhaustion_at"), zone, with_zone=True)),
              ("Evaluated", when(slo.get("evaluated_at"), zone, with_zone=True))]
    budgets = [(b["window"], f"{b['total_minutes']:.1f}", f"{b['consumed_minutes']:.1f}", f"{b['remaining_minutes']:.1f}",
                percent(b["remaining_percent"]), b["total_events"]) for b in (slo["budget"], slo["calendar_month"])]
    burns = [(r["tier"], f"{r['long_window']}/{r['short_window']}", f"{r['threshold']:g}", f"{r['long_burn']:.2f}",
              f"{r['short_burn']:.2f}", "FIRING" if r["firing"] else ("guarded" if r["low_traffic_guarded"] else "no"))
             for r in slo.get("burn_rates") or []]
    parts = [f"{slo['id']}  {slo['title']}", table(None, fields), "", "Error budget (minutes)",
             table(("WINDOW", "TOTAL", "SPENT", "LEFT", "LEFT %", "EVENTS"), budgets)]
    if burns:
        parts += ["", "Burn rates", table(("TIER", "WINDOWS", "THRESHOLD", "LONG", "SHORT", "FIRES"), burns)]
    return "\n".join(parts)


# Tokens ------------------------------------------------------------------------------------------

def token_state(token: dict, now: datetime) -> str:
    if token.get("state"):
        return token["state"]
    if token.get("revoked_at"):
        return "revoked"
    expires = instant(token.get("expires_at"))
    return "expired" if expires is not None and expires <= now else "active"


def tokens(items: list[dict], now: datetime, zone: tzinfo) -> str:
    if not items:
        return "no API tokens: `vigil tokens create <name>` makes one"
    rows = ((t["id"], t.get("name"), t.get("person"), t.get("role"), t.get("prefix"), when(t.get("created_at"), zone),
             when(t.get("expires_at"), zone) if t.get("expires_at") else "never", when(t.get("last_used_at"), zone),
             token_state(t, now)) for t in items)
    return table(("ID", "NAME", "PERSON", "ROLE", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATE"), rows)
