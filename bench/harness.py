"""What the load benchmarks share around their own measurements: child processes (own session,
dying with the benchmark), their CPU time, free ports, the temp dir, Ctrl-C and SIGTERM, cleanup,
the logs of a failed run, and the results file."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from shared.local.kafka_broker import free_port

REPO = Path(__file__).resolve().parent.parent


def die_with_parent() -> None:
    """Run in each child before exec: SIGTERM it if this process dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of one process, from /proc."""
    fields = proc_stat(pid) if pid is not None else None
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int | None) -> float | None:
    """CPU time of a process, its reaped children and its living children (PostgreSQL: the
    postmaster and its backends, WAL writer, checkpointer ...)."""
    fields = proc_stat(pid) if pid is not None else None
    if fields is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(int(v) for v in fields[11:15]) / tick  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(ValueError, IndexError):
            f = proc_stat(entry.name)
            if f is not None and int(f[1]) == pid:
                total += (int(f[11]) + int(f[12])) / tick
    return total


def inherited_env() -> dict[str, str]:
    """This process's environment without VIGIL_* settings: the benchmark sets its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    for _ in range(100):
        port = free_port()
        if port not in ports:
            ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError("could not find free ports on 127.0.0.1")


@dataclass
class Child:
    """A process this benchmark started (in its own session, so Ctrl-C reaches only us)."""

    name: str
    proc: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await asyncio.wait_for(self.proc.wait(), 5)


async def start_child(children: list[Child], name: str, *argv: str, log: Path, env: dict[str, str], cwd: Path,
                      capture: bool = False, stdin_pipe: bool = False) -> Child:
    """Start a process in its own session (so Ctrl-C reaches only the benchmark), SIGTERMed should
    the benchmark die, with this environment minus VIGIL_* plus `env`, its output appended to `log`
    (stdout piped instead with `capture`); it is added to `children` for cleanup."""
    out = open(log, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**inherited_env(), **env},
            stdin=asyncio.subprocess.PIPE if stdin_pipe else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if capture else out,
            stderr=out,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    finally:
        out.close()
    child = Child(name, proc, log)
    children.append(child)
    return child


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
    checks_passed: Callable[[dict], bool],
    failed: str,
    check_targets: bool,
) -> int:
    """Run a benchmark in a new temp dir, always clean up, write `<name>-<started_at>.json` and print
    its table. The exit code: 0; 130 when interrupted; 1 when it failed (its logs are kept under
    `results_dir`) or its correctness checks did not pass (`failed` says what that means); 3 with
    `check_targets` when a target was missed. `stopping` and `logs_of` name its processes."""
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
        return 130
    except Exception as exc:
        kept = keep_logs(workdir, results_dir)
        print(f"\nbenchmark failed: {exc!r}\nlogs of {logs_of}: {kept}", file=sys.stderr, flush=True)
        return 1
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await bench.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    path = results_dir / f"{name}-{results['started_at']}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_table(results)
    print(f"\nresults: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    if not checks_passed(results):
        print(f"FAILED: {failed}", file=sys.stderr)
        return 1
    if check_targets and not all(t.get("met") for t in results["targets"].values()):
        return 3
    return 0


def run_main(amain: Callable[[], Awaitable[int]]) -> int:
    """`asyncio.run` with Ctrl-C: the cancelled main task's finally blocks have stopped everything."""
    try:
        return asyncio.run(amain())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
