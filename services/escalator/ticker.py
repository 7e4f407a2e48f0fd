"""The time-driven loop: claims due timers with `FOR UPDATE SKIP LOCKED` (so replicas never fire
one twice), fires them in the claiming transaction, and sleeps until the next due time — woken
early by NOTIFY when timers are stored. A timer fires at or after its due time, never before;
lateness (fired − due) is exported as a histogram. A failing tick is logged and retried; it never
kills the loop. After downtime the overdue timers fire at once, oldest first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta

import asyncpg
import httpx
import structlog
from prometheus_client import Counter, Gauge, Histogram

from services.escalator import repository as repo, service
from shared.clock import Clock
from shared.outbox import channel

log = structlog.get_logger("vigil.escalator.ticker")

LATENESS = Histogram(
    "vigil_escalator_timer_lateness_seconds", "Time from a timer's due time to when it fired",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
ACTIONS = Counter("vigil_escalator_actions_total", "Pages, notifications and tickets sent", ["action"])
PENDING = Gauge("vigil_escalator_timers_pending", "Timers waiting for their due time")
FAILED = Counter("vigil_escalator_timer_failures_total", "Timer firings that failed and will be retried")
RETRY_AFTER = timedelta(seconds=5)


async def record_fired(conn: asyncpg.Connection, timer: asyncpg.Record, fired: service.Fired, *, now) -> None:
    """Mark the timer fired with what it did, and count it: lateness, pages, notifications, tickets."""
    await repo.finish_timer(conn, timer["id"], outcome=fired.outcome, now=now)
    lateness = (now - timer["due_at"]).total_seconds()
    LATENESS.observe(lateness)
    if fired.sent:
        ACTIONS.labels(fired.action).inc(fired.sent)
    log.info("timer fired", incident_id=timer["incident_id"], action=timer["action"], step=timer["step"],
             outcome=fired.outcome, lateness_ms=round(lateness * 1000, 1))


async def fire_due_now(conn: asyncpg.Connection, timer_ids: list[str], *, config, now, link_base: str | None, who=None) -> None:
    """Fire the just-planned timers that are already due inside the planning transaction, instead of
    a commit, a NOTIFY and a tick later (an opened incident's first page). Each in a savepoint: one
    that fails stays pending and the ticker retries it. The acknowledgement check is the ticker's."""
    for timer in await repo.lock_pending(conn, timer_ids):
        try:
            async with conn.transaction():
                await record_fired(conn, timer, await service.fire_timer(conn, timer, config=config, now=now, link_base=link_base, who=who), now=now)
        except (asyncpg.PostgresConnectionError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - left pending for the ticker
            log.error("firing a due timer at once failed; the ticker retries it", timer=timer["id"], error=repr(exc))
            await conn.execute("SELECT pg_notify($1, '')", repo.TIMER_CHANNEL)  # it is due: wake the ticker at commit


async def fire_batch_due_now(conn: asyncpg.Connection, applied: service.BatchApplied, *, now, link_base: str | None,
                             outbox_channel: str | None = channel(repo.SCHEMA)) -> None:
    """Fire a batch's due-now timers in its transaction, in the order the one-by-one path fires
    them: each run of page/notify timers this batch inserted in one statement (`repo.fire_pages`:
    the same pages, outbox rows and outcomes as `fire_timer` one by one), any other timer (a ticket,
    one stored before) through `fire_due_now`. No savepoint around a run: when its statement fails,
    the caller rolls the whole batch back and applies it the one-by-one way, where a failing timer
    stays pending for the ticker. `outbox_channel` None: the pages' statements do not NOTIFY the
    relay (the caller wakes its own after the commit); the other timers' firings always do."""
    run: list[service.DueNow] = []
    for item in [*applied.due_now, None]:
        if item is not None and item.inserted and item.step.action in ("page", "notify"):
            run.append(item)
            continue
        if run:
            await _fire_pages(conn, run, config=applied.config, now=now, link_base=link_base, outbox_channel=outbox_channel)
            run = []
        if item is not None:
            await fire_due_now(conn, [item.step.id], config=applied.config, now=now, link_base=link_base, who=item.who)


async def _fire_pages(conn: asyncpg.Connection, due: list[service.DueNow], *, config, now, link_base: str | None,
                      outbox_channel: str | None) -> None:
    rows = service.pages_to_fire(due, config=config, now=now, link_base=link_base)
    new = await repo.fire_pages(conn, rows.pages, rows.outbox, rows.finished, now=now, outbox_channel=outbox_channel)
    for step, outcome, page_ids in rows.timers:
        lateness = (now - step.due_at).total_seconds()
        LATENESS.observe(lateness)
        sent = sum(1 for page_id in page_ids if page_id in new)
        if sent:
            ACTIONS.labels(step.action).inc(sent)
        log.info("timer fired", incident_id=step.incident_id, action=step.action, step=step.step,
                 outcome=outcome, lateness_ms=round(lateness * 1000, 1))


class IncidentsClient:
    """Clears a lapsed acknowledgement through the incident service, which owns it and publishes
    `unacknowledged`; that event restarts the escalation like any other."""

    def __init__(self, base_url: str | None, token: str | None, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url or "http://incidents.invalid", timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )

    async def unacknowledge(self, incident_id: int, *, reason: str, key: str) -> str:
        """'done' when the incident is unacknowledged (or no longer needs it); raises otherwise."""
        if not self.base_url:
            raise RuntimeError("VIGIL_ESCALATOR_INCIDENTS_URL is not set: cannot clear a lapsed acknowledgement")
        response = await self._http.post(
            f"/api/v1/incidents/{incident_id}/unacknowledge", json={"reason": reason, "by": "escalator"},
            headers={"Idempotency-Key": key},
        )
        if response.status_code in (200, 404, 409):  # 404/409: gone or resolved meanwhile: nothing to re-page
            return f"unacknowledge answered {response.status_code}"
        raise RuntimeError(f"incident service answered {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self._http.aclose()


class Ticker:
    def __init__(
        self, pool: asyncpg.Pool, *, store: service.ConfigStore, clock: Clock, incidents: IncidentsClient,
        batch: int = 200, max_idle_s: float = 5.0, incident_link: str | None = None,
    ) -> None:
        self._pool = pool
        self._store = store
        self._clock = clock
        self._incidents = incidents
        self._batch = batch
        self._max_idle_s = max_idle_s
        self._incident_link = incident_link
        self._wake = asyncio.Event()
        self._wake_at: datetime | None = None  # when the sleeping loop looks next (clock time); None: awake
        self._stopping = asyncio.Event()
        self._gauge_at = 0.0
        # Timers due later than this need no NOTIFY: every ticker (same setting on every replica)
        # reads the next due time at least every max_idle_s, so all of them see such a timer in time.
        self.notify_within = timedelta(seconds=2 * max_idle_s)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look at the clock and the timers now (NOTIFY does this; tests moving a clock do too)."""
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                async with self._pool.acquire() as listener:
                    await listener.add_listener(repo.TIMER_CHANNEL, self._on_notify)
                    try:
                        await self._loop(listener)
                    finally:
                        with contextlib.suppress(Exception):
                            await listener.remove_listener(repo.TIMER_CHANNEL, self._on_notify)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the ticker must never die: pages depend on it
                failures += 1
                log.warning("ticker failed, will retry", error=repr(exc), attempt=failures, exc_info=failures == 1)
                await self._sleep(min(0.2 * 2**failures, 5.0))

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        """Timers were stored. The payload is the earliest due time among them (empty: unknown)."""
        due = None
        if payload:
            with contextlib.suppress(ValueError):
                due = datetime.fromisoformat(payload)
        self.timers_stored(due)

    def timers_stored(self, due: datetime | None) -> None:
        """Timers were stored (committed), the earliest due at `due` (None: unknown): when the ticker
        is asleep until before that anyway, nothing needs to change. NOTIFY calls it; so does this
        process's consumer after a commit that did not NOTIFY."""
        if due is not None and self._wake_at is not None and due >= self._wake_at:
            return
        self._wake.set()

    async def _loop(self, conn: asyncpg.Connection) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            fired = await self.tick()
            if fired >= self._batch:
                continue  # more may be due
            next_due = await repo.next_due(conn)
            if time.monotonic() - self._gauge_at > 1.0:
                self._gauge_at = time.monotonic()
                PENDING.set(await repo.pending_count(conn))
            delay = self._max_idle_s
            if next_due is not None:
                delay = min(max((next_due - self._clock()).total_seconds(), 0.0), self._max_idle_s)
            if delay > 0:
                # No await between here and the wait: a notification either sees this wake-up
                # time or (None, while ticking) always wakes the loop.
                self._wake_at = self._clock() + timedelta(seconds=delay)
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                finally:
                    self._wake_at = None

    async def tick(self) -> int:
        """Fire every timer due now (up to one batch) in one transaction; returns how many."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                now = self._clock()
                due = await repo.claim_due(conn, now=now, limit=self._batch)
                if not due:
                    return 0
                config = await self._store.current(conn)
                for timer in due:
                    try:
                        async with conn.transaction():  # a savepoint: one timer's failure never blocks the others
                            await self._fire(conn, timer, config=config, now=now)
                    except (asyncpg.PostgresConnectionError, OSError):
                        raise
                    except Exception as exc:  # noqa: BLE001 - isolate the timer, retry it later
                        FAILED.inc()
                        log.error("timer failed, will retry", timer=timer["id"], incident_id=timer["incident_id"],
                                  error=repr(exc), attempt=timer["attempts"] + 1, exc_info=timer["attempts"] == 0)
                        await repo.retry_timer(conn, timer["id"], at=now + RETRY_AFTER, outcome=f"failed, retrying: {exc!r}")
            return len(due)
        except (asyncpg.PostgresError, OSError) as exc:
            log.error("tick failed; its timers stay pending and fire on the next tick", error=str(exc))
            await self._sleep(0.5)
            return 0

    async def _fire(self, conn: asyncpg.Connection, timer, *, config, now) -> None:
        fired = await service.fire_timer(conn, timer, config=config, now=now, link_base=self._incident_link)
        if fired.unacknowledge:
            try:
                outcome = await self._incidents.unacknowledge(timer["incident_id"], reason=fired.unacknowledge, key=timer["id"])
            except (httpx.HTTPError, RuntimeError) as exc:
                await repo.retry_timer(conn, timer["id"], at=now + RETRY_AFTER, outcome=f"unacknowledge failed, retrying: {exc}")
                log.warning("ack timeout: unacknowledge failed, will retry", incident=fired.number, error=str(exc))
                return
            await repo.set_ack_timed_out(conn, timer["incident_id"], True)
            fired = service.Fired(f"{fired.unacknowledge}: {outcome}", action="ack_check")
        await record_fired(conn, timer, fired, now=now)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
