"""The Dockerfile and its helpers. Docker does not run here, so the image is checked as text
(hadolint, the rules of issue 7) and its two scripts are run directly."""

from __future__ import annotations

import fnmatch
import http.server
import re
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests.deploy.truth import ROOT, services

DOCKERFILE = ROOT / "Dockerfile"
HELPERS = ROOT / "deploy" / "docker"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def args() -> dict[str, str]:
    return dict(rest.split("=", 1) for word, rest in instructions() if word == "ARG" and "=" in rest)


def test_hadolint_finds_nothing():
    tool = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([str(tool), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_on_a_slim_python_the_project_supports():
    build, *_, final = stages()
    assert len(stages()) >= 2
    python = args()["PYTHON_VERSION"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(python + ".0")
    for stage in (build, final):
        assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim(-\w+)?( AS \w+)?", stage[0][1]), stage[0][1]


def test_the_final_stage_has_no_build_tools_and_runs_unprivileged():
    final = stages()[-1]
    runs = " ".join(rest for word, rest in final if word == "RUN")
    assert not re.search(r"apt-get install|apk add|gcc|build-essential|pip install", runs), runs
    copies = [rest for word, rest in final if word == "COPY"]
    assert any(c.startswith("--from=build /opt/vigil ") for c in copies)
    (user,) = [rest for word, rest in final if word == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, "a numeric non-root uid, so runAsNonRoot can verify it"
    assert f"--uid {uid}" in runs


def test_the_entrypoint_is_vigil_serve_with_a_healthcheck():
    final = dict((word, rest) for word, rest in stages()[-1])
    assert final["ENTRYPOINT"] == '["vigil"]'
    assert final["CMD"] == '["serve", "ingest"]'
    assert "/opt/vigil/libexec/healthcheck.py" in final["HEALTHCHECK"]
    env = final["ENV"]
    assert "VIGIL_HOST=0.0.0.0" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    exposed = {int(p) for p in final["EXPOSE"].split()}
    assert exposed == {s.port for s in services().values()}


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/")
        pats = [pat, pat[3:]] if pat.startswith("**/") else [pat]
        if any(fnmatch.fnmatchcase(c, p) or fnmatch.fnmatchcase(c.rsplit("/", 1)[-1], p) and p != pat
               for c in candidates for p in pats):
            ignored = not negate
    return ignored


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_private():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert not dockerignored(source, patterns), f"{source} is excluded by .dockerignore"
    for private in (".git/config", ".venv/bin/python", ".local/ingest-token", ".cache/kafka/libs/x.jar",
                    "tests/conftest.py", "services/__pycache__/cli.cpython-311.pyc", ".env"):
        assert dockerignored(private, patterns), private


def test_the_healthcheck_knows_every_service_port():
    sys.path.insert(0, str(HELPERS))
    try:
        import healthcheck
    finally:
        sys.path.remove(str(HELPERS))
    assert healthcheck.DEFAULT_PORTS == {name: s.port for name, s in services().items()}
    assert healthcheck.service_of(b"/opt/vigil/bin/python\0/opt/vigil/bin/vigil\0serve\0incidents\0") == "incidents"
    assert healthcheck.service_of(b"python\0-m\0http.server\0") is None


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
def test_the_healthcheck_asks_the_service_on_its_port(status, exit_code):
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = subprocess.run([sys.executable, str(HELPERS / "healthcheck.py"), "escalator"],
                                env={"VIGIL_ESCALATOR_PORT": str(server.server_port)}, capture_output=True, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == exit_code, result.stderr


def test_the_healthcheck_fails_when_nothing_listens():
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run([sys.executable, str(HELPERS / "healthcheck.py"), "ingest"],
                            env={"VIGIL_INGEST_PORT": str(port)}, capture_output=True, timeout=10)
    assert result.returncode == 1


def test_the_migration_step_covers_every_service_with_migrations():
    sys.path.insert(0, str(HELPERS))
    try:
        import migrate
    finally:
        sys.path.remove(str(HELPERS))
    sets = migrate.migration_sets()
    assert {name for name, _, _ in sets} == {name for name, s in services().items() if s.needs_postgres}
    schemas = [schema for _, schema, _ in sets]
    assert len(schemas) == len(set(schemas)), "two services share a schema"
    for name, _, directory in sets:
        assert sorted(directory.glob("*.sql")), name


def test_the_migration_step_says_what_it_needs():
    result = subprocess.run([sys.executable, str(HELPERS / "migrate.py")], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, timeout=30)
    assert result.returncode == 2 and "VIGIL_DATABASE_URL" in result.stderr


def test_the_image_ships_the_front_end_packages_from_the_lock_file():
    """Every package of package.json reaches the image from an `npm ci` stage (the lock file's
    versions, no install scripts), at least the files /docs serves, where VIGIL_ASSETS_DIR points."""
    import json

    from shared.api_docs import PACKAGE, SERVED

    (assets,) = [stage for stage in stages() if stage[0][1].startswith("node:")]
    runs = " ".join(rest for word, rest in assets if word == "RUN")
    assert "npm ci" in runs and "--ignore-scripts" in runs and "--omit=dev" in runs, runs
    name = assets[0][1].split(" AS ")[1]
    final = stages()[-1]
    env = " ".join(rest for word, rest in final if word == "ENV")
    target = re.search(r"VIGIL_ASSETS_DIR=(\S+)", env).group(1)
    copied = [rest.split() for word, rest in final if word == "COPY" and rest.startswith(f"--from={name} ")]
    shipped = {(source, destination) for _, *sources, destination in copied for source in sources}
    for package in json.loads((ROOT / "package.json").read_text())["dependencies"]:
        whole = (f"/src/node_modules/{package}", f"{target}/{package}") in shipped
        files = {s.rsplit("/", 1)[1] for s, d in shipped if d == f"{target}/{package}/"}
        assert whole or (package == PACKAGE and SERVED <= files), f"{package} is not in the image"
