"""The notifier's HTTP client to the incident service, which owns acknowledgement and resolution:
a one-click link or a Slack button acts there, as the person the link was made for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from shared.error_bodies import error_code, error_message

Action = Literal["ack", "resolve"]
PATHS = {"ack": "acknowledge", "resolve": "resolve"}


@dataclass(frozen=True)
class Acted:
    ok: bool
    status: int  # the incident service's answer (0: it did not answer)
    message: str
    error: str = ""  # its error code, e.g. alerts_firing (a resolve that needs a confirmation)


class IncidentsClient:
    def __init__(self, base_url: str | None, token: str | None, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url or "http://incidents.invalid", timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )

    async def act(self, incident_id: int, action: Action, *, by: str, key: str, even_if_firing: bool = False) -> Acted:
        """Acknowledge or resolve (idempotent by `key`); never raises for the peer's trouble.
        `even_if_firing`: resolve although alerts still fire (the person confirmed it)."""
        if not self.base_url:
            return Acted(False, 0, "the notifier is not connected to the incident service (VIGIL_NOTIFIER_INCIDENTS_URL)")
        try:
            response = await self._http.post(
                f"/api/v1/incidents/{incident_id}/{PATHS[action]}",
                json={"by": by, **({"even_if_firing": True} if even_if_firing else {})}, headers={"Idempotency-Key": key},
            )
        except httpx.HTTPError as exc:
            return Acted(False, 0, f"the incident service did not answer ({type(exc).__name__}); try again")
        if response.status_code == 200:
            return Acted(True, 200, "done")
        detail, error = error_message(response), error_code(response)
        if response.status_code == 409 and error == "alerts_firing":  # needs the person's confirmation
            return Acted(False, 409, detail, error)
        if response.status_code == 409:  # e.g. already resolved: nothing left to do
            return Acted(True, 409, detail, error)
        return Acted(False, response.status_code, detail, error)

    async def close(self) -> None:
        await self._http.aclose()
