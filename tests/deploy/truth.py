"""What the code says, for the deployment tests to hold the manifests against.

Nothing here is a copy of a manifest: services come from `services.cli.SERVICES`, their variables
and ports from their settings classes, topics from `shared.events.Topic`, metric names from the
`Counter(`/`Histogram(`/`Gauge(` definitions in the source.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from services.cli import SERVICES
from shared import events
from shared.events import Topic
from shared.settings import BaseServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The paging path: an alert must get from Alertmanager to a person with no scale-from-zero delay.
PAGING_PATH = ("ingest", "incidents", "escalator", "notifier")
# Metrics that the code does not export but standard exporters do (docs/deploy.md says which).
EXTERNAL_METRICS = {
    "up": "Prometheus, for every scrape target",
    "kafka_consumergroup_lag": "kafka-exporter (or Strimzi's Kafka Exporter)",
}


@dataclass(frozen=True)
class ServiceTruth:
    name: str
    settings: type[BaseServiceSettings]
    env: frozenset[str]  # every VIGIL_* variable the service reads
    port: int
    port_env: str
    needs_postgres: bool
    consumed_topics: frozenset[str]
    consumer_group: str | None


def env_names(settings: type[BaseServiceSettings]) -> frozenset[str]:
    prefix = settings.model_config.get("env_prefix", "")
    return frozenset(f"{prefix}{name}".upper() for name in settings.model_fields)


def topics() -> frozenset[str]:
    return frozenset(v for k, v in vars(Topic).items() if k.isupper() and isinstance(v, str))


def consumed_topics(consumer_source: str) -> set[str]:
    """The topics a consumer.py reads: the `Topic.*` it names, and the topics of the event models it
    imports from shared.events (a loop built from `model.topic` names no Topic)."""
    named = {getattr(Topic, m) for m in re.findall(r"\bTopic\.([A-Z_]+)\b", consumer_source)}
    imported = [getattr(events, alias.name) for node in ast.walk(ast.parse(consumer_source))
                if isinstance(node, ast.ImportFrom) and node.module == "shared.events" for alias in node.names]
    return named | {m.topic for m in imported if isinstance(m, type) and issubclass(m, events.Event) and m is not events.Event}


@cache
def services() -> dict[str, ServiceTruth]:
    out = {}
    for name, make_spec in SERVICES.items():
        spec = make_spec()
        settings = spec.load_settings.__self__  # the settings class behind its `load` classmethod
        defaults = settings.model_construct()  # defaults without validation (no tokens needed)
        port = spec.port(defaults)
        port_fields = [f for f in settings.model_fields if f.endswith("_port") and getattr(defaults, f) == port]
        assert len(port_fields) == 1, f"{name}: cannot tell which setting is the port: {port_fields}"
        group_fields = [f for f in settings.model_fields if f.endswith("_consumer_group")]
        package = ROOT / "services" / name
        consumer = package / "consumer.py"
        consumed = set()
        if consumer.exists():
            consumed = consumed_topics(consumer.read_text())
        out[name] = ServiceTruth(
            name=name,
            settings=settings,
            env=env_names(settings),
            port=port,
            port_env=f"{settings.model_config.get('env_prefix', '')}{port_fields[0]}".upper(),
            needs_postgres=(package / "migrations").is_dir(),
            consumed_topics=frozenset(consumed),
            consumer_group=getattr(defaults, group_fields[0]) if group_fields else None,
        )
    return out


METRIC_DEF = re.compile(r"\b(Counter|Histogram|Gauge|Summary)\(\s*[\"']([a-zA-Z_:][a-zA-Z0-9_:]*)[\"']")


@cache
def exported_metrics() -> frozenset[str]:
    """Every series name the code can expose, with the suffixes prometheus_client adds."""
    names: set[str] = set()
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        for kind, name in METRIC_DEF.findall(path.read_text()):
            if kind == "Counter":
                base = name.removesuffix("_total")
                names |= {base + "_total", base + "_created"}
            elif kind in ("Histogram", "Summary"):
                names |= {name + "_sum", name + "_count", name + "_created"}
                if kind == "Histogram":
                    names.add(name + "_bucket")
            else:
                names.add(name)
    return frozenset(names)


_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
             "unless", "inf", "nan", "le", "atan2"}


def promql_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, label matchers, grouping clauses,
    functions and durations are left out)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end():].lstrip()
        if following.startswith("(") or word.lower() in _KEYWORDS:
            continue
        if text[max(0, match.start() - 1)].isdigit():  # 5m, 1e3
            continue
        names.add(word)
    return names


def kustomize_command(directory: Path) -> list[str]:
    """`kubectl kustomize DIR`, or the standalone kustomize that scripts/setup.sh builds when the
    machine has no kubectl."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    standalone = ROOT / ".cache" / "bin" / "kustomize"
    assert standalone.exists(), "neither kubectl nor .cache/bin/kustomize: run scripts/setup.sh"
    return [str(standalone), "build", str(directory)]


@cache
def rendered(overlay: str) -> tuple[dict, ...]:
    result = subprocess.run(kustomize_command(K8S / "overlays" / overlay), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kustomize {overlay} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(objects, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}
