"""Slack, two ways: an incoming-webhook URL (POST {text, blocks}; Slack answers 200 "ok", and
404 no_service, 403 invalid_token, 410 channel_is_archived, ... for good), or `chat.postMessage`
with the notifier's bot token when the address is `slack:#channel`, `slack:U123` or `slack:@name`.
Also the check of Slack's signature on the requests of the interactivity endpoint (the buttons).

chat.postMessage goes through slack_sdk's `WebClient` (standard-library HTTP) in a worker thread:
its asyncio client needs aiohttp, a second HTTP stack just for this."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web import SlackResponse

from services.notifier.outcome import SendResult
from services.notifier.senders.http_post import DEFAULT_TIMEOUT_S, post, retry_after_s

ADDRESS_PREFIX = "slack:"
# Slack's own trouble, worth another try (https://api.slack.com/methods/chat.postMessage#errors)
_TRANSIENT_API_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                                   "request_timeout"})


def slack_channel(address: str) -> str | None:
    """The channel of a `slack:` address ("#ops", "U123", "@alice"); None for a webhook URL."""
    if not address.startswith(ADDRESS_PREFIX):
        return None
    return address.removeprefix(ADDRESS_PREFIX).strip() or None


async def send_slack_webhook(client: httpx.AsyncClient, *, url: str, text: str, blocks: list[dict],
                             timeout_s: float = DEFAULT_TIMEOUT_S) -> SendResult:
    body = json.dumps({"text": text, "blocks": blocks}).encode()
    return await post(client, url, content=body, headers={"content-type": "application/json"}, timeout_s=timeout_s)


def slack_bot_client(token: str, *, base_url: str = WebClient.BASE_URL, timeout_s: float = DEFAULT_TIMEOUT_S) -> WebClient:
    """A Web API client for `send_slack_message`; no retries of its own (the dispatcher retries)."""
    return WebClient(token=token, base_url=base_url, timeout=timeout_s, retry_handlers=[])


async def send_slack_message(client: WebClient | None, *, channel: str, text: str, blocks: list[dict],
                             timeout_s: float = DEFAULT_TIMEOUT_S) -> SendResult:
    """chat.postMessage to `channel`; `client` None means no bot token is configured."""
    if client is None:
        return SendResult.permanent("no Slack bot token is configured, so slack: addresses cannot be used")
    try:
        async with asyncio.timeout(timeout_s):
            response = await asyncio.to_thread(client.chat_postMessage, channel=channel, text=text, blocks=blocks)
    except SlackApiError as exc:
        return _api_error(exc.response)
    except TimeoutError:
        return SendResult.transient(f"no answer within {timeout_s:g} s")
    except OSError as exc:  # URLError, refused, reset, DNS
        return SendResult.transient(f"{type(exc).__name__}: {exc}")
    except ValueError as exc:  # an answer that is not JSON (a proxy's error page)
        return SendResult.transient(f"Slack's answer was not understood: {exc}")
    return SendResult.accepted(f"ok channel={response.get('channel')} ts={response.get('ts')}")


def _api_error(response: SlackResponse) -> SendResult:
    error = response.get("error") if isinstance(response.data, dict) else None
    status = response.status_code
    answer = f"HTTP {status} {error or ''}".rstrip()
    if status == 429 or error in _TRANSIENT_API_ERRORS or status >= 500:
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        wait = retry_after_s(_first(headers.get("retry-after")), now=datetime.now(UTC))
        return SendResult.transient(f"Slack: {error or f'HTTP {status}'}", answer=answer, retry_after_s=wait)
    return SendResult.permanent(f"Slack: {error or f'HTTP {status}'}", answer=answer)


def _first(value) -> str | None:
    return value[0] if isinstance(value, list | tuple) and value else value


class _At:
    """slack_sdk's clock, stopped at the `now` we are given."""

    def __init__(self, now: datetime) -> None:
        self._now = now.timestamp()

    def now(self) -> float:
        return self._now


def verify_slack_request(signing_secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> bool:
    """True when the request carries Slack's signature of `body` (X-Slack-Signature over
    "v0:{X-Slack-Request-Timestamp}:{body}") with a timestamp within 5 minutes of `now`."""
    try:
        return SignatureVerifier(signing_secret, clock=_At(now)).is_valid_request(body, headers)
    except ValueError:  # a timestamp that is no number, a body that is not UTF-8
        return False
