"""`vigil login`, `vigil incidents …`, `vigil oncall`, `vigil overrides …` and `vigil slo …` against the
real incident service, escalator and SLO service (real Kafka and PostgreSQL), as a responder uses
them: logged in once with a personal token, the timelines and overrides name that person."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import app as vigil_app
from services.responder_cli import render
from shared.identity import mint
from shared.local.kafka_broker import free_port
from tests.services import TOKENS
from tests.support import ManualClock, wait_for

pytestmark = pytest.mark.integration

KEY = "identity-key-for-cli-tests-0123456789abcdef"
KIM = mint(KEY.encode(), kind="token", person="kim", role="responder", expires_at=None, token_id="tok-kim")
VIEWER = mint(KEY.encode(), kind="token", person="vic", role="viewer", expires_at=None, token_id="tok-vic")
FORGED = mint(b"another-key-nobody-configured-0123456789", kind="token", person="kim", role="admin", expires_at=None)
# The escalator's clock: Wednesday 2026-12-02 12:00 UTC, in the week bob is primary and dave backup;
# Monday 2026-12-07 09:00 UTC hands over to alice and carol, the outgoing pair on call until 09:30.
START = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CONFIG = """
schedules:
  - name: ops
    primary: {participants: [alice, bob], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00", overlap_minutes: 30}
    backup: {participants: [carol, dave], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00", overlap_minutes: 30}
"""


@pytest.fixture(scope="module")
def stack(running_incidents, running_escalator, running_slo, tmp_path_factory):
    """The three services, each verifying personal tokens signed with KEY."""
    config = tmp_path_factory.mktemp("escalator") / "escalator.yaml"
    config.write_text(CONFIG)
    with (running_incidents(identity_keys=KEY) as incidents,
          running_escalator(identity_keys=KEY, clock=ManualClock(START), escalator_config_file=str(config)) as escalator,
          running_slo(identity_keys=KEY, slo_evaluate_interval_s=0.2) as slo):
        yield {"incidents": incidents.url, "escalator": escalator.url, "slo": slo.url}


@pytest.fixture(scope="module")
def config_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("config")


def vigil(config_home: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    env = {"XDG_CONFIG_HOME": str(config_home), "VIGIL_API_TOKEN": None, "VIGIL_INCIDENTS_URL": None,
           "VIGIL_ESCALATOR_URL": None, "VIGIL_SLO_URL": None}
    result = CliRunner().invoke(vigil_app, list(args), env=env, input=input)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def logged_in(stack, config_home) -> Path:
    """Kim logged in: the token typed at the prompt, tried on the incident service, stored."""
    code, out = vigil(config_home, "login", "--url", stack["incidents"], "--escalator-url", stack["escalator"],
                      "--slo-url", stack["slo"], input=KIM + "\n")
    assert code == 0, out
    assert "logged in as kim (responder; token tok-kim)" in out and KIM not in out
    return config_home


def test_login_stores_the_token_for_the_user_alone_and_refuses_a_token_the_service_refuses(stack, tmp_path):
    code, out = vigil(tmp_path, "login", "--url", stack["incidents"], "--token", FORGED)
    assert code == 1 and f"the incident service at {stack['incidents']} refused this token: nothing stored" in out
    path = tmp_path / "vigil" / "credentials.toml"
    assert not path.exists()
    code, out = vigil(tmp_path, "login", "--url", stack["incidents"], "--token", KIM)
    assert code == 0, out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert f"saved in {path}" in out
    unreachable = f"http://127.0.0.1:{free_port()}"
    code, out = vigil(tmp_path, "login", "--url", unreachable, "--token", KIM)
    assert code == 3 and f"cannot reach the incident service at {unreachable}" in out and "nothing stored" in out
    code, out = vigil(tmp_path, "logout")
    assert code == 0 and not path.exists()


def test_a_responder_declares_lists_shows_acknowledges_notes_and_resolves_an_incident(logged_in):
    title = f"checkout returns 500 {uuid.uuid4().hex[:6]}"
    code, out = vigil(logged_in, "incidents", "declare", title, "--sev", "SEV2", "--label", "service=checkout", "--json")
    assert code == 0, out
    declared = json.loads(out)
    number = declared["number"]
    assert (declared["severity"], declared["labels"]) == (2, {"service": "checkout"})

    code, out = vigil(logged_in, "incidents", "list")
    assert code == 0
    [row] = [line for line in out.splitlines() if line.startswith(f"{number} ")]
    assert row.split()[:4] == [number, "SEV2", "investigating", "-"] and row.endswith(title)

    bare = number.removeprefix("INC-")  # INC-n or n, everywhere
    code, out = vigil(logged_in, "incidents", "ack", bare)
    assert code == 0 and out.strip() == f"{number} SEV2 investigating, acknowledged by kim: {title}"
    code, out = vigil(logged_in, "incidents", "note", number.lower(), "rolled back 1.4.2")
    assert code == 0 and out.strip() == f"note added to {number} by kim"
    code, out = vigil(logged_in, "incidents", "resolve", number, "--root-cause", "bad deploy", "--fix", "rollback")
    assert code == 0 and out.strip().startswith(f"{number} SEV2 resolved")

    code, out = vigil(logged_in, "incidents", "show", number)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{number}  SEV2  resolved  {title}"
    assert "Labels        service=checkout" in lines and "Root cause    bad deploy" in lines
    timeline = [line.split(None, 4)[2:] for line in lines[lines.index("Timeline") + 2:]]  # after the date and time
    assert ["note", "kim", "rolled back 1.4.2"] in timeline
    assert any(what[:2] == ["acknowledged", "kim"] for what in timeline), timeline

    code, out = vigil(logged_in, "incidents", "list")  # open ones
    assert code == 0 and f"{number} " not in out
    code, out = vigil(logged_in, "incidents", "list", "--all", "--search", title, "--json")
    assert code == 0 and [i["number"] for i in json.loads(out)["items"]] == [number]


def test_an_unknown_incident_a_wrong_token_a_viewer_and_an_unreachable_service_say_so(stack, logged_in):
    for args in (("incidents", "show", "INC-987654321"), ("incidents", "ack", "987654321"),
                 ("incidents", "note", "INC-987654321", "x"), ("incidents", "resolve", "inc-987654321")):
        code, out = vigil(logged_in, *args)
        assert (code, out.strip()) == (1, "no incident INC-987654321"), args
    for token in ("wrong-token-0123456789", FORGED):
        code, out = vigil(logged_in, "incidents", "list", "--token", token)
        assert (code, out.strip()) == (1, "your token was refused by the incident service: run `vigil login`")
    code, out = vigil(logged_in, "incidents", "declare", "x", "--sev", "3", "--token", VIEWER)
    assert code == 1 and "the incident service refused (403): this needs the responder role" in out
    unreachable = f"http://127.0.0.1:{free_port()}"
    for args in (("incidents", "list"), ("oncall",), ("slo", "list")):
        code, out = vigil(logged_in, *args, "--url", unreachable)
        assert code == 3 and f"at {unreachable}: " in out, out


def test_on_call_now_and_at_a_handoff_overlap(logged_in):
    code, out = vigil(logged_in, "oncall")
    assert code == 0
    assert out.splitlines() == [f"On call at {render.when(START, datetime.now().astimezone().tzinfo, with_zone=True)}",
                                "SCHEDULE  PRIMARY  BACKUP", "ops       bob      dave"]
    code, out = vigil(logged_in, "oncall", "--schedule", "ops", "--at", "2026-12-07T09:15Z")
    assert code == 0 and out.splitlines()[-1] == "ops       bob + alice  dave + carol"
    code, out = vigil(logged_in, "oncall", "--at", "2026-12-07T09:45+00:00", "--json")
    assert code == 0 and [(e["primary"], e["backup"]) for e in json.loads(out)] == [(["alice"], ["carol"])]
    code, out = vigil(logged_in, "oncall", "--schedule", "nope")
    assert code == 1 and "no schedule 'nope'" in out


def test_an_override_is_added_listed_applied_and_removed(logged_in):
    code, out = vigil(logged_in, "overrides", "add", "ops", "erin", "--from", "2026-12-02T13:00Z", "--for", "8h", "--json")
    assert code == 0, out
    added = json.loads(out)
    assert (added["person"], added["tier"], added["created_by"]) == ("erin", "primary", "kim")
    assert datetime.fromisoformat(added["end_at"]) - datetime.fromisoformat(added["start_at"]) == timedelta(hours=8)

    code, out = vigil(logged_in, "overrides", "list", "ops")
    assert code == 0 and out.splitlines()[1].split()[:3] == [str(added["id"]), "primary", "erin"]
    code, out = vigil(logged_in, "oncall", "--at", "2026-12-02T14:00Z", "--json")
    assert json.loads(out)[0]["primary"] == ["erin"]

    code, out = vigil(logged_in, "overrides", "remove", "ops", str(added["id"]))
    assert (code, out.strip()) == (0, f"removed override {added['id']} from ops")
    code, out = vigil(logged_in, "oncall", "--at", "2026-12-02T14:00Z", "--json")
    assert json.loads(out)[0]["primary"] == ["bob"]
    code, out = vigil(logged_in, "overrides", "remove", "ops", str(added["id"]))
    assert code == 1 and f"no override {added['id']} on 'ops'" in out
    code, out = vigil(logged_in, "overrides", "add", "nope", "erin", "--for", "1h")
    assert code == 1 and "no schedule 'nope'" in out


def test_slo_list_and_show_after_a_service_sent_metrics(stack, logged_in):
    service = f"shop-{uuid.uuid4().hex[:6]}"
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    events = [{"event_id": str(uuid.uuid4()), "occurred_at": (minute - timedelta(minutes=m)).isoformat(), "source": "cli-test",
               "service": service, "interval_start": (minute - timedelta(minutes=m)).isoformat(), "requests": 1000,
               "errors": 0, "utilisation": {}} for m in range(1, 11)]
    with httpx.Client(base_url=stack["slo"], headers={"Authorization": f"Bearer {TOKENS['responder']}"}) as http:
        assert http.post("/api/v1/metrics", json=events).status_code == 202
        wait_for(lambda: http.get("/api/v1/slos", params={"service": service}).json()["items"], what="the SLOs evaluated")
    code, out = vigil(logged_in, "slo", "list", "--service", service)
    assert code == 0, out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert f"{service}:availability" in rows and "99.9%" in rows[f"{service}:availability"]
    code, out = vigil(logged_in, "slo", "show", f"{service}:availability")
    assert code == 0 and out.splitlines()[0] == f"{service}:availability  Availability"
    assert "Error budget (minutes)" in out and "rolling_30d" in out and "Burn rates" in out
    code, out = vigil(logged_in, "slo", "show", service, "nope")
    assert code == 1 and f"no SLO {service}:nope" in out


def test_the_installed_vigil_command_reads_the_stored_login(logged_in):
    result = subprocess.run([str(Path(sys.executable).with_name("vigil")), "incidents", "list", "--all", "--json"],
                            env={"XDG_CONFIG_HOME": str(logged_in), "PATH": "/usr/bin:/bin", "HOME": str(logged_in)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "items" in json.loads(result.stdout)
