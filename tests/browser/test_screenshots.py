"""Every page at a phone's and a desktop's width, as PNGs of the viewport: into a temporary directory
under `make test`, into docs/console/ under `make screenshots` (VIGIL_SCREENSHOTS_DIR). On the phone,
no page scrolls sideways (a responder at 3 a.m. on a 390 px screen)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.pages import PAGES, ConsolePage

pytestmark = pytest.mark.integration

WIDTHS = {"phone": PHONE, "desktop": DESKTOP}
DARK = ("incidents", "incident")  # also shown in dark mode, on the phone
SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture(scope="module")
def tabs(console_stack, signed_in):
    opened = {}

    def tab(width: str, who: str | None):
        if (width, who) not in opened:
            opened[(width, who)] = signed_in(who, viewport=WIDTHS[width]).new_page()
        return opened[(width, who)]

    return tab


@pytest.mark.parametrize("console_page", PAGES, ids=[p.name for p in PAGES])
def test_each_page_at_phone_and_desktop_width(console_stack, tabs, shots_dir, console_page: ConsolePage):
    for width in WIDTHS:
        page = tabs(width, console_page.who)
        response = page.goto(console_page.url(console_stack.seeded))
        assert response.status == console_page.status, f"{console_page.path}: {response.status}"
        if width == "phone":
            assert page.evaluate(SIDEWAYS) <= 0, f"{console_page.path} scrolls sideways on a phone"
        shots = [(f"{console_page.name}-{width}.png", "light")]
        if width == "phone" and console_page.name in DARK:
            shots.append((f"{console_page.name}-{width}-dark.png", "dark"))
        for name, scheme in shots:
            page.emulate_media(color_scheme=scheme)
            page.screenshot(path=shots_dir / name, animations="disabled", caret="hide")
            assert (shots_dir / name).stat().st_size > 1000
        page.emulate_media(color_scheme="light")
