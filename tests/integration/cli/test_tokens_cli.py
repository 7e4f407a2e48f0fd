"""`vigil login --user`, `vigil tokens create|list|revoke` and `vigil logout --revoke` against the real
console (its token API) and incident service, both verifying the same identity keys: a person with
only a console account gets a token, makes more, and a revoked one is refused everywhere."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from services.cli import app as vigil_app
from tests.services import IDENTITY_KEYS
from tests.support import wait_for

pytestmark = pytest.mark.integration

PASSWORD = "kims-console-password-1"


@pytest.fixture(scope="module")
def stack(running_incidents, running_console, database_url):
    with running_incidents(identity_keys=IDENTITY_KEYS) as incidents, running_console() as console:
        result = CliRunner().invoke(vigil_app, ["users", "add", "kim", "--role", "responder", "--password-stdin"],
                                    env={"VIGIL_DATABASE_URL": database_url}, input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
        yield {"incidents": incidents.url, "console": console.url}


def vigil(config_home, *args: str, input: str | None = None) -> tuple[int, str]:
    env = {"XDG_CONFIG_HOME": str(config_home), "VIGIL_API_TOKEN": None, "VIGIL_INCIDENTS_URL": None, "VIGIL_CONSOLE_URL": None}
    result = CliRunner().invoke(vigil_app, list(args), env=env, input=input)
    return result.exit_code, result.output


def login(stack, home, password: str = PASSWORD) -> tuple[int, str]:
    return vigil(home, "login", "--user", "kim", "--url", stack["incidents"], "--console-url", stack["console"], input=password + "\n")


def test_a_person_logs_in_with_the_console_password_and_manages_tokens(stack, tmp_path):
    code, out = login(stack, tmp_path, "not-the-password")
    assert code == 1 and f"the console at {stack['console']} refused that name and password: nothing stored" in out
    code, out = login(stack, tmp_path)
    assert code == 0, out
    assert "logged in as kim (responder; token " in out and PASSWORD not in out

    code, out = vigil(tmp_path, "tokens", "create", "deploy script", "--role", "viewer", "--expires-in-days", "30", "--json")
    assert code == 0, out
    created = json.loads(out)
    assert (created["person"], created["role"], created["state"]) == ("kim", "viewer", "active")
    assert created["token"].startswith(created["prefix"])

    code, out = vigil(tmp_path, "tokens", "list")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert created["id"] in rows and created["token"] not in out
    assert rows[created["id"]].split()[1:3] == ["deploy", "script"] and rows[created["id"]].endswith("active")

    code, out = vigil(tmp_path, "incidents", "list", "--token", created["token"])
    assert code == 0, out  # a viewer token reads
    code, out = vigil(tmp_path, "tokens", "revoke", created["id"])
    assert code == 0 and out.strip() == f"revoked token {created['id']} (deploy script, kim)"
    code, out = vigil(tmp_path, "tokens", "list", "--json")
    assert {t["id"]: t["state"] for t in json.loads(out)}[created["id"]] == "revoked"
    # The incident service learns the revocation from vigil.identity.v1.
    wait_for(lambda: vigil(tmp_path, "incidents", "list", "--token", created["token"])[0] == 1, timeout_s=10,
             what="the revoked token refused by the incident service")
    code, out = vigil(tmp_path, "incidents", "list", "--token", created["token"])
    assert out.strip() == "your token was refused by the incident service: run `vigil login`"
    code, out = vigil(tmp_path, "tokens", "revoke", "no-such-token")
    assert code == 1 and "no token no-such-token of yours" in out


def test_logout_with_revoke_revokes_the_stored_token_at_the_console(stack, tmp_path):
    assert login(stack, tmp_path)[0] == 0
    stored = (tmp_path / "vigil" / "credentials.toml").read_text()
    token = stored.split('token = "', 1)[1].split('"', 1)[0]
    code, out = vigil(tmp_path, "logout", "--revoke")
    assert code == 0 and "revoked token" in out and "logged out" in out
    assert not (tmp_path / "vigil" / "credentials.toml").exists()
    code, out = vigil(tmp_path, "tokens", "list", "--token", token, "--url", stack["console"])
    assert (code, out.strip()) == (1, "your token was refused by the console: run `vigil login`")
