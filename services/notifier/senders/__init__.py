"""The senders: one module per contact-method kind, each a coroutine that makes one attempt with a
deadline and reports it as a `SendResult` (accepted | transient | permanent). Trouble with the peer
never raises; only a programming error does.

    smtp.send_email             e-mail over SMTP (aiosmtplib): plain, STARTTLS, implicit TLS, AUTH
    webhook.send_webhook        Standard Webhooks, signed with a per-endpoint secret (derive_secret)
    slack.send_slack_webhook    Slack incoming webhook;  slack.send_slack_message: chat.postMessage
    apprise_target.send_apprise anything Apprise speaks (Teams, Telegram, ntfy, SMS, ...)

Addresses may name secrets as `${NAME}`, filled from the notifier's environment by `expand` just
before sending, so tokens need not sit in the configuration or on Kafka.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UnsetVariable(LookupError):
    """An address names an environment variable the notifier does not have: a permanent error
    (never send a half-filled URL). The message names the variable, never a value."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set")
        self.name = name


def expand(address: str, env: Mapping[str, str]) -> str:
    """`address` with every `${NAME}` replaced by `env[NAME]`; raises UnsetVariable for the first
    name `env` lacks. Anything else (a lone `$`, `$NAME`) is left as written."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise UnsetVariable(name)
        return env[name]

    return _VARIABLE.sub(value, address)
