"""Driving the console as a browser does, over HTTP: a cookie jar, the sign-in form, and each form's
hidden CSRF token read from the page that carries it."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from services.console import service
from services.console.users_cli import with_console_pool

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def run_async(coroutine):
    """Run a coroutine to its end from a sync test, whatever loop pytest runs (in a worker thread)."""
    with ThreadPoolExecutor(1) as runner:
        return runner.submit(asyncio.run, coroutine).result()


def add_people(database_url: str, people: dict[str, tuple[str, str]]) -> None:
    """Accounts in the console's schema: name -> (role, password)."""

    async def work(pool):
        for name, (role, password) in people.items():
            await service.add_person(pool, name=name, display_name=name.capitalize(), role=role, password=password,
                                     now=datetime.now(UTC))

    run_async(with_console_pool(database_url, work))


def sql(database_url: str, statement: str, *args) -> None:
    import asyncpg

    async def run():
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    run_async(run())


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page carries no form with a CSRF token"
    return html.unescape(found.group(1))


class Browser:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def sign_in(self, name: str, password: str, *, next_path: str = "/incidents") -> httpx.Response:
        form = self.http.get("/signin")
        assert form.status_code == 200, form.text
        return self.http.post("/signin", data={"csrf_token": csrf_of(form.text), "name": name, "password": password,
                                                "next": next_path})

    def page(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def submit(self, page_path: str, action: str, fields: dict | None = None, *, csrf: str | None = "from-page") -> httpx.Response:
        """POST a form of `page_path` to `action`, with the page's CSRF token (or `csrf`, None: without)."""
        data = dict(fields or {})
        if csrf == "from-page":
            data["csrf_token"] = csrf_of(self.page(page_path).text)
        elif csrf is not None:
            data["csrf_token"] = csrf
        return self.http.post(action, data=data)


@contextmanager
def signed_in(console_url: str, database_url: str, people: dict[str, tuple[str, str]]) -> Iterator[dict[str, "Browser"]]:
    """The accounts made (`add_people`) and one browser per person, signed in (sent on to the
    incident list); closed at the end."""
    add_people(database_url, people)
    browsers = {name: Browser(console_url) for name in people}
    try:
        for name, (_role, password) in people.items():
            answer = browsers[name].sign_in(name, password)
            assert answer.status_code == 303 and answer.headers["location"] == "/incidents", answer.text
        yield browsers
    finally:
        for browser in browsers.values():
            browser.close()
