"""Checks that the incident service's alert path leaves exactly the database it left before a change:
`python -m bench.incidents_equivalence [--streams 30] [--reference-rev REV | --no-reference]`
(`make test` runs a short seeded run of it: tests/integration/incidents/test_equivalence.py).

Three folds of the same events are compared: the reference (`handle_alert` on each event in turn,
one transaction per batch, as the consumer did before, with services/incidents/service.py and
repository.py as they are in git at `--reference-rev`, by default the last commit before the
batched path), the current `handle_alert` the same way, and the current batched path
(`handle_alerts`, one call per batch, as the consumer does now).

For each of many random streams (new firings, exact duplicates, re-firings with other ids,
resolves, repeated resolves, orphan resolves, stale firings, the same instant written with another
UTC offset, several severities, grouping by group key, by labels and by fingerprint, with and
without a reopen window, the same occurrence several times in one batch), the three fold the
same events, cut into the same random batches, with the same deterministic clock, each into a
fresh database on a throw-away PostgreSQL. Then every table is compared row by row, ids included:
incidents, occurrences, processed event ids, the timeline (in id order) and the outbox (event ids,
keys, values and headers, in id order). Only columns that PostgreSQL fills with its own clock
(`created_at`, `processed_at`, and `updated_at` before any change) are left out.

Exit status 0 when every stream gave identical databases.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import types
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg

from services.incidents import repository, service
from services.incidents.app import MIGRATIONS
from services.incidents.config import IncidentsSettings
from shared.db import migrate
from shared.events import AlertEvent, deterministic_id
from shared.local.kafka_broker import free_port
from shared.local.postgres_server import LocalPostgres

REPO = Path(__file__).resolve().parents[1]
# The last commit whose services/incidents/service.py folded every alert with its own statements
# ("Incidents: detected_at is when Vigil received the alert ..."), before the batched path.
REFERENCE_REV = "99b9c546c1ed5ce3f9569eeb194652a4fcbd823d"


def reference_service(rev: str) -> types.ModuleType:
    """services/incidents/service.py and repository.py as of git revision `rev`, as modules of
    their own (the service bound to that repository), next to the current ones."""

    def source(path: str) -> str:
        return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, check=True, capture_output=True, text=True).stdout

    repo_module = types.ModuleType("_reference_incidents_repository")
    sys.modules[repo_module.__name__] = repo_module
    exec(compile(source("services/incidents/repository.py"), f"{rev}:repository.py", "exec"), repo_module.__dict__)
    text = source("services/incidents/service.py")
    line = "from services.incidents import repository as repo"
    if line not in text:
        raise SystemExit(f"{rev}:services/incidents/service.py does not import the repository as expected")
    text = text.replace(line, f"import {repo_module.__name__} as repo")
    module = types.ModuleType("_reference_incidents_service")
    sys.modules[module.__name__] = module
    exec(compile(text, f"{rev}:service.py", "exec"), module.__dict__)
    return module

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SEVERITIES = ["critical", "warning", "warning", "info", "error", "none", None]


def make_clock(start: datetime):
    state = {"t": start}

    def clock() -> datetime:
        state["t"] += timedelta(milliseconds=1)
        return state["t"]

    return clock


class Stream:
    """A random alert history with everything the alert path distinguishes."""

    def __init__(self, seed: int, n_alerts: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.alerts = []
        n_groups = max(1, n_alerts // rng.choice([2, 3, 5]))
        for i in range(n_alerts):
            group = rng.randrange(n_groups)
            labels = {"alertname": f"Alert{group % 4}", "service": f"svc{group}", "instance": f"host{i}:9100"}
            severity = rng.choice(SEVERITIES)
            if severity is not None:
                labels["severity"] = severity
            annotations = {"summary": f"summary {i}"} if rng.random() < 0.7 else {}
            self.alerts.append({
                "fingerprint": f"fp{seed}-{i:04d}",
                "labels": labels,
                "annotations": annotations,
                "group_key": None if rng.random() < 0.1 else f'{{}}:{{service="svc{group}"}}',
                "starts_at": None,
                "state": None,  # None | firing | resolved
            })
        self.sent: list[AlertEvent] = []
        self.t = T0

    def _event(self, alert: dict, status: str, starts_at: datetime, ends_at: datetime | None, *, other_id: str | None = None) -> AlertEvent:
        event_id = other_id or AlertEvent.id_for(
            source="alertmanager", fingerprint=alert["fingerprint"], status=status, starts_at=starts_at, ends_at=ends_at
        )
        if self.rng.random() < 0.1:  # the same instant written with another UTC offset
            starts_at = starts_at.astimezone(timezone(timedelta(hours=2)))
        return AlertEvent(
            event_id=event_id, occurred_at=self.t, source="alertmanager", fingerprint=alert["fingerprint"], status=status,
            labels=alert["labels"], annotations=alert["annotations"], starts_at=starts_at, ends_at=ends_at,
            generator_url="http://prometheus:9090/graph", group_key=alert["group_key"],
        )

    def next(self) -> AlertEvent:
        rng = self.rng
        self.t += timedelta(seconds=rng.randrange(1, 30))
        if self.sent and rng.random() < 0.2:
            event = rng.choice(self.sent[-50:])  # an exact duplicate (repeat_interval, HA pair, replay)
            return event
        alert = rng.choice(self.alerts)
        x = rng.random()
        fp = alert["fingerprint"]
        if alert["state"] is None or (alert["state"] == "resolved" and x < 0.5):
            if alert["state"] is None and x < 0.05:  # a resolve of an occurrence never seen firing
                starts = self.t - timedelta(minutes=5)
                event = self._event(alert, "resolved", starts, self.t)
                alert.update(starts_at=starts, state="resolved")
            else:  # a new occurrence fires
                starts = self.t - timedelta(seconds=rng.randrange(0, 120))
                alert.update(starts_at=starts, state="firing")
                event = self._event(alert, "firing", starts, None)
        elif alert["state"] == "firing":
            if x < 0.45:  # fires again with another event id
                event = self._event(alert, "firing", alert["starts_at"], None,
                                    other_id=deterministic_id("refire", fp, str(self.t)))
            else:
                alert["state"] = "resolved"
                alert["ends_at"] = self.t
                event = self._event(alert, "resolved", alert["starts_at"], self.t)
        else:  # resolved
            if x < 0.75:  # the resolve again, with another id
                event = self._event(alert, "resolved", alert["starts_at"], alert.get("ends_at") or self.t,
                                    other_id=deterministic_id("reresolve", fp, str(self.t)))
            else:  # a late firing of the resolved occurrence (stale)
                event = self._event(alert, "firing", alert["starts_at"], None,
                                    other_id=deterministic_id("stale", fp, str(self.t)))
        self.sent.append(event)
        return event


async def fresh_database(server_url: str, name: str) -> asyncpg.Connection:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(server_url.rsplit("/", 1)[0] + f"/{name}")
    await repository.init_connection(conn)
    await migrate(conn, schema=repository.SCHEMA, directory=MIGRATIONS)
    return conn


async def fold(conn: asyncpg.Connection, batches: list[list[AlertEvent]], rules, *, module, batched: bool) -> None:
    clock = make_clock(T0 + timedelta(days=1))
    for batch in batches:
        async with conn.transaction():
            if batched:
                await module.handle_alerts(conn, batch, rules=rules, clock=clock)
            else:
                for event in batch:
                    await module.handle_alert(conn, event, rules=rules, now=clock())


DUMPS = {
    "incident": "SELECT *, CASE WHEN version > 1 THEN updated_at END AS changed_at FROM incidents.incident ORDER BY id",
    "alert_occurrence": "SELECT * FROM incidents.alert_occurrence ORDER BY fingerprint, starts_at",
    "processed_event": "SELECT event_id FROM incidents.processed_event ORDER BY event_id",
    "timeline_entry": "SELECT * FROM incidents.timeline_entry ORDER BY id",
    "outbox": "SELECT id, event_id, topic, key, value, headers, published_at FROM incidents.outbox ORDER BY id",
}
IGNORED = {"created_at", "updated_at", "processed_at"}


async def dump(conn: asyncpg.Connection) -> dict[str, list[dict]]:
    out = {}
    for table, sql in DUMPS.items():
        out[table] = [{k: v for k, v in dict(r).items() if k not in IGNORED} for r in await conn.fetch(sql)]
    return out


def first_difference(a: dict, b: dict) -> str | None:
    for table in DUMPS:
        ra, rb = a[table], b[table]
        if len(ra) != len(rb):
            return f"{table}: {len(ra)} rows vs {len(rb)}"
        for i, (x, y) in enumerate(zip(ra, rb, strict=True)):
            if x != y:
                keys = [k for k in x if x[k] != y.get(k)]
                return f"{table} row {i}: {', '.join(f'{k}: {x[k]!r} vs {y[k]!r}' for k in keys)}"
    return None


async def check(server_url: str, streams: int, events: int, rev: str | None, *, first_seed: int = 0) -> int:
    """Fold `streams` random streams (seeds `first_seed`…) each way and compare; 0 when all were
    identical. With `rev` None the reference is the current one-by-one path (no git needed): the
    batched path must equal it."""
    folds = [("current one by one", service, False), ("current batched", service, True)]
    if rev is not None:
        folds.insert(0, ("reference", reference_service(rev), False))
    base = folds[0][0]
    failures = 0
    totals = {"events": 0, "incidents": 0, "timeline": 0, "outbox": 0}
    for seed in range(first_seed, first_seed + streams):
        rng = random.Random(10_000 + seed)
        stream = Stream(seed, n_alerts=rng.choice([5, 20, 60]))
        sequence = [stream.next() for _ in range(events)]
        batches, i = [], 0
        while i < len(sequence):
            size = rng.choice([1, 2, 5, 17, 60, 200])
            batches.append(sequence[i : i + size])
            i += size
        settings = {}
        if seed % 3 == 1:
            settings["incidents_group_by"] = "alertname,service"
        if seed % 2 == 1:
            settings["incidents_reopen_window_s"] = rng.choice([60, 3600])
        rules = IncidentsSettings(**settings).grouping()
        dumps = []
        for n, (_label, module, batched) in enumerate(folds):
            conn = await fresh_database(server_url, f"equiv_{n}")
            try:
                await fold(conn, batches, rules, module=module, batched=batched)
                dumps.append(await dump(conn))
            finally:
                await conn.close()
        a = dumps[0]
        diff = None
        for (label, _module, _batched), other in zip(folds[1:], dumps[1:], strict=True):
            found = first_difference(a, other)
            if found:
                diff = f"{label} vs {base}: {found}"
                break
        kinds = {}
        for row in a["timeline_entry"]:
            kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
        totals["events"] += len(sequence)
        totals["incidents"] += len(a["incident"])
        totals["timeline"] += len(a["timeline_entry"])
        totals["outbox"] += len(a["outbox"])
        status = "identical" if diff is None else f"DIFFERENT: {diff}"
        print(f"stream {seed:3d} ({len(sequence)} events, {len(batches)} batches, rules {settings or 'default'}): "
              f"{len(a['incident'])} incidents, timeline {kinds}, {len(a['outbox'])} outbox events: {status}", flush=True)
        failures += diff is not None
    print(f"\n{streams - failures}/{streams} streams identical to the {base} ({rev or 'this tree'}) ({totals['events']:,} events, {totals['incidents']:,} "
          f"incidents, {totals['timeline']:,} timeline entries, {totals['outbox']:,} outbox events)")
    return 1 if failures else 0


async def amain(args: argparse.Namespace) -> int:
    if args.database_server_url:
        return await check(args.database_server_url, args.streams, args.events, reference_of(args), first_seed=args.first_seed)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-equiv-"))
    workdir.chmod(0o755)
    server = LocalPostgres(workdir / "pg", port=free_port())
    try:
        await asyncio.to_thread(server.start)
        return await check(server.url, args.streams, args.events, reference_of(args), first_seed=args.first_seed)
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(workdir, ignore_errors=True)


def reference_of(args: argparse.Namespace) -> str | None:
    return None if args.no_reference else args.reference_rev


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.incidents_equivalence", description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=30)
    parser.add_argument("--events", type=int, default=600, help="events per stream")
    parser.add_argument("--reference-rev", default=REFERENCE_REV,
                        help="git revision whose services/incidents/{service,repository}.py are the reference "
                        "(default: the last one that folded alerts one by one)")
    parser.add_argument("--no-reference", action="store_true",
                        help="compare the batched path with the current one-by-one path only (no git history needed)")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first stream")
    parser.add_argument("--database-server-url", default=None,
                        help="use this PostgreSQL server (creates databases equiv_*) instead of a temporary one")
    return asyncio.run(amain(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
