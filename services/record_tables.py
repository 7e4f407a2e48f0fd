"""How `vigil records list <kind>` shows the operations records on a terminal: one aligned table per
kind, built from the API's JSON, the same way for every kind (the process documents stay behind
`--markdown`, the JSON behind `--json`). Pure: the rows and the local zone in, text out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from services.responder_cli.render import NONE, table, when

Cell = Callable[[dict, tzinfo], object]


def field(name: str) -> Cell:
    return lambda row, _zone: row.get(name)


def moment(name: str) -> Cell:
    return lambda row, zone: when(row.get(name), zone)


def month(name: str) -> Cell:
    return lambda row, _zone: (row.get(name) or NONE)[:7]


def runbook_status(row: dict, _zone: tzinfo) -> str:
    status = row.get("status") or NONE
    return f"{status}: {'; '.join(row['reasons'])}" if row.get("reasons") else status


def tested(row: dict, _zone: tzinfo) -> str:
    on = row.get("last_tested_on")
    return f"{on} ({row['last_test_result']})" if on and row.get("last_test_result") else (on or NONE)


# kind -> (singular noun, columns); the last column is the long text, which runs on unpadded.
TABLES: dict[str, tuple[str, list[tuple[str, Cell]]]] = {
    "runbooks": ("runbook", [
        ("ID", field("id")), ("NAME", field("name")), ("OWNER", field("owner")), ("UPDATED", field("last_updated_on")),
        ("TESTED", tested), ("NEXT REVIEW", field("next_review_on")), ("STATUS", runbook_status)]),
    "toil": ("toil", [
        ("ID", field("id")), ("MONTH", month("month")), ("FREQUENCY", field("frequency")),
        ("MIN EACH", field("minutes_per_occurrence")), ("MIN/MONTH", field("monthly_total_minutes")),
        ("SAVINGS MIN", field("monthly_savings_minutes")), ("EFFORT", field("automation_effort")), ("TASK", field("task"))]),
    "reliability-gaps": ("reliability gap", [
        ("ID", field("id")), ("PRIORITY", field("priority")), ("STATUS", field("status")), ("OWNER", field("owner")),
        ("TARGET", field("target_on")), ("GAP", field("gap"))]),
    "deployments": ("deployment", [
        ("ID", field("id")), ("DEPLOYED", moment("deployed_at")), ("SERVICE", field("service")), ("STATUS", field("status")),
        ("CHANGE", field("change")), ("ISSUES", field("issues"))]),
    "maintenance-windows": ("maintenance window", [
        ("ID", field("id")), ("STARTS", moment("starts_at")), ("ENDS", moment("ends_at")), ("SERVICE", field("service")),
        ("ACTIVITY", field("activity")), ("IMPACT", field("impact"))]),
}


def records_table(kind: str, rows: list[dict], zone: tzinfo) -> str:
    """The records as a table, or the honest sentence that there are none."""
    noun, columns = TABLES[kind]
    if not rows:
        return f"no {noun} records"
    return table([header for header, _ in columns], [[cell(row, zone) for _, cell in columns] for row in rows])
