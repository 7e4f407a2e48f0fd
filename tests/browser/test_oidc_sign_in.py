"""Signing in with OpenID Connect in the browser: the console's button, the local provider's own login
and consent pages (npm oidc-provider, tests/oidc), and back on the page the person asked for, signed
in. A second console on the package's database, configured with the provider."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE
from tests.oidc.local import CLIENT_ID, CLIENT_SECRET, local_provider, reserve_issuer
from tests.services import service_settings, start_service

pytestmark = [pytest.mark.integration, pytest.mark.e2e]  # the seed sends its critical alert through a real Alertmanager


@pytest.fixture(scope="module")
def oidc_console(console_stack):
    issuer = reserve_issuer()
    settings = service_settings(
        "console", bootstrap=console_stack.bootstrap, database_url=console_stack.database_url,
        topic_prefix=console_stack.topic_prefix, console_incidents_url=console_stack.incidents.url,
        console_oidc_issuer=issuer, console_oidc_client_id=CLIENT_ID, console_oidc_client_secret=CLIENT_SECRET,
        console_oidc_provider_name="Example SSO")
    with start_service("console", settings) as console, \
            local_provider(issuer, redirect_uri=console.url + "/signin/oidc/callback"):
        yield console


def test_signing_in_with_the_provider_in_a_browser(oidc_console, chromium):
    context = chromium.new_context(base_url=oidc_console.url, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto("/me")
        page.wait_for_url("**/signin?next=/me")
        page.get_by_test_id("sign-in-oidc").click()
        page.locator("input[name=login]").fill("alice")  # the provider's page now
        page.locator("input[name=password]").fill("any password")
        page.locator("button[type=submit]").click()
        if page.locator("input[name=prompt][value=consent]").count():
            page.locator("button[type=submit]").click()
        page.wait_for_url(f"{oidc_console.url}/me")
        assert page.get_by_test_id("me-name").inner_text() == "alice"
        assert page.get_by_test_id("signed-in-as").inner_text().startswith("Alice")
    finally:
        context.close()
