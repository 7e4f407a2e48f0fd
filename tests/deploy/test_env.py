"""The .env that docker compose reads: `.env.example` and `vigil env init` name exactly the variables
docker-compose.yml uses, and `init` writes fresh secrets that only their owner can read."""

from __future__ import annotations

import re
import stat

from typer.testing import CliRunner

from services.cli import app
from services.env_cli import VARIABLES, example_text
from tests.deploy.truth import ROOT

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()


def values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_the_variables_are_exactly_those_docker_compose_reads():
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_TEXT))
    optional = set(re.findall(r"\$\{([A-Z0-9_]+):-", COMPOSE_TEXT))
    assert not required & optional
    assert {v.name for v in VARIABLES if v.secret} == required
    assert {v.name for v in VARIABLES if not v.secret} == optional
    assert set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_TEXT)) == required | optional  # no other form


def test_the_env_example_is_rendered_from_that_list_and_holds_no_secret():
    example = (ROOT / ".env.example").read_text()
    assert example == example_text(), "regenerate: python -c 'from services.env_cli import example_text; print(example_text(), end=\"\")' > .env.example"
    assert set(values(example)) == {v.name for v in VARIABLES}
    assert not any(values(example).values())  # an unfilled copy stops compose (`${X:?}` refuses empty)


def test_env_is_never_committed():
    assert "/.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_init_writes_fresh_long_random_secrets_readable_by_the_owner_only(tmp_path):
    runner = CliRunner()
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    for path in (first, second):
        result = runner.invoke(app, ["env", "init", "--path", str(path)])
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    a, b = values(first.read_text()), values(second.read_text())
    assert set(a) == {v.name for v in VARIABLES}
    for variable in VARIABLES:
        if variable.secret:
            assert len(a[variable.name]) >= 32 and a[variable.name] != b[variable.name], variable.name
        else:
            assert a[variable.name] == "", variable.name  # optional: off until the user fills it in
    secrets_of_a = [a[v.name] for v in VARIABLES if v.secret]
    assert len(set(secrets_of_a)) == len(secrets_of_a), "one value per secret"


def test_init_keeps_an_existing_env_unless_forced(tmp_path):
    runner = CliRunner()
    path = tmp_path / ".env"
    path.write_text("POSTGRES_PASSWORD=in-use\n")
    path.chmod(0o644)
    result = runner.invoke(app, ["env", "init", "--path", str(path)])
    assert result.exit_code == 1 and "--force" in result.output
    assert path.read_text() == "POSTGRES_PASSWORD=in-use\n"
    result = runner.invoke(app, ["env", "init", "--path", str(path), "--force"])
    assert result.exit_code == 0, result.output
    assert values(path.read_text())["POSTGRES_PASSWORD"] != "in-use"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
