"""The console's pure modules import no I/O library (as tests/unit/test_layout.py checks for the other
services' cores)."""

import pytest

from tests.unit.test_layout import ROOT, _is_io, _module_path, imports_of

PURE = ["services/console/throttle.py", "services/console/csrf.py", "services/console/sessions.py",
        "services/console/tokens.py", "services/console/rendering.py"]


@pytest.mark.parametrize("core", PURE)
def test_console_cores_import_no_io_library(core):
    seen, todo = set(), [ROOT / core]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports_of(path):
            assert not _is_io(name), f"{core} (via {path.relative_to(ROOT)}) imports {name}"
            if name.split(".")[0] in ("services", "shared") and (found := _module_path(name)) is not None:
                todo.append(found)
