"""The peers the notifier benchmark delivers to, each in its own process, recording when each message
was accepted (the wall clock, `time.time()`, the clock the page's event time is on):

    python -m bench.notifier_peers mail --smtp-port P      # the real mail sink (shared.local.mail_sink)
    python -m bench.notifier_peers webhook --port P        # a Standard Webhooks receiver

`webhook` is a lean HTTP/1.1 server (uvloop, httptools, keep-alive) for POST /hook/<person>: it checks
each request's signature with the `standardwebhooks` library against the secret the notifier derives
for (person, method "hook") from the master key in BENCH_WEBHOOK_KEY, answers 204 and records the
webhook-id's arrival once it verified; a bad signature gets 401 and is counted, not recorded.
`mail` runs the mail sink's SMTP server (aiosmtpd) keeping every message; a message's arrival is
the sink's `received_at`, stamped when DATA is accepted, keyed by its Message-ID without <> and the domain (the delivery id).

Both print "ready" once listening and then take commands on stdin, one a line:
`count` prints how many distinct ids arrived; `dump PATH` writes {"arrivals": {id: [times]},
"rejected": n, "connections": n} to PATH (large: a file, not a pipe line) and prints "ok". EOF ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from datetime import datetime

import httptools
from standardwebhooks import Webhook, WebhookVerificationError

from services.notifier.senders.webhook import derive_secret

HOOK_METHOD = "hook"  # the contact method id the benchmark gives every webhook person
HOOK_PATH = "/hook/"
_NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
_REJECTED = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class Arrivals:
    """Arrival times by id (a list: a duplicate arrives twice), shared with the command loop."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.rejected = 0
        self.connections = 0  # opened by the sender (webhook receiver): keep-alive at work, or not
        self.lock = threading.Lock()

    def add(self, key: str, at: float) -> None:
        with self.lock:
            self.times.setdefault(key, []).append(at)

    def snapshot(self) -> dict:
        with self.lock:
            return {"arrivals": {k: list(v) for k, v in self.times.items()}, "rejected": self.rejected,
                    "connections": self.connections}


class _HookConnection(asyncio.Protocol):
    """One keep-alive connection: each complete request is verified, recorded and answered."""

    def __init__(self, arrivals: Arrivals, verifiers: dict[str, Webhook], master_key: bytes) -> None:
        self.arrivals, self.verifiers, self.master_key = arrivals, verifiers, master_key
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._reset()

    def _reset(self) -> None:
        self.url, self.headers, self.body = b"", {}, []

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.arrivals.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        path = self.url.decode("latin-1")
        if not path.startswith(HOOK_PATH):
            self.transport.write(_NOT_FOUND)
            self._reset()
            return
        person = path[len(HOOK_PATH):]
        verifier = self.verifiers.get(person)
        if verifier is None:
            verifier = self.verifiers[person] = Webhook(derive_secret(self.master_key, person, HOOK_METHOD))
        try:
            verifier.verify(b"".join(self.body), self.headers, json_parse=False)
        except WebhookVerificationError:
            self.arrivals.rejected += 1
            self.transport.write(_REJECTED)
        else:
            self.arrivals.add(self.headers["webhook-id"], time.time())
            self.transport.write(_NO_CONTENT)
        self._reset()


async def _serve_webhooks(port: int, master_key: bytes, arrivals: Arrivals) -> None:
    loop = asyncio.get_running_loop()
    verifiers: dict[str, Webhook] = {}
    server = await loop.create_server(lambda: _HookConnection(arrivals, verifiers, master_key), "127.0.0.1", port,
                                      backlog=1024)
    print("ready", flush=True)
    try:
        await asyncio.to_thread(_commands, arrivals)
    finally:
        server.close()


def _commands(arrivals: Arrivals) -> None:
    """Answer the benchmark's commands on stdin until EOF."""
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "count":
            with arrivals.lock:
                print(len(arrivals.times), flush=True)
        elif command == "dump":
            with open(argument, "w") as out:
                json.dump(arrivals.snapshot(), out)
            print("ok", flush=True)
        else:
            print(f"unknown command {command!r}", flush=True)


def _serve_mail(smtp_port: int, arrivals: Arrivals) -> None:
    from shared.local.mail_sink import MailSink, MailStore

    class RecordingStore(MailStore):
        def add(self, raw: bytes, **envelope):
            mail = super().add(raw, **envelope)
            arrivals.add(mail.message_id.strip("<>").rpartition("@")[0], datetime.fromisoformat(mail.received_at).timestamp())
            return mail

    sink = MailSink(smtp_port=smtp_port, http_port=None, limit=1_000_000)
    sink.store = RecordingStore(limit=1_000_000)
    sink.start()
    print("ready", flush=True)
    try:
        _commands(arrivals)
    finally:
        sink.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notifier_peers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="peer", required=True)
    sub.add_parser("mail").add_argument("--smtp-port", type=int, required=True)
    sub.add_parser("webhook").add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    arrivals = Arrivals()
    if args.peer == "mail":
        _serve_mail(args.smtp_port, arrivals)
        return
    import uvloop

    uvloop.run(_serve_webhooks(args.port, os.environ["BENCH_WEBHOOK_KEY"].encode(), arrivals))


if __name__ == "__main__":
    main()
