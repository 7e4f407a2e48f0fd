"""`vigil report …` and `vigil action-items …` against the real incident service over HTTP."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import app as vigil
from tests.services import TOKENS

pytestmark = pytest.mark.integration

RESPONDER = TOKENS["responder"]
VIEWER = TOKENS["viewer"]


@pytest.fixture(scope="module")
def server(running_incidents) -> str:
    """The incident service's URL, for the command line."""
    with running_incidents() as svc:
        yield svc.url


def run(url: str, *args: str, token: str = RESPONDER) -> tuple[int, str]:
    result = CliRunner().invoke(vigil, list(args), env={"VIGIL_INCIDENTS_API_URL": url, "VIGIL_API_TOKEN": token})
    return result.exit_code, result.output


def resolved_sev2(url: str) -> str:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {RESPONDER}"}) as c:
        number = c.post("/api/v1/incidents", json={"title": "cli", "severity": 2}).json()["number"]
        assert c.post(f"/api/v1/incidents/{number}/resolve", json={"root_cause": "cli cause"}).status_code == 200
    return number


def test_action_items_are_added_listed_overdue_and_closed_from_the_command_line(server):
    number = resolved_sev2(server)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    code, out = run(server, "action-items", "add", "disk alert", "--owner", "kim", "--priority", "P1", "--due", yesterday, "--incident", number)
    assert code == 0, out
    assert f"P1 open        due {yesterday} OVERDUE  kim: disk alert [{number}]" in out
    item_id = out.split()[0].lstrip("#")
    code, out = run(server, "action-items", "list", "--overdue")
    assert code == 0 and f"#{item_id} " in out
    code, out = run(server, "action-items", "update", item_id, "--status", "done")
    assert code == 0 and "done" in out and "OVERDUE" not in out
    code, out = run(server, "action-items", "list", "--overdue", "--json")
    assert code == 0 and int(item_id) not in [i["id"] for i in json.loads(out)]


def test_reports_print_markdown_or_json_and_errors_are_the_api_message(server):
    number = resolved_sev2(server)
    code, out = run(server, "report", "weekly")
    assert code == 0 and out.startswith("## Weekly Ops Review"), out
    code, out = run(server, "report", "show", "weekly_review")
    assert code == 0 and out.startswith("## Weekly Ops Review")
    code, out = run(server, "report", "postmortem", number)
    assert code == 0 and f"# Postmortem: {number}" in out and "cli cause" in out
    code, out = run(server, "report", "incident", number, "--json")
    assert code == 0 and json.loads(out)["number"] == number
    code, out = run(server, "report", "daily-check", "--json")
    assert code == 0 and json.loads(out)["kind"] == "daily_check"
    code, out = run(server, "report", "monthly", "--month", "2026-13")
    assert code == 1 and "409" in out and "YYYY-MM" in out
    code, out = run(server, "action-items", "add", "x", "--owner", "y", "--priority", "P1", token=VIEWER)
    assert code == 1 and "403: this needs the responder role" in out


def test_runbooks_and_toil_are_recorded_and_reviewed_from_the_command_line(server):
    name = f"DB failover {uuid.uuid4().hex[:6]}"
    code, out = run(server, "records", "add", "runbooks", f"name={name}", "owner=kim", "last_updated_on=2020-01-01")
    assert code == 0, out
    runbook = json.loads(out)
    assert runbook["name"] == name and runbook["status"] != "Current"
    code, out = run(server, "records", "list", "runbooks")
    assert code == 0 and out.startswith("ID") and name in out and "Outdated: " in out, out
    code, out = run(server, "records", "list", "runbooks", "--markdown")
    assert code == 0 and "## Runbook Review" in out and name in out
    code, out = run(server, "records", "update", "runbooks", str(runbook["id"]), f"last_updated_on={datetime.now(UTC).date()}")
    assert code == 0 and json.loads(out)["last_updated_on"] == datetime.now(UTC).date().isoformat()
    code, out = run(server, "records", "add", "toil", "task=restart stuck workers", "frequency=daily", "minutes_per_occurrence=10")
    assert code == 0, out
    assert json.loads(out)["monthly_total_minutes"] == 300  # daily × 30 × 10 min
    code, out = run(server, "records", "list", "toil", "--json")
    assert code == 0 and any(t["task"] == "restart stuck workers" for t in json.loads(out))
    code, out = run(server, "records", "add", "nonsense", "a=b")
    assert code == 1 and "unknown record kind" in out
    code, out = run(server, "records", "add", "runbooks", "owner=kim", token=VIEWER)
    assert code == 1 and "403" in out


def test_every_kind_lists_as_a_table_or_says_it_has_none(server):
    for kind, noun in (("deployments", "deployment"), ("maintenance-windows", "maintenance window"),
                       ("reliability-gaps", "reliability gap"), ("toil", "toil"), ("runbooks", "runbook")):
        code, out = run(server, "records", "list", kind)
        assert code == 0 and (out.startswith("ID") or out.strip() == f"no {noun} records"), (kind, out)
    change = f"v{uuid.uuid4().hex[:6]}"
    code, out = run(server, "records", "add", "deployments", f"change={change}", "service=api", "status=rolled_back")
    assert code == 0, out
    code, out = run(server, "records", "list", "deployments")
    line = next(line for line in out.splitlines() if change in line)
    assert "api" in line and "rolled_back" in line
    code, out = run(server, "records", "list", "deployments", "--json")
    assert code == 0 and any(d["change"] == change for d in json.loads(out))
    code, out = run(server, "records", "list", "deployments", "--markdown")
    assert code == 1 and "no review document" in out


def test_a_handoff_is_written_completed_and_acknowledged_from_the_command_line(server):
    code, out = run(server, "report", "handoff", "--from", "kim", "--to", "lee", "--note", "draft", "--json")
    assert code == 0, out
    handoff = json.loads(out)
    code, out = run(server, "report", "complete-handoff", str(handoff["id"]), "--note", "INC-7 flaps at night",
                    "--watch", "orders-db connections", "--json")
    assert code == 0, out
    completed = json.loads(out)
    assert completed["note"] == "INC-7 flaps at night" and completed["things_to_watch"] == ["orders-db connections"]
    code, out = run(server, "report", "ack-handoff", str(handoff["id"]), "--by", "lee", "--json")
    assert code == 0 and json.loads(out)["acknowledged_by"] == "lee", out
    code, out = run(server, "report", "complete-handoff", str(handoff["id"]), "--note", "too late")
    assert code != 0 and ("409" in out or "acknowledged" in out), out
