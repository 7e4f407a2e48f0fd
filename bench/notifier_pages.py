"""The notifier benchmark's scenarios that produce PageRequested events straight onto vigil.pages.v1
(pages-to-smtp, pages-to-webhook, webhook-throughput): see bench/notifier_load.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.notifier_peers import HOOK_METHOD
from bench.notifier_stack import CE_SOURCE, Peer, per_unit, publish, stats_ms
from services.notifier.policy import delivery_id
from shared.events import ContactMethod, PageRequested, PersonUpdated, Topic, encode

if TYPE_CHECKING:
    from bench.notifier_load import NotifierBench

MAIL_METHOD = "email"


@dataclass
class Pages:
    """Pages of one phase ("w" warm-up, "m" measured), each its own incident, to the people in turn;
    remembers each page's expected delivery id and event time."""

    run: str
    phase: str
    people: list[str]
    method: str
    first_incident: int
    expected: dict[str, float] = field(default_factory=dict)  # delivery id -> occurred_at (epoch s)

    def make(self, i: int, now: datetime) -> tuple[bytes, bytes, list]:
        incident_id = self.first_incident + i
        page = PageRequested(
            event_id=str(uuid.uuid4()), occurred_at=now, source="bench", page_id=f"bench-{self.run}-{self.phase}-{i}",
            incident_id=incident_id, number=f"INC-{incident_id}", severity=1, title=f"Bench page {i} of run {self.run}",
            target=self.people[i % len(self.people)], step=0, reason="initial",
            links={"incident": f"http://vigil.bench.test/incidents/{incident_id}",
                   "runbook": "https://runbooks.example.com/bench"})
        self.expected[delivery_id(page.page_id, self.method, 0)] = now.timestamp()
        return encode(page, ce_source=CE_SOURCE)


async def at_rate(producer: AIOKafkaProducer, pages: Pages, n: int, rate: float) -> dict:
    """Produce `n` pages at `rate`/s, open loop, each encoded when it is due (its event time)."""
    pending, lag = [], []
    started = time.perf_counter()
    for i in range(n):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lag.append(max(0.0, time.perf_counter() - due))
        key, value, headers = pages.make(i, datetime.now(UTC))
        pending.append(await producer.send(Topic.PAGES, value, key=key, headers=headers))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*pending)
    return {"sent": n, "sent_s": round(elapsed, 2), "achieved_rate": round(n / elapsed, 1) if elapsed else None,
            "send_lag_ms": stats_ms(lag)}


async def backlog(producer: AIOKafkaProducer, pages: Pages, n: int) -> dict:
    """Produce `n` pages as fast as the producer takes them (encoded first, then pipelined). Their
    event times are 1 µs apart: the dispatcher claims the oldest first, so a claim never holds two
    pages of one person (`--people` apart) and nothing is bundled."""
    now = datetime.now(UTC)
    encoded = [pages.make(i, now + timedelta(microseconds=i)) for i in range(n)]
    started = time.perf_counter()
    pending = [await producer.send(Topic.PAGES, value, key=key, headers=headers) for key, value, headers in encoded]
    await asyncio.gather(*pending)
    return {"sent": n, "produce_s": round(time.perf_counter() - started, 2)}


def person(name: str, method: ContactMethod) -> PersonUpdated:
    return PersonUpdated(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), source="bench", person=name,
                         revision=1, contact_methods=(method,))


def method_of(name: str, peer: Peer) -> ContactMethod:
    if peer.child.name == "mail-peer":
        return ContactMethod(id=MAIL_METHOD, kind="email", address=f"{name}@bench.example.com")
    return ContactMethod(id=HOOK_METHOD, kind="webhook", address=f"http://127.0.0.1:{peer.port}/hook/{name}")


def arrived(peer: Peer, total: int):
    """A `wait_until` check: every id of `total` (warm-up included) arrived at the peer."""
    async def check() -> tuple[bool, int]:
        count = await peer.count()
        return count >= total, count
    return check


async def delivery_states(database_url: str, run: str) -> tuple[dict, dict[str, str]]:
    """The measured deliveries by state, and those carried by another delivery's message (bundled:
    delivery id -> the message's id)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT state, count(*) AS n, count(*) FILTER (WHERE attempts > 1) AS retried, "
            "count(*) FILTER (WHERE bundled_with > 0) AS bundles FROM notifier.delivery "
            "WHERE source_id LIKE $1 GROUP BY state", f"bench-{run}-m-%")
        carried = await conn.fetch("SELECT id, message_id FROM notifier.delivery WHERE source_id LIKE $1 "
                                   "AND message_id <> id", f"bench-{run}-m-%")
    finally:
        await conn.close()
    states = {r["state"]: {"deliveries": r["n"], "retried": r["retried"], "bundles": r["bundles"]} for r in rows}
    return states, {r["id"]: r["message_id"] for r in carried}


async def pages(bench: NotifierBench) -> dict:
    args, stack = bench.args, bench.stack
    throughput = args.scenario == "webhook-throughput"
    peer = await stack.peer("mail" if args.scenario == "pages-to-smtp" else "webhook")
    database_url = await stack.new_database("notifier")
    await stack.service("notifier", bench.notifier_env(peer), database_url=database_url)
    people = [f"p{i:05d}" for i in range(args.people)]
    method = method_of(people[0], peer).id
    producer = await stack.producer()
    try:
        await publish(producer, [person(name, method_of(name, peer)) for name in people])
        await bench.wait_for_people(database_url, len(people))
        print(f"{args.scenario}: notifier ready, {len(people):,} people known", flush=True)
        warm = Pages(bench.run_id, "w", people, method, first_incident=1)
        if args.warmup_s > 0:
            n = max(1, int(args.rate * args.warmup_s))
            await at_rate(producer, warm, n, args.rate)
            await bench.wait_until(arrived(peer, n), what="warm-up")
            print(f"{args.scenario}: warm-up of {n:,} pages delivered", flush=True)
        await stack.analyze(database_url)
        measure = Pages(bench.run_id, "m", people, method, first_incident=10_000_001)
        n = args.pages if throughput else args.rate * args.duration
        load = (lambda: backlog(producer, measure, n)) if throughput else (lambda: at_rate(producer, measure, n, args.rate))
        check = arrived(peer, len(warm.expected) + n)
        print(f"{args.scenario}: measuring {n:,} pages" + ("" if throughput else f" at {args.rate}/s"), flush=True)
        m = await bench.measured(load, lambda: bench.wait_until(check, what="deliveries"), profile=("notifier",))
    finally:
        await producer.stop()
    dump = await peer.arrivals()
    times = dump["arrivals"]
    states, carried = await delivery_states(database_url, bench.run_id)
    # A delivery arrives as its own message, or bundled into another delivery's (when the notifier
    # fell more than --people pages behind, two of one person were due at once).
    firsts = {i: times[carried.get(i, i)][0] for i in measure.expected if carried.get(i, i) in times}
    latencies = [firsts[i] - at for i, at in measure.expected.items() if i in firsts]
    known = set(measure.expected) | set(warm.expected)
    out = {**m, "expected": n, "delivered": len(firsts), "missing": n - len(firsts),
           "duplicates": sum(len(times[i]) - 1 for i in measure.expected if i in times and i not in carried),
           "unexpected_ids": sum(1 for i in times if i not in known), "rejected": dump["rejected"],
           **({"peer_connections": dump["connections"]} if peer.child.name == "webhook-peer" else {}),
           "latency_ms": stats_ms(latencies), "cpu_ms_per_delivery": per_unit(m["cpu_s"], len(firsts)),
           "delivery_rows": states, "notes": {"deliveries carried by another's message (bundled)": len(carried)}}
    if throughput:
        out["throughput"] = rates(sorted(firsts.values()))
    return out


def rates(ordered: list[float]) -> dict:
    """Deliveries/s from the first to the last arrival, and between the 10th and 90th percentile."""
    if len(ordered) < 10:
        return {"overall_per_s": None, "steady_per_s": None}
    lo, hi = len(ordered) // 10, len(ordered) * 9 // 10
    span = ordered[-1] - ordered[0]
    return {"overall_per_s": round((len(ordered) - 1) / span, 1) if span else None,
            "steady_per_s": round((hi - lo) / (ordered[hi] - ordered[lo]), 1) if ordered[hi] > ordered[lo] else None,
            "drain_s": round(span, 2)}
