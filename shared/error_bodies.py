"""Reading a Vigil service's error answer as its caller: the body is `{"error", "message"}` (maybe
with `fields`: `[{"field", "message"}]` for a 422), or the same inside FastAPI's `detail`, or a
plain `detail` string; anything else (a proxy's HTML page) falls back to the status."""

from __future__ import annotations

import httpx

MAX_FIELDS_SHOWN = 5


def _problem(response: httpx.Response) -> dict | str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    detail = body.get("detail", body)
    return detail if isinstance(detail, (dict, str)) else None


def error_code(response: httpx.Response) -> str:
    """The answer's `error` (e.g. `alerts_firing`), or "" when it has none."""
    problem = _problem(response)
    return str(problem.get("error") or "") if isinstance(problem, dict) else ""


def error_fields(response: httpx.Response) -> tuple[tuple[str, str], ...]:
    """A 422's `fields` as (field, message) pairs — `matchers[1].name`, `body` for the whole
    request — or () when the answer names none."""
    problem = _problem(response)
    fields = problem.get("fields") if isinstance(problem, dict) else None
    if not isinstance(fields, list):
        return ()
    return tuple((str(f.get("field") or "body"), str(f.get("message") or "")) for f in fields if isinstance(f, dict))


def error_message(response: httpx.Response) -> str:
    """The answer's `message` in words, with the first fields' own messages for a 422; `HTTP <status>`
    when the body says nothing."""
    problem = _problem(response)
    if isinstance(problem, str):
        return problem or f"HTTP {response.status_code}"
    if problem is None:
        return f"HTTP {response.status_code}"
    message = problem.get("message") or problem.get("error")
    fields = problem.get("fields")
    if fields and isinstance(fields, list):
        message = f"{message}: " + "; ".join(f"{f.get('field')}: {f.get('message')}" for f in fields[:MAX_FIELDS_SHOWN]
                                             if isinstance(f, dict))
    return str(message or f"HTTP {response.status_code}")
