"""Summarise a py-spy `--format raw` profile of the incident service (`bench.incidents_load --profile`).

`python -m bench.incidents_profile bench/results/profile-incidents-throughput-*.txt [--top 25]`

Like bench/profile_summary.py (whose loading and frame formatting it reuses), with the incident
service's components: for each sample the innermost frame that matches a component decides, so
the components add up to 100%. A second table splits the samples by the service-level operation
they are under (outermost match), e.g. all the asyncpg work done for the outbox.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from bench.profile_summary import load, strip_line

COMPONENTS: list[tuple[str, re.Pattern[str]]] = [
    ("pydantic: AlertEvent decode (model_validate_json)", re.compile(r"model_validate_json \(.*pydantic/main\.py")),
    ("pydantic: IncidentEvent(...) validation", re.compile(r"BaseModel\.__init__ \(.*pydantic/main\.py")),
    ("events.encode (event JSON, CE headers)", re.compile(r"^encode \(.*shared/events\.py")),
    ("event ids (uuid5)", re.compile(r"(deterministic_id|id_for) \(.*shared/events\.py")),
    ("jsonb codec (json.dumps/loads)", re.compile(r"json/(encoder|decoder|__init__)\.py")),
    ("opentelemetry (traceparent lookup)", re.compile(r"opentelemetry/")),
    ("prometheus_client", re.compile(r"prometheus_client/")),
    ("structlog + logging", re.compile(r"structlog/|/logging/")),
    ("asyncpg: protocol, statements, codecs, pool", re.compile(r"asyncpg/")),
    ("aiokafka consumer (fetch, record decoding, commit)", re.compile(r"aiokafka/(consumer|record)/|aiokafka/protocol/")),
    ("aiokafka producer + client (relay's produce)", re.compile(r"aiokafka/")),
    ("incidents: service/repository/alerts/lifecycle (rest)", re.compile(r"services/incidents/")),
    ("shared.outbox (rest)", re.compile(r"shared/outbox\.py")),
    ("shared.kafka ConsumerLoop (rest)", re.compile(r"shared/kafka\.py")),
    ("event loop (uvloop/asyncio, incl. socket I/O)", re.compile(r"asyncio/|uvloop/")),
]

# Outermost match: which piece of the service's work a sample belongs to.
OPERATIONS: list[tuple[str, re.Pattern[str]]] = [
    ("outbox relay (OutboxRelay.run)", re.compile(r"^(run|_lead_and_relay|relay_once|_housekeeping) \(.*shared/outbox\.py")),
    ("outbox enqueue (encode + INSERT + NOTIFY)", re.compile(r"^enqueue \(.*shared/outbox\.py")),
    ("service.publish (IncidentEvent building, rest)", re.compile(r"^publish \(.*services/incidents/service\.py")),
    ("batch: mark_processed_many", re.compile(r"^mark_processed_many \(")),
    ("batch: read ahead (occurrences, open incidents)", re.compile(r"^(\w+\.)?read_ahead \(")),
    ("batch: flush (occurrences, starts, timeline)", re.compile(r"^(\w+\.)?flush \(.*services/incidents/service\.py")),
    ("repo.mark_processed", re.compile(r"^mark_processed \(")),
    ("repo.get_occurrence", re.compile(r"^get_occurrence \(")),
    ("repo.touch_occurrence", re.compile(r"^touch_occurrence \(")),
    ("repo.insert_occurrence", re.compile(r"^insert_occurrence \(")),
    ("repo.open_incident_of_group", re.compile(r"^open_incident_of_group \(")),
    ("repo.insert_incident", re.compile(r"^insert_incident \(")),
    ("repo.add_timeline", re.compile(r"^add_timeline \(")),
    ("repo.note_alert_start", re.compile(r"^note_alert_start \(")),
    ("repo.get_incident_row", re.compile(r"^get_incident_row \(")),
    ("repo.save_lifecycle", re.compile(r"^save_lifecycle \(")),
    ("alert folding (rest)", re.compile(r"^(handle_alerts?|_fold|_attach_new_firing|open_incident|apply) \(")),
    ("transaction begin/commit, pool acquire", re.compile(r"asyncpg/(transaction|pool)\.py")),
    ("batch decode (ConsumerLoop._process_batch)", re.compile(r"^_process_batch \(.*shared/kafka\.py")),
    ("consumer getmany / commit", re.compile(r"^(getmany|_commit|commit) \(")),
]


def first_match(frames: list[str], patterns, *, innermost: bool) -> str:
    for frame in reversed(frames) if innermost else frames:
        for label, pattern in patterns:
            if pattern.search(frame):
                return label
    return "other"


def operation_of(frames: list[str]) -> str:
    """The innermost listed operation (repo.* calls are inside handle_alert, which is inside the batch)."""
    return first_match(frames, OPERATIONS, innermost=True)


def summarise(path: Path, top: int = 25) -> str:
    stacks = load(path)
    total = sum(n for _, n in stacks) or 1
    components: Counter[str] = Counter()
    operations: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for frames, n in stacks:
        components[first_match(frames, COMPONENTS, innermost=True)] += n
        operations[operation_of(frames)] += n
        self_time[strip_line(frames[-1])] += n
    out = [f"{path.name}: {total} samples"]
    out.append("by component (innermost match, adds up to 100%):")
    out += [f"  {100 * n / total:5.1f}%  {label}" for label, n in components.most_common()]
    out.append("by operation (innermost listed operation, adds up to 100%):")
    out += [f"  {100 * n / total:5.1f}%  {label}" for label, n in operations.most_common()]
    out.append(f"top {top} functions by self time:")
    out += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in self_time.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Summarise py-spy raw profiles of the incident service.")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    for path in args.files:
        print(summarise(path, args.top))
        print()


if __name__ == "__main__":
    main()
