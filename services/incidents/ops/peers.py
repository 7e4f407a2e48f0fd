"""HTTP clients for the peers the operations reports read: the SLO service (`/api/v1/slos`,
`/api/v1/capacity`), the escalator (`/api/v1/coverage/gaps`, `/api/v1/handovers`) and every configured service's
`/readyz`. A peer without a URL is `not_configured`; one that does not answer in time, or answers
an error, is `unreachable` / `error` with the reason — the report records that, it never fails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import quote
from datetime import datetime

import httpx

from services.incidents.ops.reports import PeerResult


@dataclass(frozen=True)
class Peers:
    slo_url: str | None
    escalator_url: str | None
    ingest_url: str | None
    token: str | None
    timeout_s: float = 5.0

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _get(self, base: str | None, path: str, params: dict | None = None) -> PeerResult:
        if not base:
            return PeerResult("not_configured")
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, headers=self._headers()) as client:
                response = await client.get(base + path, params=params)
        except httpx.HTTPError as exc:
            return PeerResult("unreachable", error=f"{base}{path}: {type(exc).__name__} {exc}".strip())
        if response.status_code != 200:
            return PeerResult("error", error=f"{base}{path} answered {response.status_code}")
        try:
            return PeerResult("ok", response.json())
        except ValueError:
            return PeerResult("error", error=f"{base}{path} did not answer JSON")

    async def slo_status(self) -> PeerResult:
        return await self._get(self.slo_url, "/api/v1/slos")

    async def slo_history(self, slo_id: str, days: int = 40) -> PeerResult:
        """One SLO's daily history (`<service>:<slo>`), the last `days` days (the SLO service serves at most 40)."""
        service, _, name = slo_id.partition(":")
        return await self._get(self.slo_url, f"/api/v1/slos/{quote(service, safe='')}/{quote(name, safe='')}/history",
                               {"days": days})

    async def capacity(self) -> PeerResult:
        return await self._get(self.slo_url, "/api/v1/capacity")

    async def coverage_gaps(self, weeks: int = 8) -> PeerResult:
        result = await self._get(self.escalator_url, "/api/v1/coverage/gaps", {"weeks": weeks})
        if result.state == "ok" and isinstance(result.data, dict):  # tolerate {"items": [...]}
            return PeerResult("ok", result.data.get("items", []))
        return result

    async def handovers(self, *, start: datetime, end: datetime) -> PeerResult:
        """The rotation's primary handovers with `start <= at < end` (a handoff's from/to are checked against them)."""
        return await self._get(self.escalator_url, "/api/v1/handovers", {"start": start.isoformat(), "end": end.isoformat()})

    async def readiness(self) -> dict[str, PeerResult]:
        """`/readyz` of each peer service (not_configured when it has no URL)."""
        names = {"ingest": self.ingest_url, "escalator": self.escalator_url, "slo": self.slo_url}

        async def ready(base: str | None) -> PeerResult:
            if not base:
                return PeerResult("not_configured")
            try:
                async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                    response = await client.get(base + "/readyz")
            except httpx.HTTPError as exc:
                return PeerResult("unreachable", error=f"{type(exc).__name__} {exc}".strip())
            return PeerResult("ok") if response.status_code == 200 else PeerResult("failing", error=f"/readyz {response.status_code}")

        results = await asyncio.gather(*(ready(url) for url in names.values()))
        return dict(zip(names, results, strict=True))
