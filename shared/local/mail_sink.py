"""A real SMTP server that keeps what it receives, for `vigil dev` and the tests.

aiosmtpd accepts the mail (plain SMTP, STARTTLS or implicit TLS, optionally with AUTH); the last
`limit` messages stay in memory and a small HTTP server shows them: `GET /` lists them for a person
(newest first, each with its text part and clickable links, so a new user can follow the ack link of
their first page), `GET /messages` and `GET /messages/{n}` give them as JSON for tests and scripts.

    python -m shared.local.mail_sink --smtp-port 1025 --http-port 8025
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import html
import json
import logging
import re
import ssl
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

_HEADERS = BytesHeaderParser(policy=email.policy.compat32)  # ~30 us a message; the full parse is ~3 ms


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: its envelope, how it came (TLS, AUTH user) and the headers tests look
    at, read at arrival; the parts are parsed when first asked for (the sink also serves benches)."""

    number: int
    received_at: str
    envelope_from: str
    envelope_to: list[str]
    tls: bool
    auth_user: str | None
    raw: bytes
    sender: str  # the From header
    to: str
    subject: str
    message_id: str
    date: str
    in_reply_to: str
    references: str
    auto_submitted: str

    @classmethod
    def arrived(cls, number: int, raw: bytes, *, envelope_from: str, envelope_to: list[str], tls: bool,
                auth_user: str | None) -> ReceivedMail:
        head = _HEADERS.parsebytes(raw)

        def header(name: str) -> str:
            return _decoded(head.get(name, ""))

        return cls(number=number, received_at=datetime.now(UTC).isoformat(), envelope_from=envelope_from,
                   envelope_to=envelope_to, tls=tls, auth_user=auth_user, raw=raw, sender=header("From"),
                   to=header("To"), subject=header("Subject"), message_id=header("Message-ID"), date=header("Date"),
                   in_reply_to=header("In-Reply-To"), references=header("References"),
                   auto_submitted=header("Auto-Submitted"))

    @cached_property
    def _message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    def _part(self, subtype: str) -> str | None:
        body = self._message.get_body((subtype,))
        try:
            return body.get_content().replace("\r\n", "\n") if body is not None else None  # SMTP's CRLF
        except (LookupError, ValueError):  # an unknown charset: keep the mail, without this part
            return None

    @property
    def text(self) -> str | None:
        return self._part("plain")

    @property
    def html(self) -> str | None:
        return self._part("html")

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in self._message.items()]

    def summary(self) -> dict:
        return {"number": self.number, "received_at": self.received_at, "from": self.sender, "to": self.to,
                "subject": self.subject, "message_id": self.message_id, "date": self.date, "text": self.text}

    def as_json(self) -> dict:
        return {**self.summary(), "envelope_from": self.envelope_from, "envelope_to": self.envelope_to,
                "tls": self.tls, "auth_user": self.auth_user, "in_reply_to": self.in_reply_to,
                "references": self.references, "auto_submitted": self.auto_submitted, "html": self.html,
                "headers": [list(h) for h in self.headers]}


def _decoded(value: str) -> str:
    """A raw header value unfolded, with RFC 2047 words (=?utf-8?q?...?=) decoded."""
    value = value.replace("\r\n", "").replace("\n", "")
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, ValueError, UnicodeDecodeError):
        return value


class MailStore:
    """The last `limit` messages, numbered from 1, shared by the SMTP and the HTTP thread."""

    def __init__(self, limit: int = 1000) -> None:
        self._mails: deque[ReceivedMail] = deque(maxlen=limit)
        self._count = 0
        self._changed = threading.Condition()

    def add(self, raw: bytes, **envelope) -> ReceivedMail:
        with self._changed:
            self._count += 1
            mail = ReceivedMail.arrived(self._count, raw, **envelope)
            self._mails.append(mail)
            self._changed.notify_all()
            return mail

    def all(self) -> list[ReceivedMail]:
        with self._changed:
            return list(self._mails)

    def get(self, number: int) -> ReceivedMail | None:
        return next((m for m in self.all() if m.number == number), None)

    def clear(self) -> None:
        with self._changed:
            self._mails.clear()

    def wait_for(self, predicate, *, timeout_s: float = 10.0) -> list[ReceivedMail]:
        """Block until `predicate(all messages)` is true; returns the messages, raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate(list(self._mails)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"mail sink: condition not met within {timeout_s} s "
                                       f"({len(self._mails)} messages held)")
                self._changed.wait(left)
            return list(self._mails)


class _Handler:
    """aiosmtpd hooks: MAIL only after AUTH when users are set, RCPT answered as scripted
    (`rcpt_answers`), every DATA kept."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address: str, mail_options) -> str:
        if self.sink.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        answer = self.sink.rcpt_answers.get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        mail = self.sink.store.add(
            envelope.original_content or envelope.content, envelope_from=envelope.mail_from,
            envelope_to=list(envelope.rcpt_tos), tls=server.transport.get_extra_info("ssl_object") is not None,
            auth_user=session.auth_data if session.authenticated else None,
        )
        return f"250 2.0.0 Ok: queued as {mail.number}"


class MailSink:
    """The SMTP server (its own thread and event loop) and the HTTP viewer (a threading HTTP server).

    Ports 0 pick free ones (`smtp_port`/`http_port` say which after `start()`). `tls_context`: offer
    STARTTLS, or with `implicit_tls` speak TLS from the first byte. `users` ({name: password}) makes
    AUTH required, offered only over TLS. `stop_smtp()`/`start_smtp()` take the SMTP side down and
    back up on the same port, keeping the messages (an outage for tests)."""

    def __init__(self, *, host: str = "127.0.0.1", smtp_port: int = 0, http_port: int | None = 0,
                 tls_context: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 users: dict[str, str] | None = None, limit: int = 1000) -> None:
        if implicit_tls and tls_context is None:
            raise ValueError("implicit_tls needs a tls_context")
        self.host, self.smtp_port, self.http_port = host, smtp_port, http_port
        self.tls_context, self.implicit_tls, self.users = tls_context, implicit_tls, dict(users or {})
        self.store = MailStore(limit)
        self.rcpt_answers: dict[str, str] = {}  # lower-case address -> SMTP reply, e.g. "550 5.1.1 No such user"
        self._handler = _Handler(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._smtp_thread: threading.Thread | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._http: ThreadingHTTPServer | None = None

    # --- SMTP -----------------------------------------------------------------------------------
    def _new_session(self) -> SMTP:
        session = SMTP(
            self._handler, hostname="vigil-mail-sink", ident="Vigil mail sink", loop=self._loop,
            tls_context=None if self.implicit_tls else self.tls_context, authenticator=self._authenticate,
            # AUTH only over TLS: with implicit TLS the whole connection is, but aiosmtpd only knows
            # about STARTTLS. handle_MAIL requires AUTH (aiosmtpd's auth_required warns here).
            auth_require_tls=not self.implicit_tls,
        )
        self._sessions.add(session)
        return session

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if user in self.users and self.users[user] == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    def start_smtp(self) -> None:
        started = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            loop = self._loop
            asyncio.set_event_loop(loop)
            try:
                server = loop.run_until_complete(loop.create_server(
                    self._new_session, self.host, self.smtp_port,
                    ssl=self.tls_context if self.implicit_tls else None))
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                started.set()
                loop.close()
                return
            self.smtp_port = server.sockets[0].getsockname()[1]
            started.set()
            loop.run_forever()
            server.close()
            for session in list(self._sessions):  # a stopped server drops its connections too
                if session.transport is not None:
                    session.transport.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, server.wait_closed(), return_exceptions=True))
            loop.close()

        self._smtp_thread = threading.Thread(target=run, name="mail-sink-smtp", daemon=True)
        self._smtp_thread.start()
        if not started.wait(10):
            raise RuntimeError("the mail sink's SMTP server did not start within 10 s")
        if failure:
            raise failure[0]

    def stop_smtp(self) -> None:
        if self._smtp_thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._smtp_thread.join(10)
            self._smtp_thread = None

    # --- HTTP -----------------------------------------------------------------------------------
    def start_http(self) -> None:
        self._http = ThreadingHTTPServer((self.host, self.http_port), _viewer_handler(self.store))
        self._http.daemon_threads = True
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="mail-sink-http", daemon=True).start()

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    # --- both -----------------------------------------------------------------------------------
    def start(self) -> Self:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
        self.start_smtp()
        try:
            if self.http_port is not None:
                self.start_http()
        except BaseException:
            self.stop_smtp()
            raise
        return self

    def stop(self) -> None:
        self.stop_smtp()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def messages(self) -> list[ReceivedMail]:
        return self.store.all()

    def wait_for_count(self, count: int, *, timeout_s: float = 10.0) -> list[ReceivedMail]:
        return self.store.wait_for(lambda mails: len(mails) >= count, timeout_s=timeout_s)

    def wait_for_message_ids(self, message_ids, *, timeout_s: float = 10.0) -> list[ReceivedMail]:
        """Every message carrying one of `message_ids` (duplicates included) once each id arrived."""
        wanted = set(message_ids)
        self.store.wait_for(lambda mails: wanted <= {m.message_id for m in mails}, timeout_s=timeout_s)
        return [m for m in self.store.all() if m.message_id in wanted]


def server_tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


# --- the viewer ------------------------------------------------------------------------------------
_URL = re.compile(r"https?://[^\s<>\"']+")
_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em}} td,th{{padding:.3em .8em;text-align:left}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:1em}} tr:nth-child(even){{background:#f6f6f6}}
</style></head><body>{body}</body></html>"""


def _index_page(mails: list[ReceivedMail]) -> str:
    rows = "".join(
        f'<tr><td><a href="/view/{m.number}">{m.number}</a></td><td>{html.escape(m.received_at[:19])}</td>'
        f"<td>{html.escape(m.to)}</td><td><a href=\"/view/{m.number}\">{html.escape(m.subject or '(no subject)')}"
        "</a></td></tr>" for m in reversed(mails))
    body = (f"<h1>Vigil mail sink</h1><p>{len(mails)} message(s), newest first. "
            'JSON: <a href="/messages">/messages</a></p>'
            f"<table><tr><th>#</th><th>received (UTC)</th><th>to</th><th>subject</th></tr>{rows}</table>")
    return _PAGE.format(title="Vigil mail sink", body=body)


def _message_page(mail: ReceivedMail) -> str:
    headers = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in mail.headers)
    text = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', html.escape(mail.text or "", quote=False))
    html_link = f' · <a href="/messages/{mail.number}/html">HTML part</a>' if mail.html is not None else ""
    body = (f'<p><a href="/">all messages</a>{html_link}</p><h1>{html.escape(mail.subject)}</h1>'
            f"<table>{headers}</table><pre>{text}</pre>")
    return _PAGE.format(title=html.escape(mail.subject), body=body)


def _viewer_handler(store: MailStore) -> type[BaseHTTPRequestHandler]:
    class Viewer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:  # quiet: a dev tool's access log is noise
            pass

        def _answer(self, status: int, body: str | bytes, content_type: str, **headers: str) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, value) -> None:
            self._answer(status, json.dumps(value), "application/json")

        def do_GET(self) -> None:
            parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
            if not parts:
                return self._answer(200, _index_page(store.all()), "text/html; charset=utf-8")
            if parts == ["healthz"]:
                return self._answer(200, "ok", "text/plain")
            if parts == ["messages"]:
                return self._json(200, [m.summary() for m in store.all()])
            mail = store.get(int(parts[1])) if len(parts) >= 2 and parts[1].isdigit() else None
            if mail is None:
                return self._json(404, {"detail": "no such message"})
            if parts[0] == "messages" and len(parts) == 2:
                return self._json(200, mail.as_json())
            if parts[0] == "messages" and parts[2:] == ["html"] and mail.html is not None:
                # The mail's HTML runs no script and loads nothing; its links still work.
                return self._answer(200, mail.html, "text/html; charset=utf-8",
                                    Content_Security_Policy="default-src 'none'; style-src 'unsafe-inline'")
            if parts[0] == "view" and len(parts) == 2:
                return self._answer(200, _message_page(mail), "text/html; charset=utf-8")
            return self._json(404, {"detail": "not found"})

        def do_DELETE(self) -> None:
            if self.path.rstrip("/") == "/messages":
                store.clear()
                return self._answer(HTTPStatus.NO_CONTENT, b"", "text/plain")
            return self._json(404, {"detail": "not found"})

    return Viewer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.local.mail_sink", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--tls-cert", help="PEM certificate: offer STARTTLS (or implicit TLS with --implicit-tls)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--limit", type=int, default=1000, help="messages kept in memory")
    args = parser.parse_args(argv)
    context = server_tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    sink = MailSink(host=args.host, smtp_port=args.smtp_port, http_port=args.http_port, tls_context=context,
                    implicit_tls=args.implicit_tls, limit=args.limit).start()
    print(f"mail sink: SMTP on {args.host}:{sink.smtp_port}, messages at {sink.http_url}/", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
