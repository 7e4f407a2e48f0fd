"""The shape of the incident service: the core never imports its operations wing (`app.py` wires the
wing's routers and its resolve hook in), and no router imports another router (shared route
helpers live in `services/incidents/api.py`)."""

from pathlib import Path

from tests.unit.test_layout import imports_of

ROOT = Path(__file__).resolve().parents[3]
INCIDENTS = ROOT / "services" / "incidents"


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imported(path: Path) -> set[str]:
    return imports_of(path, with_names=True)


def test_the_incidents_core_never_imports_its_operations_wing():
    core = [p for p in INCIDENTS.glob("*.py") if p.name != "app.py"]
    assert {p.name for p in core} >= {"service.py", "routes.py", "api.py", "consumer.py"}
    for path in core:
        wing = sorted(n for n in imported(path) if n == "services.incidents.ops" or n.startswith("services.incidents.ops."))
        assert not wing, f"{path.relative_to(ROOT)} imports {wing}"


def test_no_router_imports_another_router():
    routers = {module_of(p): p for p in INCIDENTS.rglob("*.py") if "= APIRouter(" in p.read_text()}
    assert set(routers) >= {"services.incidents.routes", "services.incidents.ops.routes"}
    for name, path in routers.items():
        others = sorted(imported(path) & (set(routers) - {name}))
        assert not others, f"{path.relative_to(ROOT)} imports the routers {others}"
