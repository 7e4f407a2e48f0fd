"""One HTTP POST with a deadline, and what its answer means for a delivery (webhooks, Slack's
incoming webhooks): 2xx accepted; 408, 429 and 5xx transient (Retry-After honoured); any other
status permanent; no answer (refused, reset, timed out) transient."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from services.notifier.outcome import SendResult

DEFAULT_TIMEOUT_S = 10.0
_SNIPPET_CHARS = 200


async def post(client: httpx.AsyncClient, url: str, *, content: bytes, headers: Mapping[str, str],
               timeout_s: float = DEFAULT_TIMEOUT_S) -> SendResult:
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.post(url, content=content, headers=dict(headers), timeout=timeout_s)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return SendResult.permanent(f"not a usable URL: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        return SendResult.transient(f"no answer within {timeout_s:g} s")
    except httpx.TransportError as exc:
        return SendResult.transient(f"{type(exc).__name__}: {exc}")
    return classify(response.status_code, response.headers, response.text, now=datetime.now(UTC))


def classify(status: int, headers: Mapping[str, str], body: str, *, now: datetime) -> SendResult:
    snippet = " ".join(body.split())[:_SNIPPET_CHARS]
    answer = f"HTTP {status} {snippet}".rstrip()
    if 200 <= status < 300:
        return SendResult.accepted(answer)
    error = f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"
    if status in (408, 429) or status >= 500:
        return SendResult.transient(error, answer=answer, retry_after_s=retry_after_s(headers.get("retry-after"), now=now))
    return SendResult.permanent(error, answer=answer)


def retry_after_s(value: str | None, *, now: datetime) -> float | None:
    """Seconds from `now` that a Retry-After header asks for (delay-seconds or an HTTP-date);
    None when absent or unreadable, 0 for a date already past."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
