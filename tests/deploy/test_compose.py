"""docker-compose.yml: valid by the Compose specification's schema, and in agreement with the code
(services, ports, VIGIL_* variables); its demo Prometheus and Alertmanager configs pass their tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.truth import ROOT, services

COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy" / "compose" / "prometheus" / "prometheus.yml"
ALERTMANAGER = ROOT / "deploy" / "compose" / "alertmanager" / "alertmanager.yml"
SECRET_LIKE = re.compile(r"TOKEN|PASSWORD|DATABASE_URL|SECRET|_KEYS?$")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # resolves the x-vigil anchors and << merges


def vigil_services(doc: dict) -> dict[str, dict]:
    """service name -> its compose service, found by the `vigil serve <name>` it runs."""
    out = {}
    for key, svc in doc["services"].items():
        if svc.get("image") == "vigil:dev" and svc.get("command", [None])[0] == "serve":
            assert svc["command"] == ["serve", key], f"compose service {key} runs {svc['command']}"
            out[svc["command"][1]] = svc
    return out


def check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_compose_file_is_valid_by_the_compose_specification():
    result = check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_check_rejects_a_wrong_file(tmp_path):
    doc = compose()
    doc["services"]["ingest"]["ports"] = {"8080": 8080}  # a mapping where the spec wants a list
    doc["services"]["ingest"]["helthcheck"] = {"test": ["NONE"]}
    broken = tmp_path / "compose.yml"
    broken.write_text(yaml.safe_dump(doc))
    assert check_jsonschema(broken).returncode != 0


def test_compose_runs_exactly_the_services_of_the_code():
    assert set(vigil_services(compose())) == set(services())


def test_compose_ports_and_variables_match_the_settings():
    doc = compose()
    kafka_listener = doc["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    for name, svc in vigil_services(doc).items():
        truth = services()[name]
        env = svc["environment"]
        unknown = {k for k in env if k.startswith("VIGIL_")} - truth.env
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of {truth.settings.__name__}"
        port = int(env.get(truth.port_env, truth.port))
        assert port == truth.port and f"{port}:{port}" in svc["ports"], name
        assert env["VIGIL_HOST"] == "0.0.0.0", name
        assert f"PLAINTEXT://{env['VIGIL_KAFKA_BOOTSTRAP_SERVERS']}" == kafka_listener, name
        assert (("VIGIL_DATABASE_URL" in env) == truth.needs_postgres), name
        if truth.needs_postgres:
            assert svc["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
            assert "@postgres:5432/" in env["VIGIL_DATABASE_URL"], name
        for key, value in env.items():
            if SECRET_LIKE.search(key):
                assert "${" in str(value), f"{name}: {key} holds a literal secret; take it from the environment"
        for value in env.values():  # a call to another Vigil service uses its compose name and port
            match = re.fullmatch(r"http://([a-z]+):(\d+)/?", str(value))
            if match and match.group(1) in services():
                assert int(match.group(2)) == services()[match.group(1)].port, f"{name}: {value}"
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"] and svc["user"] != "0", name
    assert "VIGIL_INGEST_TOKENS" in vigil_services(doc)["ingest"]["environment"]


def test_kafka_is_the_official_image_in_kraft_mode_and_migrations_run_once():
    doc = compose()
    kafka = doc["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    migrate = doc["services"]["migrate"]
    assert migrate["entrypoint"] == ["python", "/opt/vigil/libexec/migrate.py"]
    assert migrate["restart"] == "no" and migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_demo_prometheus_config_passes_promtool_and_scrapes_every_service():
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/setup.sh installs it"
    result = subprocess.run([promtool, "check", "config", str(PROMETHEUS)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(PROMETHEUS.read_text())
    (vigil_job,) = [j for j in config["scrape_configs"] if j["job_name"] == "vigil"]
    targets = {t for sc in vigil_job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:{truth.port}" for name, truth in services().items()}


def test_the_demo_alertmanager_posts_to_ingest_with_the_token_secret():
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: scripts/setup.sh installs prometheus-alertmanager"
    result = subprocess.run([amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(ALERTMANAGER.read_text())
    (receiver,) = config["receivers"]
    (hook,) = receiver["webhook_configs"]
    route = re.search(r'"(/api/v1/webhooks/alertmanager)"', (ROOT / "services/ingest/routes.py").read_text())
    assert route, "ingest's webhook route moved"
    assert hook["url"] == f"http://ingest:{services()['ingest'].port}{route.group(1)}"
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer" and "credentials" not in auth
    (secret,) = compose()["services"]["alertmanager"]["secrets"]
    assert auth["credentials_file"] == f"/run/secrets/{secret['target']}"


def test_the_demo_grafana_shows_the_vigil_dashboard_from_the_demo_prometheus():
    grafana = compose()["services"]["grafana"]
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in grafana["volumes"] if v.startswith("./"))
    provisioning = ROOT / next(src for src, dst in mounts.items() if dst == "/etc/grafana/provisioning")
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "vigil.yml").read_text())["providers"]
    dashboards = ROOT / next(src for src, dst in mounts.items() if dst == provider["options"]["path"])
    assert (dashboards / "vigil.json").is_file()
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose()["services"]["prometheus"]["ports"]


@pytest.mark.parametrize("key", ["POSTGRES_PASSWORD", "INGEST_TOKEN", "API_TOKEN", "GRAFANA_ADMIN_PASSWORD",
                                 "NOTIFIER_LINK_KEY", "NOTIFIER_WEBHOOK_KEY", "IDENTITY_KEY"])
def test_compose_requires_each_secret_from_the_environment(key):
    assert f"${{{key}:?" in COMPOSE.read_text()


def test_the_notifier_mails_to_the_compose_mail_catcher_and_links_to_its_published_port():
    doc = compose()
    env = vigil_services(doc)["notifier"]["environment"]
    catcher = doc["services"][env["VIGIL_NOTIFIER_SMTP_HOST"]]
    assert catcher["image"].startswith("axllent/mailpit:") and "8025:8025" in catcher["ports"]
    assert (env["VIGIL_NOTIFIER_SMTP_PORT"], env["VIGIL_NOTIFIER_SMTP_SECURITY"]) == ("1025", "none")  # Mailpit's SMTP
    port = services()["notifier"].port
    assert env["VIGIL_NOTIFIER_PUBLIC_URL"] == f"http://localhost:{port}" and f"{port}:{port}" in vigil_services(doc)["notifier"]["ports"]


def test_every_service_that_verifies_people_has_the_same_identity_keys():
    readers = {name for name, truth in services().items() if "VIGIL_IDENTITY_KEYS" in truth.env}
    keys = {name: svc["environment"].get("VIGIL_IDENTITY_KEYS") for name, svc in vigil_services(compose()).items()
            if name in readers}
    assert "console" in keys and None not in keys.values(), keys
    assert len(set(keys.values())) == 1, f"one key for every service: {keys}"


def test_the_console_is_opened_at_its_published_port_and_reaches_every_peer():
    from services.console.config import ConsoleSettings

    svc = vigil_services(compose())["console"]
    env, port = svc["environment"], services()["console"].port
    assert env["VIGIL_CONSOLE_PUBLIC_URL"] == f"http://localhost:{port}" and f"{port}:{port}" in svc["ports"]
    assert env["VIGIL_CONSOLE_COOKIE_SECURE"] == "false", "plain http: a Secure-only cookie would not come back"
    for peer in ConsoleSettings.model_construct().peer_urls():
        assert env[f"VIGIL_CONSOLE_{peer.upper()}_URL"] == f"http://{peer}:{services()[peer].port}", peer
