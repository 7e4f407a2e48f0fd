"""The responder commands' arguments and failures without a service: usage errors exit 2 with the
sentence that says what was wrong, a missing token 1, and each error answer its message and code."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.cli import app as vigil
from services.responder_cli.client import ApiError
from services.responder_cli.common import LABELS, REFUSED, UNREACHABLE, Service, failure
from services.responder_cli.credentials import credentials_path
from shared.local.kafka_broker import free_port


@pytest.fixture
def home(tmp_path, monkeypatch):
    """No stored login, no token in the environment, no .local/api-admin-token."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("VIGIL_API_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    return {}


def run(env: dict, *args: str, input: str | None = None):
    return CliRunner().invoke(vigil, list(args), env=env, input=input)


@pytest.mark.parametrize("args", [
    ("incidents", "show", "checkout"),
    ("incidents", "ack", "INC-x"),
    ("incidents", "note", "#4", "text"),
])
def test_a_word_that_is_no_incident_is_a_usage_error(home, args):
    result = run(home, *args)
    assert result.exit_code == 2
    assert "is not an incident: INC-<n> or <n>" in result.output


@pytest.mark.parametrize(("args", "sentence"), [
    (("oncall", "--at", "tomorrow"), "is not a time"),
    (("incidents", "declare", "db down", "--sev", "critical"), "is not a severity"),
    (("incidents", "declare", "db down", "--sev", "2", "--label", "checkout"), "is not a label"),
    (("incidents", "list", "--sev", "9"), "is not a severity"),
    (("overrides", "add", "platform", "kim", "--for", "8"), "is not a duration"),
    (("overrides", "add", "platform", "kim"), "--until TIME or --for DURATION"),
    (("overrides", "add", "platform", "kim", "--until", "+8h", "--for", "8h"), "--until TIME or --for DURATION"),
    (("slo", "show", "availability"), "<service>:<slo>"),
    (("incidents", "declare", "db down"), "--sev"),
])
def test_bad_arguments_exit_2_saying_what_was_wrong(home, args, sentence):
    result = run({**home, "VIGIL_API_TOKEN": "some-token-0123456789"}, *args)
    assert result.exit_code == 2, result.output
    assert sentence in result.output


def test_without_any_token_a_command_says_to_log_in(home):
    result = run(home, "incidents", "list")
    assert result.exit_code == 1
    assert "no API token: run `vigil login`" in result.output


def test_login_asks_for_the_token_without_echo_and_stores_it_0600(home):
    result = run(home, "login", "--no-check", "--url", "http://vigil.internal:8081", input="secret-token-0123456789\n")
    assert result.exit_code == 0, result.output
    assert "secret-token-0123456789" not in result.output
    assert "a service account's token" in result.output
    path = credentials_path()
    assert path.stat().st_mode & 0o777 == 0o600
    assert 'token = "secret-token-0123456789"' in path.read_text()
    assert 'escalator = "http://vigil.internal:8082"' in path.read_text()
    assert 'console = "http://vigil.internal:8085"' in path.read_text()
    result = run(home, "logout")
    assert result.exit_code == 0 and f"removed {path}" in result.output and not path.exists()
    assert "not logged in" in run(home, "logout").output


def test_an_empty_token_is_not_stored(home):
    result = run(home, "login", "--no-check", "--token", "  ")
    assert result.exit_code == 1 and "nothing stored" in result.output
    assert not credentials_path().exists()


SERVICE = Service("incidents", "http://127.0.0.1:8081", "t")


@pytest.mark.parametrize(("error", "missing", "message", "code"), [
    (ApiError(401, "a valid API token is required"), None, "your token was refused by the incident service: run `vigil login`", REFUSED),
    (ApiError(404, "no incident INC-9"), "no incident INC-9", "no incident INC-9", REFUSED),
    (ApiError(404, "not found"), None, "the incident service refused (404): not found", REFUSED),
    (ApiError(403, "this needs the responder role; the token has viewer"), None,
     "the incident service refused (403): this needs the responder role; the token has viewer", REFUSED),
    (ApiError(422, "invalid request", "title: too long"), None, "the incident service refused (422): invalid request (title: too long)", REFUSED),
    (ApiError(503, "PostgreSQL is unavailable"), None,
     "the incident service at http://127.0.0.1:8081 is unavailable (503): PostgreSQL is unavailable", UNREACHABLE),
])
def test_each_error_answer_has_its_sentence_and_exit_code(error, missing, message, code):
    assert failure(error, SERVICE, missing) == (message, code)


def test_every_command_uses_the_stored_urls_and_an_unreachable_one_exits_3_naming_it(home):
    urls = {service: f"http://127.0.0.1:{free_port()}" for service in ("incidents", "escalator", "slo", "console")}
    result = run(home, "login", "--no-check", "--token", "t" * 20, "--url", urls["incidents"], "--escalator-url", urls["escalator"],
                 "--slo-url", urls["slo"], "--console-url", urls["console"])
    assert result.exit_code == 0, result.output
    for args, service in [(("incidents", "list"), "incidents"), (("oncall",), "escalator"), (("slo", "list"), "slo"),
                          (("tokens", "list"), "console")]:
        result = run(home, *args)
        assert result.exit_code == 3, result.output
        assert f"cannot reach the {LABELS[service]} at {urls[service]}: " in result.output
    other = f"http://127.0.0.1:{free_port()}"
    result = run({"VIGIL_SLO_URL": other}, "slo", "list")  # the environment wins over the stored URL
    assert result.exit_code == 3 and f"at {other}: " in result.output
