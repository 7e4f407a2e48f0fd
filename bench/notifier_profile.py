"""py-spy on the notifier benchmark's service processes during a measured load: one raw profile per
process (`bench/results/notifier-profile-<scenario>-<process>-<time>.txt`) and, for the results,
where its time goes: the functions with the most self time, and the most inclusive time among the
project's own functions and the libraries it calls (the first frames that tell why)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Child
from bench.profile_summary import load, strip_line

# Frames whose inclusive time is worth reading: our code and the libraries on a delivery's path.
INTERESTING = re.compile(r"services/|shared/|aiosmtplib/|httpx/|httpcore/|asyncpg/|aiokafka/|email/|jinja2/|pydantic/")


@dataclass
class Profiler:
    name: str
    proc: asyncio.subprocess.Process
    path: Path


async def start(children: list[Child], names: tuple[str, ...], out_dir: Path, label: str) -> list[Profiler]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    profilers = []
    for child in children:
        if child.name not in names:
            continue
        path = out_dir / f"notifier-profile-{label}-{child.name}.txt"
        proc = await asyncio.create_subprocess_exec(
            py_spy, "record", "--pid", str(child.pid), "--rate", "100", "--format", "raw", "--nonblocking",
            "--full-filenames", "-o", str(path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        profilers.append(Profiler(child.name, proc, path))
    await asyncio.sleep(1)  # attached
    return profilers


async def stop(profilers: list[Profiler], top: int = 15) -> dict:
    """py-spy writes its file when interrupted; each process's summary."""
    summary = {}
    for p in profilers:
        with contextlib.suppress(ProcessLookupError):
            p.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(p.proc.wait(), 60)
        if not p.path.exists():
            summary[p.name] = {"file": str(p.path), "samples": 0, "error": "py-spy wrote no profile"}
            continue
        stacks = load(p.path)
        total = sum(n for _, n in stacks) or 1
        self_time: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        for frames, n in stacks:
            self_time[strip_line(frames[-1])] += n
            for frame in {strip_line(f) for f in frames if INTERESTING.search(f)}:
                inclusive[frame] += n
        summary[p.name] = {
            "file": str(p.path), "samples": sum(n for _, n in stacks),
            "top_self_pct": [(f, round(100 * n / total, 1)) for f, n in self_time.most_common(top)],
            "top_inclusive_pct": [(f, round(100 * n / total, 1)) for f, n in inclusive.most_common(top * 2)],
        }
    return summary
