"""Every page of the console (tests/browser/pages.py), on a phone (390 px) and a desktop (1280 px),
in light and dark: axe-core finds no serious or critical violation, no page scrolls sideways on a
phone (390 px, nor 360), and a screenshot of each is saved (a temporary directory under `make test`;
docs/console/ under `make screenshots`, which sets VIGIL_SCREENSHOTS_DIR).

axe is injected as an init script, not a <script> tag: the console's Content-Security-Policy refuses
inline scripts, rightly. The colour scheme changes only colours, so in dark mode only the contrast
rule runs again."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.pages import PAGES, ConsolePage
from tests.support import REPO

pytestmark = [pytest.mark.integration, pytest.mark.e2e]  # the seed sends its critical alert through a real Alertmanager

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
WIDTHS = {"phone": PHONE, "desktop": DESKTOP}
SMALL_PHONE = {"width": 360, "height": 740}  # the narrowest the console promises to work on
DARK_SHOTS = ("incidents", "incident")  # also pictured in dark mode, on the phone
RUN_AXE = """async rules => {
  const result = await axe.run(document, rules ? {runOnly: rules, resultTypes: ['violations']} : {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}));
}"""
SIDEWAYS_PX = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture(scope="module")
def tabs(console_stack, signed_in):
    """who -> one page of theirs, axe loaded into every document it opens. A page is loaded once and
    looked at in each width (the server renders the same HTML for both)."""
    opened = {}

    def tab(who: str | None):
        if who not in opened:
            context = signed_in(who, viewport=PHONE)
            context.add_init_script(path=str(AXE))
            opened[who] = context.new_page()
        return opened[who]

    return tab


def blocking_violations(page, rules: list[str] | None = None) -> list[dict]:
    return [v for v in page.evaluate(RUN_AXE, rules) if v["impact"] in BLOCKING]


@pytest.mark.parametrize("console_page", PAGES, ids=[p.name for p in PAGES])
def test_page_is_accessible_fits_a_phone_and_is_pictured(console_stack, tabs, shots_dir, console_page: ConsolePage):
    url = console_page.url(console_stack.seeded)
    page = tabs(console_page.who)
    page.set_viewport_size(PHONE)
    page.emulate_media(color_scheme="light")
    response = page.goto(url)
    assert response.status == console_page.status, f"{url}: {response.status}"
    for phone in (PHONE, SMALL_PHONE):
        page.set_viewport_size(phone)
        assert page.evaluate(SIDEWAYS_PX) <= 0, f"{url} scrolls sideways on a {phone['width']} px phone"
    found = {}
    for width, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        page.emulate_media(color_scheme="light")
        if console_page.pictured:
            page.screenshot(path=shots_dir / f"{console_page.name}-{width}.png", animations="disabled", caret="hide")
        if problems := blocking_violations(page):
            found[f"{width}, light"] = problems
        page.emulate_media(color_scheme="dark")
        if problems := blocking_violations(page, ["color-contrast", "link-in-text-block"]):
            found[f"{width}, dark"] = problems
        if width == "phone" and console_page.name in DARK_SHOTS:
            page.screenshot(path=shots_dir / f"{console_page.name}-{width}-dark.png", animations="disabled", caret="hide")
    assert not found, f"{url}:\n{json.dumps(found, indent=1)}"
