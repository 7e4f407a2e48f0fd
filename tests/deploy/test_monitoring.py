"""Vigil's alerts and dashboard: promtool accepts and unit-tests the rules, and every metric a rule
or a panel uses is one the code exports (or a named standard exporter's)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.truth import EXTERNAL_METRICS, K8S, ROOT, exported_metrics, promql_metrics

RULE = K8S / "base" / "prometheusrule.yaml"
DASHBOARD = K8S / "base" / "dashboards" / "vigil.json"
COMPOSE_RULES = ROOT / "deploy" / "compose" / "prometheus" / "rules" / "vigil.yml"
REQUIRED_ALERTS = {
    "VigilIngestErrorRatioHigh", "VigilConsumerLagHigh", "VigilEscalationTimersLate", "VigilOutboxBacklog",
    "VigilDeadLetters", "VigilNoHeartbeat", "VigilNotifierDeliveriesFailing", "VigilNotifierOldestPendingDelivery",
}
# What the dashboard must show, as the metric each panel group rests on.
REQUIRED_PANEL_METRICS = {
    "ingest rate": "vigil_ingest_alerts_total",
    "ingest errors": "vigil_ingest_rejected_total",
    "consumer lag": "kafka_consumergroup_lag",
    "pages sent": "vigil_escalator_actions_total",
    "timer lateness": "vigil_escalator_timer_lateness_seconds_bucket",
    "error budgets": "vigil_slo_budget_remaining_ratio",
    "open incidents by SEV": "vigil_incidents_open",
}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: scripts/setup.sh installs Debian's prometheus package"
    return path


def rule_groups() -> list[dict]:
    doc = yaml.safe_load(RULE.read_text())
    assert doc["kind"] == "PrometheusRule"
    return doc["spec"]["groups"]


def rules() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]


def known(name: str) -> bool:
    return name in exported_metrics() or name in EXTERNAL_METRICS


@pytest.fixture()
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule_groups()}))
    return path


def test_promtool_accepts_the_prometheus_rule(rules_file):
    result = subprocess.run([promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(tmp_path):
    broken = {"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "sum(rate(vigil_ingest_payloads_total[5m])"}]}]}
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0


def test_the_alerts_fire_when_they_should_and_not_otherwise(rules_file):
    shutil.copy(Path(__file__).with_name("rules_test.yml"), rules_file.parent / "rules_test.yml")
    result = subprocess.run([promtool(), "test", "rules", "rules_test.yml"], cwd=rules_file.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vigil_has_its_own_alerts_with_severity_and_runbook_text():
    by_name = {r["alert"]: r for r in rules()}
    assert REQUIRED_ALERTS <= set(by_name)
    for name, rule in by_name.items():
        assert name.startswith("Vigil"), name
        assert rule["labels"]["severity"] in {"critical", "warning"} and rule["labels"]["team"] == "vigil", name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_every_metric_a_rule_uses_is_exported():
    for rule in rules():
        unknown = {m for m in promql_metrics(rule["expr"]) if not known(m)}
        assert not unknown, f"{rule['alert']} uses {sorted(unknown)}, which nothing exports"


def test_the_compose_demo_loads_the_same_rules():
    assert yaml.safe_load(COMPOSE_RULES.read_text()) == {"groups": rule_groups()}


def test_every_metric_a_dashboard_panel_uses_is_exported():
    for title, expr in dashboard_exprs():
        names = promql_metrics(expr)
        assert names, f"{title}: no metric in {expr!r}"
        unknown = {m for m in names if not known(m)}
        assert not unknown, f"panel {title!r} uses {sorted(unknown)}, which nothing exports"


def test_the_dashboard_shows_what_operators_need():
    used = {m for _, expr in dashboard_exprs() for m in promql_metrics(expr)}
    missing = {what for what, metric in REQUIRED_PANEL_METRICS.items() if metric not in used}
    assert not missing


def test_the_dashboard_queries_are_valid_promql(tmp_path):
    # Grafana's $__rate_interval is not PromQL; as recording rules promtool parses each query.
    records = [{"record": f"vigil:panel_{i}", "expr": expr.replace("$__rate_interval", "5m")}
               for i, (_, expr) in enumerate(dashboard_exprs())]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": records}]}))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_a_grafana_dashboard_with_unique_panels():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert [t["refId"] for t in panel["targets"]] == [chr(65 + i) for i in range(len(panel["targets"]))]


@pytest.mark.parametrize(
    ("expr", "metrics"),
    [
        ('sum by (reason) (rate(vigil_ingest_rejected_total{reason="a b"}[5m]))', {"vigil_ingest_rejected_total"}),
        ("histogram_quantile(0.99, sum by (le) (rate(x_bucket[$__rate_interval]))) > 1", {"x_bucket"}),
        ("(sum(increase(a_total[15m])) or vector(0)) == 0", {"a_total"}),
        ("max by (schema) (vigil_outbox_pending) > 1e3 and on (schema) up", {"vigil_outbox_pending", "up"}),
    ],
)
def test_metric_names_are_read_from_promql(expr, metrics):
    assert promql_metrics(expr) == metrics


def test_an_unexported_metric_is_noticed():
    assert not known("vigil_escalator_pages_total")
    assert known("vigil_ingest_produce_seconds_bucket") and known("vigil_outbox_pending")
