"""`shared.supervision`: a background task that dies is noticed, a periodic tick has a deadline."""

from __future__ import annotations

import asyncio

from shared.supervision import Supervisor, run_periodically, run_tick


async def test_a_task_that_raises_is_recorded_and_fails_readiness() -> None:
    work = Supervisor()
    stop = asyncio.Event()

    async def healthy() -> None:
        await stop.wait()

    async def broken() -> None:
        raise RuntimeError("connection has been released back to the pool")

    work.start("consumer", healthy, stop.set)
    work.start("outbox-relay", broken, lambda: None)
    await asyncio.sleep(0.01)
    assert not await work.alive()
    assert set(work.died) == {"outbox-relay"}
    assert "released back to the pool" in work.died["outbox-relay"]
    await work.stop(timeout_s=1)


async def test_a_task_that_returns_unasked_has_died_too() -> None:
    work = Supervisor()

    async def returns() -> None:
        return None

    work.start("ticker", returns, lambda: None)
    await asyncio.sleep(0.01)
    assert work.died == {"ticker": "returned before it was asked to stop"}


async def test_tasks_that_end_because_they_were_stopped_have_not_died() -> None:
    work = Supervisor()
    stop = asyncio.Event()

    async def loop() -> None:
        await stop.wait()

    work.start("consumer", loop, stop.set)
    assert await work.alive()
    await work.stop(timeout_s=1)
    assert work.died == {} and await work.alive()


async def test_a_task_that_ignores_stop_is_cancelled_after_the_timeout() -> None:
    work = Supervisor()

    async def deaf() -> None:
        await asyncio.sleep(3600)

    work.start("deaf", deaf, lambda: None)
    started = asyncio.get_running_loop().time()
    await work.stop(timeout_s=0.05)
    assert asyncio.get_running_loop().time() - started < 1
    assert work.died == {}


def test_two_tasks_cannot_share_a_name() -> None:
    async def scenario() -> None:
        work = Supervisor()
        stop = asyncio.Event()
        work.start("consumer", stop.wait, stop.set)
        try:
            work.start("consumer", stop.wait, stop.set)
        except ValueError as exc:
            assert "consumer" in str(exc)
        else:
            raise AssertionError("a second task with the same name was accepted")
        finally:
            await work.stop(timeout_s=1)

    asyncio.run(scenario())


async def test_a_tick_that_overruns_its_deadline_is_cut_off() -> None:
    async def hangs() -> None:
        await asyncio.sleep(3600)

    started = asyncio.get_running_loop().time()
    assert await run_tick("gauge", hangs, timeout_s=0.05) is False
    assert asyncio.get_running_loop().time() - started < 1


async def test_a_failing_tick_is_reported_and_does_not_raise() -> None:
    async def fails() -> None:
        raise OSError("connection refused")

    assert await run_tick("gauge", fails, timeout_s=1) is False


async def test_a_periodic_job_goes_on_after_a_hung_and_a_failing_tick() -> None:
    calls: list[int] = []
    stopping = asyncio.Event()

    async def tick() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            await asyncio.sleep(3600)  # hangs: cut off by the deadline
        elif len(calls) == 2:
            raise RuntimeError("boom")
        elif len(calls) == 4:
            stopping.set()

    await asyncio.wait_for(run_periodically("gauge", tick, interval_s=0.001, timeout_s=0.05, stopping=stopping), 5)
    assert calls == [0, 1, 2, 3]


async def test_every_runs_under_supervision_and_stops_cleanly() -> None:
    work = Supervisor()
    ticks = asyncio.Event()

    async def tick() -> None:
        ticks.set()

    work.every("open-incidents-gauge", tick, interval_s=0.01, timeout_s=1)
    await asyncio.wait_for(ticks.wait(), 5)
    assert work.names() == ["open-incidents-gauge"]
    await work.stop(timeout_s=1)
    assert work.died == {}
