"""The escalator's HTTP client to the incident service, which owns the acknowledgement."""

from __future__ import annotations

import httpx


class IncidentsClient:
    """Clears a lapsed acknowledgement through the incident service, which owns it and publishes
    `unacknowledged`; that event restarts the escalation like any other."""

    def __init__(self, base_url: str | None, token: str | None, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url or "http://incidents.invalid", timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )

    async def unacknowledge(self, incident_id: int, *, reason: str, key: str) -> str:
        """'done' when the incident is unacknowledged (or no longer needs it); raises otherwise."""
        if not self.base_url:
            raise RuntimeError("VIGIL_ESCALATOR_INCIDENTS_URL is not set: cannot clear a lapsed acknowledgement")
        response = await self._http.post(
            f"/api/v1/incidents/{incident_id}/unacknowledge", json={"reason": reason, "by": "escalator"},
            headers={"Idempotency-Key": key},
        )
        if response.status_code in (200, 404, 409):  # 404/409: gone or resolved meanwhile: nothing to re-page
            return f"unacknowledge answered {response.status_code}"
        raise RuntimeError(f"incident service answered {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self._http.aclose()
