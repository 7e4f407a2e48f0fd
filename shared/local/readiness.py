"""Waiting until local services answer their `/readyz`, so `vigil dev` says "running" only when it is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx


def readyz_url(host: str, port: int) -> str:
    """Where a listener's readiness probe answers (a wildcard listen address is reached on loopback)."""
    reachable = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}/readyz"


async def not_ready(urls: Mapping[str, str], client: httpx.AsyncClient) -> dict[str, str]:
    """Each service whose probe does not answer 200 yet, with what it answered."""
    async def probe(url: str) -> str | None:
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__})"
        return None if response.status_code == 200 else f"{response.status_code} {response.text[:300]}"

    answers = await asyncio.gather(*(probe(u) for u in urls.values()))
    return {name: answer for name, answer in zip(urls, answers, strict=True) if answer is not None}


async def wait_ready(urls: Mapping[str, str], *, timeout_s: float, interval_s: float = 0.1) -> dict[str, str]:
    """Poll every probe until all answer 200 or `timeout_s` passed; returns those still not ready
    (empty: all ready)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while (waiting := await not_ready(urls, client)) and time.monotonic() < deadline:
            await asyncio.sleep(interval_s)
    return waiting
