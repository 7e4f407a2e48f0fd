"""Notifier fault benchmark (issue 18, "Faults"): no page is lost, and none is sent twice beyond
what no protocol can prevent, through an SMTP outage, SIGKILLs of the notifier and the loss of one
of two replicas.

    .venv/bin/python -m bench.notifier_faults                  # the issue's shapes
    .venv/bin/python -m bench.notifier_faults --trials 20 --outage-s 60 --rate 50 --replica-trials 5

The notifier runs as `python -m services.notifier` processes on a real broker and PostgreSQL (the
benchmark starts its own; tests/faults/test_notifier_faults.py runs a short form on the test
session's), sending to real peers in this process: the mail sink (aiosmtpd) and a Standard Webhooks
receiver that verifies every signature. Each page goes to a person of its own (one delivery per
contact method, so nothing is bundled per recipient), which makes the expected messages known from
the page ids alone, by the notifier's own `policy.plan`. The peers count each message by its id:
e-mail by Message-ID, webhooks by webhook-id.

- outage: the SMTP server stops for --outage-s while pages arrive at --rate (from --edge-s before
  until --edge-s after); every expected mail must arrive exactly once after it returns.
- kill (--trials): a burst of --burst-s at --rate pages to people with an e-mail and a webhook
  method; the notifier is SIGKILLed at a random moment of the burst and started again at once.
- replicas (--replica-trials): the same with two notifiers on one database and consumer group; one
  is SIGKILLed (and started again once the trial is over).

A killed notifier's rows in `sending` ("orphaned") are taken again when their lease ends
(send timeout * 2 + 10 s; --send-timeout-s 2 makes it 14 s). They are the only ones that may reach
a peer twice: the crash fell after the peer accepted and before the outcome was stored, and the
resend carries the same Message-ID / webhook-id. A run passes when nothing is missing, nothing
arrives with an id no page should produce, no delivery failed, the outage sent nothing twice and
every duplicate of a kill is one of its orphaned rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from standardwebhooks import Webhook, WebhookVerificationError

from bench.harness import (
    REPO,
    Child,
    distinct_free_ports,
    keep_logs,
    run_and_save,
    run_main,
    start_child,
)
from services.notifier import policy
from services.notifier.senders.webhook import derive_secret
from shared.events import (
    ContactMethod,
    Event,
    PageRequested,
    PersonUpdated,
    Topic,
    encode,
)
from shared.kafka import ensure_topics
from shared.local.kafka_broker import LocalKafka
from shared.local.mail_sink import MailSink
from shared.local.postgres_server import LocalPostgres
from shared.settings import BaseServiceSettings
from tests.peers import Answer, WebhookReceiver

RESULTS_DIR = REPO / "bench" / "results"
WEBHOOK_KEY = "bench-webhook-key-0123456789-abcdefghij"
MAIL_DOMAIN = "faults.vigil.test"
OPEN = ("pending", "retrying", "sending")
ROWS = """
SELECT count(*) AS rows, count(*) FILTER (WHERE state = ANY($2::text[])) AS open,
       count(*) FILTER (WHERE state = 'sent') AS sent, count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE attempts > 1) AS retried, coalesce(max(attempts), 0) AS max_attempts
FROM notifier.delivery WHERE source_id = ANY($1::text[])"""
SENDING = "SELECT id FROM notifier.delivery WHERE source_id = ANY($1::text[]) AND state = 'sending'"


@dataclass(frozen=True)
class Options:
    rate: float = 50.0  # pages/s
    outage_s: float = 60.0
    edge_s: float = 3.0  # load before the SMTP server stops and after it returns
    trials: int = 20
    burst_s: float = 4.0
    replica_trials: int = 5
    send_timeout_s: float = 2.0  # the lease: 2 * this + 10 s
    seed: int = field(default_factory=lambda: random.randrange(1 << 30))


class PeopleWebhooks(WebhookReceiver):
    """A Standard Webhooks receiver for many people: each request is verified with the secret the
    notifier derives for the person its body names; each arrival's wall-clock time is kept."""

    def __init__(self) -> None:
        super().__init__(derive_secret(WEBHOOK_KEY.encode(), "-", "-"))
        self.arrived_at: dict[str, float] = {}  # webhook-id -> its first arrival

    def check(self, headers: dict[str, str], body: bytes) -> Answer | None:
        try:
            secret = derive_secret(WEBHOOK_KEY.encode(), json.loads(body)["person"], "hook")
            Webhook(secret).verify(body, headers, json_parse=False)
        except (ValueError, KeyError, TypeError, WebhookVerificationError) as exc:
            self.rejected.append(f"{type(exc).__name__}: {exc}")
            return Answer(401, str(exc))
        self.arrived_at.setdefault(headers["webhook-id"], time.time())
        return None


@dataclass
class Load:
    """One scenario's (or trial's) pages, each to a person of its own, and the messages they must make."""

    tag: str
    kinds: tuple[str, ...]
    people: list[str]
    page_ids: list[str]
    expected: dict[str, str]  # delivery id (Message-ID's left side, webhook-id) -> kind

    @classmethod
    def of(cls, tag: str, count: int, kinds: tuple[str, ...], hooks_url: str) -> Load:
        people = [f"{tag}-{i}" for i in range(count)]
        page_ids = [f"page-{tag}-{i}-{uuid.uuid4().hex[:8]}" for i in range(count)]
        expected = {}
        for person, page_id in zip(people, page_ids, strict=True):
            methods = contact_methods(person, kinds, hooks_url)
            expected.update({d.delivery_id: d.kind for d in policy.plan(page_id, "page", methods, (), (), datetime.now(UTC))})
        return cls(tag, kinds, people, page_ids, expected)


def contact_methods(person: str, kinds: tuple[str, ...], hooks_url: str) -> tuple[ContactMethod, ...]:
    address = {"email": f"{person}@example.com", "webhook": f"{hooks_url}/{person}"}
    return tuple(ContactMethod(id="email" if kind == "email" else "hook", kind=kind, address=address[kind]) for kind in kinds)


class NotifierFaults:
    """Peers, notifier processes and the scenarios, on a given broker and PostgreSQL server."""

    def __init__(self, *, workdir: Path, bootstrap: str, admin_url: str, options: Options,
                 log_level: str = "warning", progress=print) -> None:
        self.workdir, self.bootstrap, self.admin_url, self.options = workdir, bootstrap, admin_url, options
        self.log_level, self.progress = log_level, progress
        self.run = uuid.uuid4().hex[:6]
        self.prefix = f"nfaults{self.run}."
        self.random = random.Random(options.seed)
        self.children: list[Child] = []
        self.replicas: list[tuple[str, int, Child | None]] = []  # (name, port, running process)
        self.mail = MailSink(http_port=None, limit=1_000_000)
        self.hooks = PeopleWebhooks()
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self._incident = random.randrange(1, 1 << 40)

    # ---- set-up ------------------------------------------------------------------------------

    async def open(self, replicas: int = 1) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "notifier_faults_{self.run}"')
        finally:
            await conn.close()
        self.database_url = self.admin_url.rsplit("/", 1)[0] + f"/notifier_faults_{self.run}"
        self.mail.start()
        self.hooks.__enter__()
        settings = BaseServiceSettings(kafka_bootstrap_servers=[self.bootstrap], topic_prefix=self.prefix)
        await ensure_topics(settings, (Topic.PAGES, Topic.TICKETS, Topic.INCIDENTS, Topic.PEOPLE, Topic.DELIVERIES),
                            partitions=6)
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        await self.producer.start()
        for index in range(replicas):
            await self.add_replica(index)
        self.pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=3)

    async def close(self) -> None:
        for child in self.children:
            with contextlib.suppress(Exception):
                await child.stop()
        for close in (self.producer.stop if self.producer else None, self.pool.close if self.pool else None):
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        self.hooks.__exit__(None, None, None)
        self.mail.stop()

    def _env(self, port: int) -> dict[str, str]:
        return {
            "PYTHONPATH": str(REPO), "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "VIGIL_TOPIC_PREFIX": self.prefix,
            "VIGIL_DATABASE_URL": self.database_url, "VIGIL_API_TOKENS": "bench-notifier-faults-token:viewer",
            "VIGIL_LOG_LEVEL": self.log_level, "VIGIL_LOG_FORMAT": "json", "VIGIL_HOST": "127.0.0.1",
            "VIGIL_NOTIFIER_PORT": str(port), "VIGIL_NOTIFIER_CONSUMER_GROUP": f"nfaults-{self.run}",
            "VIGIL_NOTIFIER_SMTP_HOST": "127.0.0.1", "VIGIL_NOTIFIER_SMTP_PORT": str(self.mail.smtp_port),
            "VIGIL_NOTIFIER_SMTP_SECURITY": "none", "VIGIL_NOTIFIER_MAIL_DOMAIN": MAIL_DOMAIN,
            "VIGIL_NOTIFIER_WEBHOOK_KEY": WEBHOOK_KEY, "VIGIL_NOTIFIER_SEND_TIMEOUT_S": f"{self.options.send_timeout_s:g}",
        }

    async def add_replica(self, index: int) -> None:
        self.replicas.append((f"notifier-{index}", distinct_free_ports(1)[0], None))
        await self.start_replica(index)

    async def start_replica(self, index: int) -> float:
        """Start replica `index` (again); returns the seconds until it was ready."""
        name, port, _ = self.replicas[index]
        began = time.monotonic()
        child = await start_child(self.children, name, sys.executable, "-m", "services.notifier",
                                  log=self.workdir / f"{name}.log", env=self._env(port), cwd=REPO)
        self.replicas[index] = (name, port, child)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as probe:
            while time.monotonic() - began < 90:
                if child.proc.returncode is not None:
                    raise RuntimeError(f"{name} exited with {child.proc.returncode} (log: {child.log})")
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get("/readyz")).status_code == 200:
                        return round(time.monotonic() - began, 2)
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{name} not ready within 90 s (log: {child.log})")

    async def kill_replica(self, index: int) -> None:
        name, port, child = self.replicas[index]
        os.killpg(child.pid, signal.SIGKILL)
        await child.proc.wait()
        self.children.remove(child)
        self.replicas[index] = (name, port, None)

    # ---- load and counting ---------------------------------------------------------------------

    async def _send(self, events: list[Event]) -> list[asyncio.Future]:
        futures = []
        for event in events:
            key, value, headers = encode(event, ce_source="/bench/notifier-faults")
            futures.append(await self.producer.send(self.prefix + event.topic, value, key=key, headers=headers))
        return futures

    async def prepare(self, tag: str, count: int, kinds: tuple[str, ...]) -> Load:
        """The load's people, published and in the notifier's copy before any page comes."""
        load = Load.of(f"{self.run}-{tag}", count, kinds, self.hooks.url)
        now = datetime.now(UTC)
        people = [PersonUpdated(event_id=str(uuid.uuid4()), occurred_at=now, source="bench", person=person, revision=1,
                                contact_methods=contact_methods(person, kinds, self.hooks.url)) for person in load.people]
        await asyncio.gather(*await self._send(people))
        deadline = time.monotonic() + 60
        while await self.pool.fetchval("SELECT count(*) FROM notifier.person WHERE person = ANY($1::text[])",
                                       load.people) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the notifier did not take {count} people within 60 s")
            await asyncio.sleep(0.2)
        return load

    async def publish(self, load: Load, rate: float) -> None:
        """The load's pages at `rate` per second (each stamped when it is sent)."""
        began, futures = time.monotonic(), []
        for i, (person, page_id) in enumerate(zip(load.people, load.page_ids, strict=True)):
            wait = began + i / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._incident += 1
            page = PageRequested(
                event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), source="bench", page_id=page_id,
                incident_id=self._incident, number=f"INC-{self._incident}", severity=1, title="Checkout 5xx above 5 %",
                target=person, step=0, reason="initial", links={"incident": f"http://incidents.test/{self._incident}"})
            futures += await self._send([page])
        await asyncio.gather(*futures)

    @contextlib.asynccontextmanager
    async def publishing(self, load: Load, rate: float):
        """`publish` in a task, which the block awaits (cancelled should the block fail)."""
        task = asyncio.create_task(self.publish(load, rate))
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def arrivals(self) -> tuple[Counter[str], dict[str, float]]:
        """How often each id reached a peer, and when it first did (seconds since the epoch)."""
        counts: Counter[str] = Counter()
        at: dict[str, float] = {}
        for mail in self.mail.messages():
            ident = mail.message_id.strip("<>").removesuffix("@" + MAIL_DOMAIN)
            counts[ident] += 1
            at.setdefault(ident, datetime.fromisoformat(mail.received_at).timestamp())
        counts.update(self.hooks.counts())
        at.update(self.hooks.arrived_at)
        return counts, at

    async def rows(self, load: Load) -> dict:
        return dict(await self.pool.fetchrow(ROWS, load.page_ids, list(OPEN)))

    async def settle(self, load: Load, timeout_s: float) -> float:
        """Wait until every expected message arrived and every delivery row is final (or no row is
        open any more, or the time is up); returns when, on the monotonic clock."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            counts, _ = self.arrivals()
            rows = await self.rows(load)
            if rows["rows"] == len(load.expected) and rows["open"] == 0:
                if all(counts[i] for i in load.expected):
                    return time.monotonic()
                await asyncio.sleep(1.0)  # nothing left to send: what is missing now is lost
                return time.monotonic()
            await asyncio.sleep(0.2)
        return time.monotonic()

    async def tally(self, load: Load, before: Counter[str], *, since: float, orphaned: set[str] | None = None) -> dict:
        """The figures of one load; `before`: the arrivals before it began, `since`: the moment (epoch
        seconds) delays are measured from."""
        counts, at = self.arrivals()
        new = counts - before
        missing = sorted(i for i in load.expected if not new[i])
        duplicated = {i: new[i] - 1 for i in load.expected if new[i] > 1}
        unexpected = {i: n for i, n in new.items() if i not in load.expected}
        last = max((at[i] for i in load.expected if i in at), default=None)  # all had arrived once
        rows = await self.rows(load)
        figures = {
            "pages": len(load.page_ids), "expected_messages": len(load.expected),
            "delivered": len(load.expected) - len(missing), "missing": len(missing),
            "duplicated": sum(duplicated.values()), "unexpected": sum(unexpected.values()),
            "by_kind": {kind: {"expected": sum(1 for k in load.expected.values() if k == kind),
                               "duplicated": sum(n for i, n in duplicated.items() if load.expected[i] == kind)}
                        for kind in load.kinds},
            "rows": {k: rows[k] for k in ("sent", "failed", "open", "retried", "max_attempts")},
            "all_arrived_after_s": round(last - since, 2) if last else None,
            "signatures_refused": len(self.hooks.rejected),
            "examples": {"missing": missing[:5], "duplicated": sorted(duplicated)[:5], "unexpected": sorted(unexpected)[:5]},
        }
        if orphaned is not None:  # a kill trial (no row may have been in flight at the kill)
            figures["orphaned"] = len(orphaned)
            figures["duplicated_not_orphaned"] = sorted(set(duplicated) - orphaned)
        return figures

    # ---- scenarios -----------------------------------------------------------------------------

    async def smtp_outage(self, *, rate: float, outage_s: float, edge_s: float) -> dict:
        """Pages at `rate` while the SMTP server is down for `outage_s` (and `edge_s` before and after)."""
        load = await self.prepare("outage", round(rate * (outage_s + 2 * edge_s)), ("email",))
        before, _ = self.arrivals()
        self.progress(f"outage: {len(load.page_ids)} pages at {rate:g}/s, SMTP down for {outage_s:g} s")
        async with self.publishing(load, rate) as sending:
            await asyncio.sleep(edge_s)
            await asyncio.to_thread(self.mail.stop_smtp)
            arrived_before = sum((self.arrivals()[0] - before).values())
            await asyncio.sleep(outage_s)
            await asyncio.to_thread(self.mail.start_smtp)
            back, back_wall = time.monotonic(), time.time()
            await sending
        settled = await self.settle(load, timeout_s=policy.RETRY_CAP_S + 60)
        figures = await self.tally(load, before, since=back_wall)
        _, at = self.arrivals()
        after = [at[i] - back_wall for i in load.expected if i in at and at[i] >= back_wall]
        figures.update(outage_s=outage_s, rate=rate, arrived_before_outage=arrived_before,
                       arrived_after_return=len(after), first_arrival_after_return_s=round(min(after), 2) if after else None,
                       settled_after_return_s=round(settled - back, 2))
        figures["passed"] = _clean(figures) and figures["duplicated"] == 0
        return figures

    async def kill_trial(self, number: int, *, rate: float, burst_s: float, victim: int = 0) -> dict:
        """A burst of pages; replica `victim` is SIGKILLed in the middle of it and started again at
        once (one replica) or after the trial (two: the other carries on meanwhile)."""
        alone = len(self.replicas) == 1
        load = await self.prepare(f"{'kill' if alone else 'replicas'}{number}", round(rate * burst_s), ("email", "webhook"))
        before, _ = self.arrivals()
        kill_at = self.random.uniform(0.25, 0.75) * burst_s
        async with self.publishing(load, rate) as sending:
            await asyncio.sleep(kill_at)
            await self.kill_replica(victim)
            killed, killed_wall = time.monotonic(), time.time()
            orphaned = {r["id"] for r in await self.pool.fetch(SENDING, load.page_ids)}
            ready_after = await self.start_replica(victim) if alone else None
            await sending
        settled = await self.settle(load, timeout_s=120)
        figures = await self.tally(load, before, since=killed_wall, orphaned=orphaned)
        if not alone:
            ready_after = await self.start_replica(victim)
        figures.update(trial=number, killed=self.replicas[victim][0], kill_at_s=round(kill_at, 2),
                       ready_again_after_s=ready_after, settled_after_kill_s=round(settled - killed, 2))
        figures["passed"] = _clean(figures) and not figures["duplicated_not_orphaned"]
        return figures


def _clean(figures: dict) -> bool:
    return not (figures["missing"] or figures["unexpected"] or figures["rows"]["failed"] or figures["rows"]["open"]
                or figures["signatures_refused"])


def describe(name: str, f: dict) -> str:
    """One scenario's or trial's figures on a few lines (the bench's table and the test's output)."""
    head = (f"{name}: {'passed' if f['passed'] else 'FAILED'}; pages {f['pages']}, expected messages "
            f"{f['expected_messages']}, delivered {f['delivered']}, missing {f['missing']}, duplicated (same id) "
            f"{f['duplicated']}, unexpected ids {f['unexpected']}; rows sent {f['rows']['sent']}, failed "
            f"{f['rows']['failed']}, retried {f['rows']['retried']} (max attempts {f['rows']['max_attempts']})")
    if "outage_s" in f:
        return (head + f"\n  SMTP down {f['outage_s']:g} s; after its return: first mail {f['first_arrival_after_return_s']} s, "
                f"every expected mail in {f['all_arrived_after_s']} s, all rows final {f['settled_after_return_s']} s "
                f"({f['arrived_after_return']} mails arrived after it, {f['arrived_before_outage']} before it stopped)")
    return (head + f"\n  SIGKILL of {f['killed']} at {f['kill_at_s']} s into the burst; rows orphaned in sending "
            f"{f['orphaned']}; ready again after {f['ready_again_after_s']} s; every expected message in "
            f"{f['all_arrived_after_s']} s and all rows final {f['settled_after_kill_s']} s after the kill"
            + (f"; DUPLICATED WITHOUT BEING ORPHANED: {f['duplicated_not_orphaned']}" if f["duplicated_not_orphaned"] else ""))


def summary(trials: list[dict]) -> dict:
    def spread(key: str) -> list:
        values = sorted(t[key] for t in trials if t.get(key) is not None)
        return [values[0], values[len(values) // 2], values[-1]] if values else []

    return {"trials": len(trials), "passed": all(t["passed"] for t in trials),
            **{k: sum(t[k] for t in trials) for k in ("pages", "expected_messages", "delivered", "missing", "duplicated",
                                                      "unexpected", "orphaned")},
            "trials_with_duplicates": sum(1 for t in trials if t["duplicated"]),
            "settled_after_kill_s_min_median_max": spread("settled_after_kill_s"),
            "all_arrived_after_kill_s_min_median_max": spread("all_arrived_after_s"),
            "ready_again_after_s_min_median_max": spread("ready_again_after_s")}


# ---- the benchmark ---------------------------------------------------------------------------------


@dataclass
class NotifierFaultBench:
    args: argparse.Namespace
    workdir: Path
    kafka: LocalKafka | None = None
    postgres: LocalPostgres | None = None
    faults: NotifierFaults | None = None

    async def run(self) -> dict:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        options: Options = self.args.options
        kafka_port, controller_port, pg_port = distinct_free_ports(3)
        self.kafka = LocalKafka(self.workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="512m")
        self.postgres = LocalPostgres(self.workdir / "postgres", port=pg_port)
        progress("starting Kafka and PostgreSQL ...")
        await asyncio.gather(asyncio.to_thread(self.kafka.start, timeout_s=180), asyncio.to_thread(self.postgres.start))
        self.faults = NotifierFaults(workdir=self.workdir, bootstrap=self.kafka.bootstrap_servers, admin_url=self.postgres.url,
                                     options=options, log_level=self.args.log_level, progress=progress)
        await self.faults.open()
        results: dict = {"benchmark": "notifier-faults", "started_at": stamp, "options": asdict(options),
                          "lease_s": options.send_timeout_s * 2 + 10, "scenarios": {}}
        if options.outage_s > 0:
            outage = await self.faults.smtp_outage(rate=options.rate, outage_s=options.outage_s, edge_s=options.edge_s)
            progress(describe("outage", outage))
            results["scenarios"]["outage"] = outage
        for scenario, count in (("kill", options.trials), ("replicas", options.replica_trials)):
            if count <= 0:
                continue
            if scenario == "replicas":
                await self.faults.add_replica(1)
            trials = []
            for n in range(count):
                trials.append(await self.faults.kill_trial(n, rate=options.rate, burst_s=options.burst_s, victim=n % len(self.faults.replicas)))
                progress(describe(f"{scenario} {n + 1}/{count}", trials[-1]))
            results["scenarios"][scenario] = {"summary": summary(trials), "trials": trials}
        results["passed"] = all(s.get("passed", s.get("summary", {}).get("passed")) for s in results["scenarios"].values())
        if not results["passed"]:
            results["logs"] = str(keep_logs(self.workdir, Path(self.args.results_dir)))
        return results

    async def cleanup(self) -> None:
        if self.faults is not None:
            await self.faults.close()
        for server in (self.postgres, self.kafka):
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(server.stop)


def progress(line: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {line}", flush=True)


def print_table(results: dict) -> None:
    o = results["options"]
    print(f"\nNotifier faults — {results['started_at']}: {o['rate']:g} pages/s, lease {results['lease_s']:g} s, seed {o['seed']}")
    if "outage" in results["scenarios"]:
        print(describe("outage", results["scenarios"]["outage"]))
    for name in ("kill", "replicas"):
        if name in results["scenarios"]:
            s = results["scenarios"][name]["summary"]
            print(f"{name}: {'passed' if s['passed'] else 'FAILED'} over {s['trials']} trials; pages {s['pages']}, expected "
                  f"messages {s['expected_messages']}, delivered {s['delivered']}, missing {s['missing']}, duplicated "
                  f"(same id) {s['duplicated']} in {s['trials_with_duplicates']} trial(s), orphaned rows {s['orphaned']}, "
                  f"unexpected ids {s['unexpected']}; after the kill (min/median/max): every expected message in "
                  f"{s['all_arrived_after_kill_s_min_median_max']} s, all rows final {s['settled_after_kill_s_min_median_max']} s,"
                  f" killed notifier ready again {s['ready_again_after_s_min_median_max']} s")
    print(f"\n{'PASSED' if results['passed'] else 'FAILED'}" + (f" (logs: {results['logs']})" if results.get("logs") else ""))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = Options()
    parser = argparse.ArgumentParser(prog="python -m bench.notifier_faults", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rate", type=float, default=d.rate, help="pages/s")
    parser.add_argument("--outage-s", type=float, default=d.outage_s, help="how long the SMTP server is down (0: skip)")
    parser.add_argument("--edge-s", type=float, default=d.edge_s, help="load before the outage and after it")
    parser.add_argument("--trials", type=int, default=d.trials, help="SIGKILL trials of a lone notifier (0: skip)")
    parser.add_argument("--burst-s", type=float, default=d.burst_s, help="seconds of pages per kill trial")
    parser.add_argument("--replica-trials", type=int, default=d.replica_trials, help="SIGKILL trials with two replicas")
    parser.add_argument("--send-timeout-s", type=float, default=d.send_timeout_s, help="VIGIL_NOTIFIER_SEND_TIMEOUT_S")
    parser.add_argument("--seed", type=int, default=None, help="for the kill moments")
    parser.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.burst_s <= 0 or min(args.trials, args.replica_trials, args.outage_s) < 0:
        parser.error("--rate and --burst-s must be positive, the others not negative")
    seed = {"seed": args.seed} if args.seed is not None else {}
    args.options = Options(rate=args.rate, outage_s=args.outage_s, edge_s=args.edge_s, trials=args.trials,
                           burst_s=args.burst_s, replica_trials=args.replica_trials,
                           send_timeout_s=args.send_timeout_s, **seed)
    return args


async def amain(args: argparse.Namespace) -> int:
    Path(args.results_dir).mkdir(parents=True, exist_ok=True)
    return await run_and_save(
        lambda workdir: NotifierFaultBench(args, workdir), name="notifier-faults", results_dir=Path(args.results_dir),
        print_table=print_table, stopping="the notifiers, the peers, the broker and PostgreSQL",
        logs_of="the notifiers, the broker and PostgreSQL", checks_passed=lambda results: results["passed"],
        failed="a page was missing, an unexpected message arrived, a delivery failed or was doubled outside the crash window",
        check_targets=False,
    )


def main(argv: list[str] | None = None) -> int:
    return run_main(lambda: amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
