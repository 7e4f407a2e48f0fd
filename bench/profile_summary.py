"""Summarise a py-spy `--format raw` profile (collapsed stacks) of the ingest server.

`python -m bench.profile_summary bench/results/profile-ingest-batch50-*.txt [--top 25]`

Prints where the sampled CPU time goes: by component (inclusive: a sample counts for the
outermost matching component of its stack, from the table below, so the components add up to
100%), and the functions with the most self time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# (label, pattern on one frame, "function (file:line)"). For each sample the innermost frame that
# matches any pattern decides, so a component is the time spent in it and in what it calls that
# is not itself a listed component; the components add up to 100%. Written for py-spy's
# --full-filenames (what bench.ingest_load uses) and also work on its short names.
COMPONENTS: list[tuple[str, re.Pattern[str]]] = [
    ("pydantic: parse + validate webhook JSON", re.compile(r"model_validate_json \(.*pydantic/main\.py")),
    ("pydantic: AlertEvent(...) validation", re.compile(r"BaseModel\.__init__ \(.*pydantic/main\.py")),
    ("pydantic: event/alert JSON (model_dump_json)", re.compile(r"model_dump_json \(.*pydantic/main\.py")),
    ("event id (uuid5 of the alert state)", re.compile(r"(deterministic_id|id_for) \(.*shared/events\.py")),
    ("events.encode (event JSON by pydantic-core, CE headers)", re.compile(r"^encode \(.*shared/events\.py")),
    ("ingest normalize (rest of to_events)", re.compile(r"services/ingest/normalize\.py")),
    ("opentelemetry (FastAPI's + ingest's spans, context)", re.compile(r"opentelemetry/|fastapi/telemetry/")),
    ("prometheus_client", re.compile(r"prometheus_client/")),
    ("structlog + logging", re.compile(r"structlog/|/logging/")),
    ("aiokafka send() (partitioner, accumulator)",
     re.compile(r"aiokafka/producer/(producer|message_accumulator)\.py|aiokafka/partitioner\.py|aiokafka/util\.py")),
    ("aiokafka sender + connection (requests, acks)", re.compile(r"aiokafka/")),
    ("shared.kafka publish (rest)", re.compile(r"shared/kafka\.py")),
    ("ingest route, auth (rest)", re.compile(r"services/ingest/(routes|auth)\.py")),
    ("ceiling handler (rest)", re.compile(r"bench/ceiling_app\.py")),
    ("fastapi/starlette routing, request, response", re.compile(r"(fastapi|starlette)/")),
    ("uvicorn + httptools (HTTP protocol, socket writes)", re.compile(r"uvicorn/")),
    ("event loop (uvloop/asyncio, incl. socket I/O)", re.compile(r"asyncio/|uvloop/")),
]

LINE = re.compile(r"^(.*) (\d+)$")
REPO = Path(__file__).resolve().parents[1]


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for raw in path.read_text().splitlines():
        m = LINE.match(raw)
        if m:
            stacks.append((m.group(1).split(";"), int(m.group(2))))
    return stacks


def component_of(frames: list[str]) -> str:
    """The innermost (closest to the leaf) frame that matches a component decides."""
    for frame in reversed(frames):
        for label, pattern in COMPONENTS:
            if pattern.search(frame):
                return label
    return "other"


def strip_line(frame: str) -> str:
    """Without the line number and the site-packages/venv prefix."""
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\(/\S*/(site-packages|lib/python3\.\d+)/", "(", frame).replace(f"({REPO}/", "(")


def summarise(path: Path, top: int = 25) -> str:
    stacks = load(path)
    total = sum(n for _, n in stacks) or 1
    by_component: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for frames, n in stacks:
        by_component[component_of(frames)] += n
        self_time[strip_line(frames[-1])] += n
    out = [f"{path.name}: {total} samples"]
    out.append("by component (innermost match, adds up to 100%):")
    for label, n in by_component.most_common():
        out.append(f"  {100 * n / total:5.1f}%  {label}")
    out.append(f"top {top} functions by self time:")
    for frame, n in self_time.most_common(top):
        out.append(f"  {100 * n / total:5.1f}%  {frame}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Summarise py-spy raw profiles.")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    for path in args.files:
        print(summarise(path, args.top))
        print()


if __name__ == "__main__":
    main()
