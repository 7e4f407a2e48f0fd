"""The dispatcher: takes due deliveries (FOR UPDATE SKIP LOCKED, with a lease, so replicas share the
work and a crashed sender's rows are taken again when the lease ends), sends each recipient's due
deliveries as one message (bundling), and records the outcome: sent, retrying with backoff, or
failed, which brings the page's next step (the person's next method) forward.

The one window no protocol closes: a crash after the peer accepted a message and before the outcome
is stored sends it again when the lease ends, with the same Message-ID / webhook-id, so the receiver
can drop it (docs/notifications.md)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Counter, Gauge, Histogram

from services.notifier import policy, repository as repo, service
from services.notifier.outcome import SendResult
from shared.clock import Clock
from shared.db import ACQUIRE_TIMEOUT_S
from shared.metrics import own_registry

log = structlog.get_logger("vigil.notifier")

METRICS = own_registry(__name__)  # this service's registry (shared/metrics.py)
DELIVERIES = Counter("vigil_notifier_deliveries_total", "Delivery attempts by contact kind and outcome", ["kind", "outcome"],
                     registry=METRICS)
LATENCY = Histogram(
    "vigil_notifier_delivery_latency_seconds", "From the page's event time to the peer's acceptance", ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900), registry=METRICS,
)
THROTTLED = Counter("vigil_notifier_throttled_total", "Deliveries held back by a per-recipient limit", ["kind"],
                    registry=METRICS)
BUNDLED = Counter("vigil_notifier_bundled_total", "Deliveries carried by another delivery's message", ["kind"],
                  registry=METRICS)
OLDEST_PENDING = Gauge("vigil_notifier_oldest_pending_seconds", "Age of the oldest delivery that is due and not yet sent",
                       registry=METRICS)

Send = Callable[[Sequence[asyncpg.Record]], Awaitable[SendResult]]  # the headline first, then the bundled ones
LimitsFor = Callable[[asyncpg.Record], Sequence[policy.Limit]]
# A page waits at most this long between attempts (notifications: policy.RETRY_CAP_S, 5 min).
PAGE_RETRY_CAP_S = 60.0


class Dispatcher:
    def __init__(
        self, pool: asyncpg.Pool, *, clock: Clock, send: Send, limits_for: LimitsFor, send_timeout_s: float,
        retry_for_s: float, batch: int = 200, concurrency: int = 64, max_idle_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._send = send
        self._limits_for = limits_for
        self._send_timeout_s = send_timeout_s
        self._retry_for = timedelta(seconds=retry_for_s)
        self._batch = batch
        self._concurrency = concurrency
        self._max_idle_s = max_idle_s
        self._lease = timedelta(seconds=send_timeout_s * 2 + 10)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task] = set()
        self._inflight_rows = 0
        # While every slot is busy the loop waits until this many are free again, then claims them
        # in one query (not one claim query per finished delivery).
        self._refill = max(1, concurrency // 4)
        self._full = False
        self._sent: list[_Sent] = []  # accepted, waiting to be stored (_record_sent)
        self._troubled: set[tuple[str, str | None]] = set()  # peers whose last answer was "try later"
        self._recorder: asyncio.Task | None = None

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Dispatch until stopped; a failing round is logged and retried (the rows' leases end)."""
        failures = 0
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    claimed = await self.round()
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - pages depend on this loop: it outlives any fault
                    failures += 1
                    log.warning("dispatch round failed, will retry", error=f"{type(exc).__name__}: {exc}", attempt=failures)
                    await self._sleep(min(0.2 * 2**failures, 10.0))
                    continue
                if self._inflight_rows >= self._concurrency:
                    self._full = True  # finishing deliveries wake the loop (_done)
                    await self._sleep(self._max_idle_s)
                elif claimed == 0:
                    await self._sleep(await self._idle_for())
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    async def round(self) -> int:
        """Claim what is due (as many rows as there is room for) and start sending; returns how many."""
        room = min(self._batch, self._concurrency - self._inflight_rows)
        if room <= 0:
            return 0
        now = self._clock()
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            rows = await repo.claim_due(conn, now=now, limit=room, lease_until=now + self._lease)
            messages = _messages(rows)
            fresh = [(r["id"], m.rows[0]["id"]) for m in messages if not m.resent for r in m.rows]
            if fresh:  # before anything is sent: a crash resends each message as it was
                await conn.execute(repo.SET_MESSAGE, *(list(column) for column in zip(*fresh, strict=True)))
        for message in messages:
            group = message.rows
            self._inflight_rows += len(group)
            task = asyncio.create_task(self._deliver(message))
            self._inflight.add(task)
            task.add_done_callback(lambda t, n=len(group): self._done(t, n))
        return len(rows)

    def _done(self, task: asyncio.Task, rows: int) -> None:
        self._inflight.discard(task)
        self._inflight_rows -= rows
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery failed unexpectedly; retried when its lease ends", error=repr(task.exception()))
        # A sent message makes nothing due: wake only a loop that waits for free slots. (A hold, a
        # retry or a failure changes what is due: those wake it themselves.)
        if self._full and self._inflight_rows <= self._concurrency - self._refill:
            self._full = False
            self._wake.set()

    async def _deliver(self, message: _Message) -> None:
        """One recipient's due deliveries: held back by a limit, or sent as one message and recorded."""
        rows = message.rows
        first = rows[0]
        now = self._clock()
        limits = self._limits_for(first)
        if limits and not message.resent:  # a resend is the message already sent: never held back
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                sent = await repo.sent_since(conn, first["person"], first["method"], now - policy.longest_window(limits))
            allowed = policy.next_allowed(sent, limits, now)
            if allowed is not None:
                THROTTLED.labels(first["kind"]).inc(len(rows))
                async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                    await conn.execute(repo.HOLD, [r["id"] for r in rows], allowed, now)
                log.info("delivery held by a limit", person=first["person"], method=first["method"],
                         until=allowed.isoformat(), deliveries=len(rows))
                self.wake()
                return
        try:
            result = await asyncio.wait_for(self._send(rows), self._send_timeout_s + 5)
        except TimeoutError:
            result = SendResult.transient(f"no answer within {self._send_timeout_s + 5:.0f} s")
        await self._record(rows, result, message.more_incidents)
        await self._peer_answered(first, result)
        if result.outcome != "accepted":
            self.wake()  # a retry's time, or the page's next step brought forward: the loop looks again

    async def _peer_answered(self, row: asyncpg.Record, result: SendResult) -> None:
        """Remember peers that fail for now; when one accepts again, what waits to retry towards it
        goes at once instead of at its backed-off time (minutes after an outage ends, otherwise)."""
        peer = _peer(row)
        if result.outcome == "transient":
            self._troubled.add(peer)
        elif result.outcome == "accepted" and peer in self._troubled:
            self._troubled.discard(peer)
            now = self._clock()
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                moved = await conn.fetch(repo.BRING_FORWARD_PEER, row["kind"], peer[1], now)
            if moved:
                log.info("peer answers again; its retries go now", kind=row["kind"], deliveries=len(moved))
                self.wake()

    async def _record(self, rows: Sequence[asyncpg.Record], result: SendResult, more_incidents: int) -> None:
        now = self._clock()
        headline, ids, kind = rows[0], [r["id"] for r in rows], rows[0]["kind"]
        DELIVERIES.labels(kind, result.outcome).inc()
        if result.outcome == "accepted":
            await self._record_sent(_Sent(rows, result.answer, more_incidents, asyncio.get_running_loop().create_future()))
            return
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
            retry_at = policy.next_attempt(
                result, attempts=headline["attempts"], first_attempt_at=headline["first_attempt_at"] or now, now=now,
                retry_for=self._retry_for, rand=random.random,
                cap_s=PAGE_RETRY_CAP_S if headline["channel"] == "page" else policy.RETRY_CAP_S,
            )
            if retry_at is not None:
                await conn.execute(repo.MARK_RETRYING, ids, retry_at, result.answer, result.error, now)
                log.warning("delivery will be retried", person=headline["person"], method=headline["method"], kind=kind,
                            incident_id=headline["number"], error=result.error, attempt=headline["attempts"],
                            retry_at=retry_at.isoformat())
                return
            failed = await conn.fetch(repo.MARK_FAILED, ids, result.answer, result.error, now)
            await service.publish_outcomes(conn, failed, now=now)
            for row in failed:
                if row["source"] == "page":
                    await conn.fetch(repo.BRING_FORWARD_NEXT_STEP, row["source_id"], row["step"], now)
            log.error("delivery failed", person=headline["person"], method=headline["method"], kind=kind,
                      incident_id=headline["number"], error=result.error, attempts=headline["attempts"])

    async def _record_sent(self, sent: _Sent) -> None:
        """Messages accepted while the previous ones are being stored are stored together: one
        transaction (one commit) for all of them instead of one each. Returns once this one is."""
        self._sent.append(sent)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._store_sent())
        await sent.recorded

    async def _store_sent(self) -> None:
        while self._sent:
            batch, self._sent = self._sent, []
            try:
                now = self._clock()
                # (delivery id, the message's id (its headline's), answer, other incidents) in id order
                marks = sorted((r["id"], s.rows[0]["id"], s.answer, s.more_incidents) for s in batch for r in s.rows)
                async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
                    done = await conn.fetch(repo.MARK_SENT, *(list(column) for column in zip(*marks, strict=True)), now)
                    await service.publish_outcomes(conn, done, now=now)
            except Exception as exc:  # noqa: BLE001 - each waiting delivery fails with it (_done logs it)
                for s in batch:
                    if not s.recorded.done():
                        s.recorded.set_exception(exc)
                continue
            for row in done:
                LATENCY.labels(row["kind"]).observe(max(0.0, (now - row["requested_at"]).total_seconds()))
            for s in batch:
                headline = s.rows[0]
                if len(s.rows) > 1:
                    BUNDLED.labels(headline["kind"]).inc(len(s.rows) - 1)
                log.info("delivery sent", person=headline["person"], method=headline["method"], kind=headline["kind"],
                         incident_id=headline["number"], delivery_id=headline["id"],
                         **{f"{headline['source']}_id": headline["source_id"]},  # page_id, ticket_id or test_id
                         answer=s.answer, more_incidents=s.more_incidents)
                if not s.recorded.done():
                    s.recorded.set_result(None)

    async def _idle_for(self) -> float:
        """Seconds until the next due delivery (at most max_idle_s)."""
        with contextlib.suppress(Exception):
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                due = await repo.next_due(conn)
            if due is not None:
                return max(0.0, min(self._max_idle_s, (due - self._clock()).total_seconds()))
        return self._max_idle_s

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)


@dataclass(frozen=True, slots=True)
class _Sent:
    """A message the peer accepted: its deliveries (the headline first), waiting to be stored."""

    rows: Sequence[asyncpg.Record]
    answer: str | None
    more_incidents: int
    recorded: asyncio.Future


@dataclass(frozen=True, slots=True)
class _Due:
    incident_id: int
    severity: int
    due_at: datetime
    row: asyncpg.Record


@dataclass(frozen=True, slots=True)
class _Message:
    """The deliveries one message carries, the headline first (its id is the message's id).
    `resent`: rows taken again after their sender died mid-attempt, resent as the message they were."""

    rows: list[asyncpg.Record]
    more_incidents: int
    resent: bool = False


def bundled(rows: Sequence[asyncpg.Record]) -> tuple[list[asyncpg.Record], int]:
    """The rows of one message, the headline first (policy.bundle: most severe, then oldest), and
    how many other incidents it carries."""
    bundle = policy.bundle([_Due(r["incident_id"], r["severity"], r["due_at"], r) for r in rows])
    return [due.row for due in bundle.deliveries], bundle.more_incidents


def _messages(rows: Sequence[asyncpg.Record]) -> list[_Message]:
    """The claimed rows as messages. Rows taken again after a crash go as the message they were part
    of (the id each recorded before it was sent), its headline first; the others by recipient
    (person, method). A row about no incident (a shift notice, a test message) goes alone: a bundle
    lists incidents."""
    resent: dict[str, list[asyncpg.Record]] = {}
    groups: dict[tuple[str, str, str], list[asyncpg.Record]] = {}
    for row in rows:
        if row["claimed_from"] == "sending" and row["message_id"]:
            resent.setdefault(row["message_id"], []).append(row)
            continue
        alone = row["id"] if row["incident_id"] == 0 else ""
        groups.setdefault((row["person"], row["method"], alone), []).append(row)
    messages = [_Message(*bundled(group)) for group in groups.values()]
    for message_id, group in resent.items():
        ordered, more = bundled(group)
        ordered.sort(key=lambda r: r["id"] != message_id)  # the headline (the message's id) first; stable
        messages.append(_Message(ordered, more, resent=True))
    return messages


def _peer(row: asyncpg.Record) -> tuple[str, str | None]:
    """Who answers for a delivery: the one SMTP server for e-mail, the address otherwise."""
    return (row["kind"], None if row["kind"] == "email" else row["address"])


async def measure_oldest_pending(pool: asyncpg.Pool, now: datetime) -> None:
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        oldest = await conn.fetchval(repo.OLDEST_PENDING, now)
    OLDEST_PENDING.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
