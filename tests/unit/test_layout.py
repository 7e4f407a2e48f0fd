"""Structure rules: services never import each other, and `shared/` imports no service."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path, *, with_names: bool = False) -> set[str]:
    """Every module `path` imports, by its full dotted name; `with_names`: also each name taken
    from one (`from services.incidents import ops` gives `services.incidents.ops` too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if with_names:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_services_do_not_import_each_other():
    services = [p for p in (ROOT / "services").iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    assert {p.name for p in services} >= {"ingest"}
    for service in services:
        for path in service.rglob("*.py"):
            for name in imports_of(path):
                parts = name.split(".")
                if parts[0] == "services" and len(parts) > 1 and parts[1] != "cli":
                    assert parts[1] == service.name, f"{path.relative_to(ROOT)} imports {name}"


def test_shared_imports_no_service():
    for path in (ROOT / "shared").rglob("*.py"):
        assert not any(n.split(".")[0] == "services" for n in imports_of(path)), path


# The pure cores: decisions from data and `now`, no I/O (style.md). They may import each other,
# pydantic and pure libraries, never a network, database, web or file-system client.
PURE_CORES = [
    "services/ingest/normalize.py",
    "services/incidents/lifecycle.py", "services/incidents/severity.py", "services/incidents/alerts.py",
    "services/incidents/silences.py", "services/incidents/severities.py",
    "services/incidents/ops/reports.py", "services/incidents/ops/postmortems.py", "services/incidents/ops/schedule.py", "services/incidents/ops/daily_check.py",
    "services/escalator/policy.py", "services/escalator/rotation.py", "shared/business_calendar.py",
    "services/escalator/oncall_config.py", "services/escalator/calendar_feed.py", "services/escalator/handoffs.py",
    "services/slo/budget.py", "services/slo/buckets.py", "services/slo/windows.py", "services/slo/evaluation.py",
    "services/slo/alerts.py", "services/slo/capacity.py", "services/slo/history.py", "services/slo/chart.py",
    "services/slo/definitions.py", "services/slo/openslo.py",
    "services/notifier/policy.py", "services/notifier/links.py", "services/notifier/messages.py", "services/notifier/reports.py",
    "services/responder_cli/parse.py", "services/responder_cli/render.py", "shared/identity.py",
    "services/console/throttle.py", "services/console/csrf.py", "services/console/sessions.py",
    "services/console/tokens.py", "services/console/rendering.py", "services/console/calendar.py",
    "services/console/slo_view.py", "services/console/markdown.py", "services/console/oidc/claims.py",
    "services/ingest/events_v2/mapping.py", "services/ingest/events_v2/keys.py",
    "services/ingest/heartbeats/schedule.py", "services/ingest/heartbeats/states.py", "services/ingest/heartbeats/alerts.py",
]
IO_LIBRARIES = {
    "asyncpg", "aiokafka", "kafka", "httpx", "requests", "aiohttp", "urllib", "http", "socket", "ssl", "smtplib",
    "aiosmtplib", "fastapi", "starlette", "uvicorn", "asyncio", "subprocess", "os", "shutil", "pathlib", "io",
    "sqlite3", "prometheus_client", "structlog", "logging", "opentelemetry",
    "shared.db", "shared.kafka", "shared.outbox", "shared.service", "shared.runtime", "shared.supervision",
    "shared.observability", "shared.local",
}


PURE_PARTS = {"urllib.parse"}  # string functions in an I/O package


def _is_io(name: str) -> bool:
    if name in PURE_PARTS:
        return False
    return any(name == lib or name.startswith(lib + ".") for lib in IO_LIBRARIES)


def _module_path(name: str) -> Path | None:
    for candidate in (ROOT / (name.replace(".", "/") + ".py"), ROOT / name.replace(".", "/") / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def test_pure_cores_import_no_io_library_even_through_other_modules():
    for core in PURE_CORES:
        seen: set[Path] = set()
        todo = [ROOT / core]
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            for name in imports_of(path):
                assert not _is_io(name), f"{core} (via {path.relative_to(ROOT)}) imports {name}"
                if name.split(".")[0] in ("services", "shared") and (found := _module_path(name)) is not None:
                    todo.append(found)
