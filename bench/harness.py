"""What the load benchmarks share around their own run: the temp dir, Ctrl-C and SIGTERM, cleanup,
the logs of a failed run, and the results file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

REPO = Path(__file__).resolve().parent.parent


class Benchmark(Protocol):
    async def run(self) -> dict: ...

    async def cleanup(self) -> None: ...


def keep_logs(workdir: Path, results_dir: Path) -> Path:
    """Copy the run's logs out of the temp dir (which is removed) for a failed run."""
    dest = results_dir / f"failed-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    dest.mkdir(parents=True, exist_ok=True)
    for log in [*workdir.glob("*.log"), *(workdir / "kafka").glob("*.log"), *(workdir / "postgres").glob("*.log")]:
        with contextlib.suppress(OSError):
            prefix = "" if log.parent == workdir else f"{log.parent.name}-"
            shutil.copy(log, dest / (prefix + log.name))
    return dest


async def run_and_save(
    make_bench: Callable[[Path], Benchmark],
    *,
    name: str,
    results_dir: Path,
    print_table: Callable[[dict], None],
    stopping: str,
    logs_of: str,
) -> tuple[int, dict | None]:
    """Run a benchmark in a new temp dir, always clean up, and write `<name>-<started_at>.json`.
    Returns (0, results), or (130, None) when interrupted, (1, None) when it failed (its logs are
    kept under `results_dir`). `stopping` and `logs_of` name the benchmark's processes in the messages."""
    workdir = Path(tempfile.mkdtemp(prefix=f"vigil-bench-{name}-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own user when we are root
    bench = make_bench(workdir)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        results = await bench.run()
    except asyncio.CancelledError:
        print(f"\ninterrupted: stopping {stopping} ...", file=sys.stderr, flush=True)
        return 130, None
    except Exception as exc:
        kept = keep_logs(workdir, results_dir)
        print(f"\nbenchmark failed: {exc!r}\nlogs of {logs_of}: {kept}", file=sys.stderr, flush=True)
        return 1, None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await bench.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    path = results_dir / f"{name}-{results['started_at']}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_table(results)
    print(f"\nresults: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0, results


def run_main(amain: Callable[[], Awaitable[int]]) -> int:
    """`asyncio.run` with Ctrl-C: the cancelled main task's finally blocks have stopped everything."""
    try:
        return asyncio.run(amain())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
