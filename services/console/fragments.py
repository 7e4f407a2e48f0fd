"""The live list's rows, rendered once per change and filters and role, for every open page.

After an incident change every open page fetches its rows again at once; they ask the incident
service once (peers.py `shared_after`), and here they share one rendering too. What differs between
two people of the same role — the session's CSRF token and the page's `request_id` — is rendered as
a placeholder and filled in per request: a string replace instead of a template render per browser.
A placeholder carries a random per-process nonce, so no incident's data can contain one."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from markupsafe import escape

from shared.identity import RANK, Role

_NONCE = secrets.token_hex(16)
CSRF_PLACEHOLDER = f"csrf-{_NONCE}"
REQUEST_ID_PLACEHOLDER = f"rid-{_NONCE}"
MAX_ENTRIES = 64  # (filters, role) pairs kept for the current change
TTL_S = 5.0  # a rendering says "4 min ago": refreshes long after the change render again


@dataclass(frozen=True)
class RoleOnly:
    """Whom a shared rendering is for: a role, with the CSRF token as a placeholder. A template that
    asked for anything of one person's (their name) would fail here rather than show it to others."""

    role: Role
    csrf_token: str = CSRF_PLACEHOLDER

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def personal(shared_html: str, *, csrf_token: str, request_id: str) -> str:
    """A shared rendering with one session's token and one page's request id in their places."""
    return (shared_html.replace(CSRF_PLACEHOLDER, str(escape(csrf_token)))
            .replace(REQUEST_ID_PLACEHOLDER, str(escape(request_id))))


# What a rendering gives: its HTML, and whether others may have it (a peer's error is not kept).
Render = Callable[[], Awaitable[tuple[str, bool]]]


class SharedRenderings:
    """A small LRU of renderings keyed by (change number, …); a newer change number drops the older
    ones. Concurrent requests for one key wait for the same rendering."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, ttl_s: float = TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[tuple, tuple[float, asyncio.Future[str]]] = OrderedDict()
        self._seq = -1
        self._max_entries, self._ttl_s, self._clock = max_entries, ttl_s, clock
        self.renders = 0  # how many renderings were made (the tests and the benchmark read it)

    async def get(self, seq: int, key: tuple, render: Render) -> str:
        """The rendering for `key` after change `seq`: one under way or kept, else `render()`'s."""
        if seq > self._seq:
            self._seq = seq
            for old in [k for k in self._entries if k[0] < seq]:
                del self._entries[old]
        full = (seq, *key)
        now = self._clock()
        found = self._entries.get(full)
        if found is not None and now - found[0] <= self._ttl_s:
            self._entries.move_to_end(full)
            return await asyncio.shield(found[1])
        flight = asyncio.ensure_future(self._render(full, render))
        if seq >= self._seq:  # a request from before the newest change renders for itself alone
            self._entries[full] = (now, flight)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return await asyncio.shield(flight)  # a page that goes away does not cancel the others' rendering

    async def _render(self, full: tuple, render: Render) -> str:
        self.renders += 1
        try:
            html, keep = await render()
        except BaseException:
            self._forget(full)
            raise
        if not keep:
            self._forget(full)
        return html

    def _forget(self, full: tuple) -> None:
        entry = self._entries.get(full)
        if entry is not None and entry[1] is asyncio.current_task():
            del self._entries[full]
