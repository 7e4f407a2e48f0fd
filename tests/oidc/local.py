"""Running tests/oidc/provider.mjs: a real OpenID Connect provider (npm oidc-provider) on a free
127.0.0.1 port, with one client whose redirect URI is the console's callback. Its accounts (alice,
newbie, dora, omar) and their claims are in provider.mjs; its login and consent pages are
oidc-provider's development interactions, which a test drives over HTTP (`ProviderBrowser`)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

import httpx

from shared.local.kafka_broker import free_port
from tests.support import REPO

SCRIPT = REPO / "tests" / "oidc" / "provider.mjs"
CLIENT_ID = "vigil-console"
CLIENT_SECRET = "vigil-console-test-secret-0001"


def reserve_issuer() -> str:
    """An issuer URL on a free port, known before the console that must be configured with it starts."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def local_provider(issuer: str, *, redirect_uri: str, start_timeout_s: float = 20) -> Iterator[str]:
    """Run the provider at `issuer` (from `reserve_issuer`) until the block ends; yields the issuer."""
    node = shutil.which("node")
    assert node, "node is not installed (scripts/setup.sh)"
    assert (REPO / "node_modules" / "oidc-provider").is_dir(), "npm ci has not installed oidc-provider"
    port = issuer.rsplit(":", 1)[1]
    process = subprocess.Popen([node, str(SCRIPT), port, CLIENT_ID, CLIENT_SECRET, redirect_uri], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = threading.Event()

    def watch() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            if line.startswith("ready "):
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not ready.wait(start_timeout_s):
            process.kill()
            raise RuntimeError(f"the OpenID Connect provider did not start: {process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        yield issuer
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ProviderBrowser:
    """One browser (one cookie jar) visiting the console and the provider, following redirects by hand."""

    def __init__(self, console_url: str, issuer: str) -> None:
        self.console_url, self.issuer = console_url, issuer
        self.http = httpx.Client(timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def console(self, path: str, **params) -> httpx.Response:
        return self.http.get(self.console_url + path, params=params or None)

    def follow_at_provider(self, response: httpx.Response) -> httpx.Response:
        """Follow redirects while they stay at the provider: its page, or its redirect elsewhere."""
        while response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if not target.startswith(self.issuer + "/"):
                return response
            response = self.http.get(target)
        return response

    def start(self, next_path: str = "/incidents") -> httpx.Response:
        """Press 'Sign in with …': the provider's login page."""
        started = self.console("/signin/oidc", next=next_path)
        assert started.status_code == 303 and started.headers["location"].startswith(self.issuer), started.text
        page = self.follow_at_provider(started)
        assert page.status_code == 200 and 'name="prompt" value="login"' in page.text, page.text[:500]
        return page

    def log_in(self, login_page: httpx.Response, login: str) -> httpx.Response:
        """Sign in at the provider as `login` and consent: the provider's redirect to the console."""
        submitted = self.follow_at_provider(self.http.post(str(login_page.url), data={
            "prompt": "login", "login": login, "password": "any password"}))
        if submitted.status_code == 200 and 'value="consent"' in submitted.text:
            submitted = self.follow_at_provider(self.http.post(str(submitted.url), data={"prompt": "consent"}))
        assert submitted.is_redirect, submitted.text[:500]
        return submitted

    def decline(self, login_page: httpx.Response) -> httpx.Response:
        """Abort at the provider: its redirect to the console with error=access_denied."""
        return self.follow_at_provider(self.http.get(str(login_page.url).rstrip("/") + "/abort"))

    def back_at_console(self, redirect: httpx.Response) -> httpx.Response:
        """The console's answer to the provider's redirect (its callback)."""
        target = urljoin(str(redirect.url), redirect.headers["location"])
        assert target.startswith(self.console_url + "/signin/oidc/callback"), target
        return self.http.get(target)

    def sign_in(self, login: str, next_path: str = "/incidents") -> httpx.Response:
        return self.back_at_console(self.log_in(self.start(next_path), login))
