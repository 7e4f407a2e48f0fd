"""Real peers for the notifier's tests: an SMTP server (the mail sink), a Standard Webhooks receiver
that checks signatures with the `standardwebhooks` library, and a plain HTTP receiver (Apprise's
json:// and form://, Slack's incoming webhooks and Web API). Each is a real server on 127.0.0.1 in
its own thread; the receivers answer as scripted (`Answer`s in order, then the default).

The waits block the calling thread (the servers run in their own): from async code, run them with
`asyncio.to_thread` if the code under test shares the test's event loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from shared.local.kafka_broker import free_port
from shared.local.mail_sink import MailSink
from tests.support import ServerThread


@dataclass(frozen=True)
class Answer:
    """One scripted answer: e.g. Answer(500), Answer(429, headers={"Retry-After": "7"}), Answer(200,
    delay_s=2) for a receiver too slow for the sender's deadline."""

    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = "text/plain"

    @classmethod
    def json(cls, value, status: int = 200, **headers: str) -> Answer:
        return cls(status, json.dumps(value), headers, content_type="application/json")


@dataclass(frozen=True)
class Received:
    """One request as it arrived, and the status it was answered with."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


class HttpReceiver:
    """Records every request; answers each with the next scripted `Answer`, then with `default`."""

    def __init__(self, answers: Iterable[Answer] = (), default: Answer = Answer(200, "ok")) -> None:
        self._script = list(answers)
        self.default = default
        self.requests: list[Received] = []
        self._changed = threading.Condition()
        self._server = ServerThread(self, free_port())

    @property
    def url(self) -> str:
        return self._server.url

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with `answers` (after what is still scripted)."""
        with self._changed:
            self._script.extend(answers)

    def _next_answer(self) -> Answer:
        with self._changed:
            return self._script.pop(0) if self._script else self.default

    def _record(self, received: Received) -> None:
        with self._changed:
            self.requests.append(received)
            self._changed.notify_all()

    async def __call__(self, scope, receive, send) -> None:  # the ASGI app
        if scope["type"] != "http":  # lifespan: nothing to set up
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            return
        request = Request(scope, receive)
        try:
            body = await request.body()
        except ClientDisconnect:  # the sender gave up before it finished sending
            return
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = self.check(headers, body) or self._next_answer()
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        self._record(Received(request.method, request.url.path, headers, body, answer.status))
        await Response(answer.body, answer.status, answer.headers, media_type=answer.content_type)(scope, receive, send)

    def check(self, headers: dict[str, str], body: bytes) -> Answer | None:
        """An answer that refuses the request before the script is consulted; None lets it through."""
        return None

    def wait_for(self, count: int, *, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.requests)} of {count} requests within {timeout_s} s")
                self._changed.wait(left)
            return list(self.requests)

    def __enter__(self):
        self._server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._server.__exit__(*exc)


class WebhookReceiver(HttpReceiver):
    """A Standard Webhooks endpoint: a request whose signature `Webhook(secret).verify` refuses gets
    401 and counts in `rejected`; the others are deliveries, answered as scripted."""

    def __init__(self, secret: str, answers: Iterable[Answer] = (), default: Answer = Answer(204)) -> None:
        super().__init__(answers, default)
        self.webhook = Webhook(secret)
        self.rejected: list[str] = []

    def check(self, headers: dict[str, str], body: bytes) -> Answer | None:
        try:
            self.webhook.verify(body, headers, json_parse=False)
        except WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return Answer(401, str(exc))
        return None

    @property
    def deliveries(self) -> list[Received]:
        return [r for r in self.requests if r.status != 401]

    def counts(self) -> Counter[str]:
        """How often each webhook-id arrived with a good signature (2 = a duplicate)."""
        return Counter(r.headers["webhook-id"] for r in self.deliveries)

    def accepted_ids(self) -> set[str]:
        return {r.headers["webhook-id"] for r in self.deliveries if 200 <= r.status < 300}


@contextmanager
def smtp_server(**options) -> Iterator[MailSink]:
    """The mail sink on free ports (SMTP and its HTTP viewer); `options` as MailSink takes them
    (tls_context, implicit_tls, users)."""
    with MailSink(**options) as sink:
        yield sink


@contextmanager
def webhook_receiver(secret: str, answers: Iterable[Answer] = ()) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret, answers) as receiver:
        yield receiver


@contextmanager
def http_receiver(answers: Iterable[Answer] = (), default: Answer = Answer(200, "ok")) -> Iterator[HttpReceiver]:
    with HttpReceiver(answers, default) as receiver:
        yield receiver


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key (PEM files in `directory`), made by
    the openssl command; the certificate is also the CA file a client needs to trust it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key
