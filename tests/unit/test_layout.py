"""Structure rules: services never import each other, and `shared/` imports no service."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
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
