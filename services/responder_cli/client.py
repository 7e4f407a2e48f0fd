"""One call to a Vigil HTTP API: the decoded answer, or why there is none. Both command families
(`services/ops_cli.py`, the responder commands) say it their own way; the call itself is the same."""

from __future__ import annotations

import re
from typing import Any

import httpx


class Unreachable(Exception):
    """No answer from the service: refused connection, unknown host, timeout."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(reason)
        self.url = url
        self.reason = reason


class ApiError(Exception):
    """The service answered with an error (`{"error", "message", "fields"}`, or any text)."""

    def __init__(self, status: int, message: str, fields: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields  # "field: problem; …" of a 422

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" + (f" ({self.fields})" if self.fields else "")


def open_client(base_url: str, token: str | None, *, basic: tuple[str, str] | None = None, timeout_s: float = 60) -> httpx.Client:
    """A client sending `token` as the bearer credential (or name and password, `basic`)."""
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10)), auth=basic,
                        headers={"Authorization": f"Bearer {token}"} if token else {})


def error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        message = body.get("message") or response.text
        fields = "; ".join(f"{f['field']}: {f['message']}" for f in body.get("fields") or [])
    except (ValueError, AttributeError, KeyError, TypeError):
        message, fields = response.text.strip() or response.reason_phrase, ""
    return ApiError(response.status_code, message, fields)


def request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """The answer's JSON, its text (Markdown, SVG, …) or None (204). Raises Unreachable or ApiError."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TimeoutException:
        raise Unreachable(str(client.base_url), f"no answer within {client.timeout.read:g} s") from None
    except httpx.HTTPError as exc:
        reason = re.sub(r"^\[Errno -?\d+\] ", "", str(exc)) or type(exc).__name__  # "[Errno 111] Connection refused"
        raise Unreachable(str(client.base_url), reason) from None
    if response.status_code >= 400:
        raise error_of(response)
    if response.status_code == 204 or not response.content:
        return None
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text
