"""Anything Apprise speaks (Microsoft Teams, Telegram, Discord, ntfy, Pushover, Matrix, Twilio SMS,
json://, form://, ... : https://github.com/caronc/apprise/wiki) as one contact-method kind.

Apprise says only whether the notification went out, not why not; a failure is therefore
transient (retried until the dispatcher gives up), with Apprise's own warnings as the error. An URL
Apprise cannot use is permanent."""

from __future__ import annotations

import asyncio

import apprise

from services.notifier.outcome import SendResult

DEFAULT_TIMEOUT_S = 10.0
_ERROR_CHARS = 500


async def send_apprise(url: str, *, title: str, body: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> SendResult:
    # In memory: Apprise's persistent store would write below the notifier's home directory.
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    if not notifier.add(url):
        return SendResult.permanent(f"Apprise cannot use this URL ({_scheme(url)})")
    try:
        # Apprise stops waiting at `timeout`; ours is the backstop should a plugin ignore it.
        async with asyncio.timeout(timeout_s + 1):
            with await notifier.async_notify(body=body, title=title, timeout=timeout_s) as result:
                services = ", ".join(service.name for service in result) or "Apprise"
                if result:
                    return SendResult.accepted(f"accepted by {services}")
                warnings = "; ".join(e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL"))
                return SendResult.transient(f"{services}: {warnings or result.status.name.lower()}"[:_ERROR_CHARS],
                                            answer=result.status.name)
    except TimeoutError:
        return SendResult.transient(f"no answer within {timeout_s:g} s")


def _scheme(url: str) -> str:
    """Only the scheme goes into the error: the rest of an Apprise URL is usually its token."""
    return url.split("://", 1)[0] + "://" if "://" in url else "no scheme"
