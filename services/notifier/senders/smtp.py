"""E-mail over SMTP (aiosmtplib): a plain-text and an HTML alternative, `Message-ID` as given (the
same on every retry of a delivery, so a resend after a crash can be recognised), `In-Reply-To` and
`References` to thread every message about one incident, `Auto-Submitted: auto-generated` so that
auto-responders stay quiet.

The server's reply decides: 2xx accepted, 4xx transient (greylisting, a full queue), 5xx permanent
(an unknown mailbox, a refused sender); no answer (refused, reset, timed out) transient."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal

import aiosmtplib

from services.notifier.outcome import SendResult

Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to hand mail over. `security`: "none" (plain; only for a local relay or the dev
    mail sink), "starttls" (upgrade, refusing a server that does not offer it) or "tls" (implicit
    TLS, usually port 465). `ca_file` trusts a private CA besides the system's; `helo_name` is the
    EHLO name (default: the sender's domain, not a DNS lookup of our own host name)."""

    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = None
    security: Security = "starttls"
    sender: str = "Vigil <vigil@localhost>"
    timeout_s: float = 10.0
    ca_file: str | None = None
    verify_certificates: bool = True
    helo_name: str | None = None

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise ValueError(f"SMTP security must be none, starttls or tls, not {self.security!r}")
        if self.username and self.security == "none":
            raise ValueError("SMTP credentials are only sent over TLS: set security to starttls or tls")
        if not envelope_address(self.sender):
            raise ValueError(f"the SMTP sender {self.sender!r} has no address")


def envelope_address(header_value: str) -> str:
    return parseaddr(header_value)[1]


def build_message(*, sender: str, to: str, subject: str, text: str, html: str, message_id: str,
                  thread_id: str | None, headers: Mapping[str, str], date: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = _one_line(subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = _angled(message_id)
    if thread_id:
        message["In-Reply-To"] = _angled(thread_id)
        message["References"] = _angled(thread_id)
    message["Auto-Submitted"] = "auto-generated"
    for name, value in headers.items():
        message[name] = _one_line(value)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


async def send_email(target: SmtpTarget, *, to: str, subject: str, text: str, html: str, message_id: str,
                     thread_id: str | None = None, headers: Mapping[str, str] | None = None,
                     date: datetime | None = None) -> SendResult:
    """Send one message to `to`; the answer is the server's reply to DATA ("250 2.0.0 Ok: queued")."""
    try:
        message = build_message(sender=target.sender, to=to, subject=subject, text=text, html=html,
                                message_id=message_id, thread_id=thread_id, headers=headers or {},
                                date=date or datetime.now(UTC))
    except (ValueError, TypeError) as exc:  # e.g. an address with a line break
        return SendResult.permanent(f"cannot build the message: {exc}")
    client = aiosmtplib.SMTP(
        hostname=target.host, port=target.port, username=target.username, password=target.password,
        use_tls=target.security == "tls", start_tls=target.security == "starttls",
        validate_certs=target.verify_certificates, cert_bundle=target.ca_file,
        local_hostname=target.helo_name or envelope_address(target.sender).rpartition("@")[2] or None,
        timeout=target.timeout_s,
    )
    try:
        async with asyncio.timeout(target.timeout_s):
            await client.connect()  # EHLO, STARTTLS and AUTH as configured
            refused, reply = await client.send_message(message, sender=envelope_address(target.sender), recipients=[to])
        # Accepted. Saying goodbye is a courtesy: its failure or slowness must not turn an accepted
        # message into a retry (a second copy).
        with contextlib.suppress(Exception):
            async with asyncio.timeout(min(2.0, target.timeout_s)):
                await client.quit()
    except aiosmtplib.SMTPRecipientsRefused as exc:
        return _refused({r.recipient: (r.code, r.message) for r in exc.recipients})
    except aiosmtplib.SMTPResponseException as exc:
        return _by_reply(exc.code, exc.message)
    except (TimeoutError, aiosmtplib.SMTPTimeoutError):
        return SendResult.transient(f"no answer within {target.timeout_s:g} s")
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError) as exc:
        return SendResult.transient(f"{type(exc).__name__}: {exc}")
    except aiosmtplib.SMTPException as exc:  # STARTTLS or AUTH not offered: the settings do not fit the server
        return SendResult.permanent(f"{type(exc).__name__}: {exc}")
    finally:
        if client.is_connected:
            client.close()
    if refused:
        return _refused({address: (r.code, r.message) for address, r in refused.items()})
    return SendResult.accepted(f"250 {reply}")


def _by_reply(code: int, text: str) -> SendResult:
    answer = f"{code} {text}"
    if 500 <= code < 600:
        return SendResult.permanent(f"SMTP {answer}", answer=answer)
    return SendResult.transient(f"SMTP {answer}", answer=answer)


def _refused(recipients: Mapping[str, tuple[int, str]]) -> SendResult:
    """A mailbox refused for good (5xx) fails; only "try later" refusals (4xx, greylisting) retry."""
    answer = "; ".join(f"{address}: {code} {text}" for address, (code, text) in recipients.items())
    if all(400 <= code < 500 for code, _ in recipients.values()):
        return SendResult.transient(f"recipient refused for now: {answer}", answer=answer)
    return SendResult.permanent(f"recipient refused: {answer}", answer=answer)


def _angled(value: str) -> str:
    value = _one_line(value).strip()
    return value if value.startswith("<") else f"<{value}>"


def _one_line(value: str) -> str:
    """Header values come from alert text; a line break would end the header (or inject one)."""
    return " ".join(value.splitlines())
