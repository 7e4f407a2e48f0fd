"""The evaluator's loop: each tick runs under a deadline; one that overruns it is cut off, logged as
an error and retried at the next interval, and the loop goes on (the lock is released each time)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.slo import ticker
from services.slo.definitions import DEFAULT_DEFINITIONS
from services.slo.evaluation import EvaluatorConfig
from services.slo.ticker import Evaluator, TickOverran

NOW = datetime(2026, 4, 15, 12, 0, 30, tzinfo=UTC)
CFG = EvaluatorConfig(definitions=DEFAULT_DEFINITIONS, zone="UTC", min_events=100, capacity_threshold=0.8,
                      capacity_weeks=4, capacity_lead=timedelta(days=14), retention=timedelta(days=40),
                      late_window=timedelta(days=3))


class LockConnection:
    """The connection the tick holds the evaluator's advisory lock on."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    async def fetchval(self, sql: str, *args):
        self.statements.append(sql)
        return True

    async def execute(self, sql: str, *args) -> None:
        self.statements.append(sql)


class Pool:
    def __init__(self) -> None:
        self.conn = LockConnection()

    def acquire(self):
        pool = self

        class Acquired:
            async def __aenter__(self):
                return pool.conn

            async def __aexit__(self, *exc):
                return False

        return Acquired()


class RecordingLog:
    def __init__(self) -> None:
        self.errors: list[tuple[str, dict]] = []

    def error(self, event: str, **fields) -> None:
        self.errors.append((event, fields))

    def debug(self, event: str, **fields) -> None:
        pass


def evaluator_with(monkeypatch, evaluate_slos, *, tick_timeout_s: float) -> tuple[Evaluator, Pool, RecordingLog]:
    async def nothing(*args, **kwargs):
        return []

    monkeypatch.setattr(ticker.service, "evaluate_slos", evaluate_slos)
    monkeypatch.setattr(ticker.service, "evaluate_capacity", nothing)
    monkeypatch.setattr(ticker.service, "prune", nothing)
    log = RecordingLog()
    monkeypatch.setattr(ticker, "log", log)
    pool = Pool()
    return Evaluator(pool, CFG, clock=lambda: NOW, interval_s=0.01, tick_timeout_s=tick_timeout_s), pool, log


async def test_a_tick_past_its_deadline_is_cut_off_logged_and_the_next_tick_runs(monkeypatch):
    calls = []

    async def evaluate_slos(pool, cfg, now, cache):
        calls.append(cache)
        if len(calls) == 1:
            await asyncio.sleep(30)  # a hung query
        return []

    evaluator, pool, log = evaluator_with(monkeypatch, evaluate_slos, tick_timeout_s=0.05)
    first_cache = evaluator._cache
    run = asyncio.create_task(evaluator.run())
    async with asyncio.timeout(5):
        while len(calls) < 3:
            await asyncio.sleep(0.01)
    evaluator.stop()
    await asyncio.wait_for(run, 1)  # the loop survived the overrun and stops when asked

    assert log.errors == [("slo evaluation overran its deadline and was cut off; it runs again next interval",
                           {"timeout_s": 0.05})]
    assert calls[1] is not first_cache  # the cut-off tick's kept sums are not trusted: read in full again
    assert calls[2] is calls[1]
    unlocks = [s for s in pool.conn.statements if "advisory_unlock" in s]
    assert len(unlocks) == len([s for s in pool.conn.statements if "try_advisory_lock" in s]) >= 3


async def test_tick_raises_tick_overran_only_when_its_own_deadline_expired(monkeypatch):
    async def slow(pool, cfg, now, cache):
        await asyncio.sleep(30)

    evaluator, _pool, _log = evaluator_with(monkeypatch, slow, tick_timeout_s=0.02)
    with pytest.raises(TickOverran, match="deadline of 0.02 s"):
        await evaluator.tick()

    async def query_timeout(pool, cfg, now, cache):
        raise TimeoutError("a query's own command timeout")

    evaluator, _pool, _log = evaluator_with(monkeypatch, query_timeout, tick_timeout_s=5)
    with pytest.raises(TimeoutError, match="command timeout") as raised:
        await evaluator.tick()
    assert not isinstance(raised.value, TickOverran)


def test_the_default_deadline_is_far_above_a_measured_tick():
    evaluator = Evaluator(Pool(), CFG, clock=lambda: NOW, interval_s=30)
    assert evaluator._tick_timeout_s == ticker.TICK_TIMEOUT_S == 60
