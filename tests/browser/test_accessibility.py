"""axe-core (npm) on every page of the console, on a phone and a desktop, in light and dark: no
serious or critical violation. axe is injected as an init script (not a <script> tag: the console's
Content-Security-Policy refuses inline scripts, rightly)."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.pages import PAGES, ConsolePage
from tests.support import REPO

pytestmark = pytest.mark.integration

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}));
}"""


@pytest.fixture(scope="module")
def tabs(console_stack, signed_in):
    """(width name, who) -> a page in a context of that width, axe loaded into every document."""
    opened = {}

    def tab(width: str, who: str | None):
        if (width, who) not in opened:
            context = signed_in(who, viewport=PHONE if width == "phone" else DESKTOP)
            context.add_init_script(path=str(AXE))
            opened[(width, who)] = context.new_page()
        return opened[(width, who)]

    return tab


def violations_of(page) -> list[dict]:
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING]


@pytest.mark.parametrize("console_page", PAGES, ids=[p.name for p in PAGES])
def test_no_serious_or_critical_violations(console_stack, tabs, console_page: ConsolePage):
    found = {}
    for width in ("phone", "desktop"):
        page = tabs(width, console_page.who)
        response = page.goto(console_page.url(console_stack.seeded))
        assert response.status == console_page.status, f"{console_page.path}: {response.status}"
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            if problems := violations_of(page):
                found[f"{width}, {scheme}"] = problems
        page.emulate_media(color_scheme="light")
    assert not found, f"{console_page.url(console_stack.seeded)}:\n{json.dumps(found, indent=1)}"
