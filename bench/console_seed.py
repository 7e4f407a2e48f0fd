"""The console benchmark's data: incidents, their timelines and alerts, written straight into the
incident service's schema with COPY (the service must have run its migrations), as a deployment
looks after two years: most incidents resolved, a few hundred open (mostly recent, some forgotten
for months), timelines of a few entries and, for a few incidents (flapping alerts, long outages),
hundreds. Rows are numbered in time order, as the service writes them, so one incident's timeline
lies between other incidents' rows on disk."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

SPAN_DAYS = 730
OPEN_SHARE = 0.003  # 300 open of 100,000
FORGOTTEN_SHARE = 0.1  # of the open ones: detected months ago and never resolved
LONG_SHARE = 0.005  # incidents whose timeline has hundreds of entries
DECLARED_SHARE = 0.1  # declared by a person: no alerts

ALERTNAMES = ["HighErrorRate", "HighLatency", "PodCrashLooping", "DiskFillingUp", "CertificateExpiring", "KafkaLagHigh",
              "ReplicaLagHigh", "NodeNotReady", "OOMKilled", "TargetDown", "QueueBacklog", "SLOBurnRateHigh",
              "ConnectionPoolExhausted", "DNSFailures", "HighCPU", "BackupFailed"]
SERVICES = ["checkout", "payments", "search", "catalog", "accounts", "ledger", "shipping", "pricing", "inventory",
            "gateway", "notifications", "reports", "auth", "media", "recommendations", "billing", "orders", "cart",
            "profile", "analytics"]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1", "ap-northeast-1"]
TEAMS = ["core", "storefront", "money", "platform", "data"]
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
CAUSES = ["a deploy of {svc} raised its connection count past the pool", "disk filled by unrotated logs on {svc}",
          "a slow query on {svc} after an index was dropped", "an expired TLS certificate between {svc} and its database",
          "a noisy neighbour on the node pool of {svc}", "retry storm from {svc} clients after a timeout change"]
RARE_CAUSE = "a kerberos ticket of {svc}'s service account expired"  # the text search's rare term
RARE_TERM, COMMON_TERM = "kerberos", "checkout"
MIDDLE_KINDS = ["alert_firing", "page", "delivery", "delivery", "acknowledged", "note", "status_changed", "note",
                "alert_resolved", "alert_firing", "page", "delivery"]

INCIDENT_COLUMNS = ["id", "version", "group_key", "title", "severity", "severity_source", "status", "commander",
                    "impact_text", "detected_by", "labels", "started_at", "detected_at", "acknowledged_at",
                    "acknowledged_by", "mitigated_at", "resolved_at", "root_cause", "fix_applied", "created_at", "updated_at"]
TIMELINE_COLUMNS = ["id", "incident_id", "at", "kind", "text", "actor", "dedup_key"]
ALERT_COLUMNS = ["fingerprint", "starts_at", "status", "incident_id", "severity", "alertname", "labels", "annotations",
                 "group_key", "source", "generator_url", "ends_at", "first_seen_at", "last_seen_at"]


@dataclass
class Seeded:
    """What was written, the incidents the benchmark reads, and how long each step took."""

    incidents: int
    timeline_rows: int
    alerts: int
    open: int
    typical: list[int]  # incidents with a timeline of the median length
    long: list[int]  # the incidents with the longest timelines
    timeline_length: dict[int, int]  # of the incidents above
    seconds: dict[str, float] = field(default_factory=dict)


def timeline_counts(rng: random.Random, incidents: int, rows: int) -> list[int]:
    """Entries per incident, `rows` in all, at least one each: most a handful, a few hundreds."""
    weights = [rng.uniform(40, 120) if rng.random() < LONG_SHARE else rng.uniform(0.5, 1.5) for _ in range(incidents)]
    total = sum(weights)
    counts = [max(1, int(rows * w / total)) for w in weights]
    short = rows - sum(counts)
    while short:
        i = rng.randrange(incidents)
        if short > 0:
            counts[i] += 1
            short -= 1
        elif counts[i] > 1:
            counts[i] -= 1
            short += 1
    return counts


def _timeline_text(kind: str, svc: str, rng: random.Random) -> tuple[str, str | None]:
    person = rng.choice(PEOPLE)
    return {
        "opened": (f"opened by alert on {svc}", "vigil"),
        "alert_firing": (f"{rng.choice(ALERTNAMES)} firing on {svc} ({rng.choice(REGIONS)})", "alertmanager"),
        "alert_resolved": (f"{rng.choice(ALERTNAMES)} resolved on {svc}", "alertmanager"),
        "page": (f"paged {person} (primary, not acknowledged within 5 minutes)", "escalator"),
        "delivery": (f"sms to {person} delivered (+44 7700 900{rng.randrange(100, 999)})", "notifier"),
        "acknowledged": (f"acknowledged by {person}", person),
        "note": (f"{person}: looking at the {svc} dashboards; error rate {rng.randrange(2, 40)}% since the last deploy",
                 person),
        "status_changed": ("investigating → mitigating", person),
        "resolved": (f"resolved by {person}", person),
    }[kind]


def plan(*, incidents: int, timeline_rows: int, seed: int, now: datetime) -> tuple[list, list, list, Seeded]:
    """The rows to copy (incidents, timeline entries in time order, alerts) and what they are."""
    rng = random.Random(seed)
    counts = timeline_counts(rng, incidents, timeline_rows)
    open_count = max(1, round(incidents * OPEN_SHARE))
    forgotten = max(1, round(open_count * FORGOTTEN_SHARE))
    open_ids = set(range(incidents - (open_count - forgotten) + 1, incidents + 1))
    open_ids |= set(rng.sample(range(1, incidents - open_count), forgotten)) if incidents > 2 * open_count else set()
    step = SPAN_DAYS * 86400 / incidents
    incident_rows, entries, alerts = [], [], []
    for iid in range(1, incidents + 1):
        svc, alertname, region = rng.choice(SERVICES), rng.choice(ALERTNAMES), rng.choice(REGIONS)
        detected = now - timedelta(seconds=(incidents - iid) * step + rng.uniform(0, step / 2) + 60)
        n = counts[iid - 1]
        is_open = iid in open_ids
        lasts = timedelta(minutes=rng.uniform(10, 360) * (1 + n / 20))
        resolved_at = None if is_open else detected + lasts
        ends = resolved_at or now - timedelta(seconds=1)
        acked = rng.random() < 0.7 or not is_open
        ack_at = detected + min(timedelta(minutes=rng.uniform(1, 12)), (ends - detected) / 2) if acked else None
        person = rng.choice(PEOPLE)
        declared = rng.random() < DECLARED_SHARE
        status = ("investigating" if rng.random() < 0.66 else "mitigating") if is_open else "resolved"
        rare = rng.random() < 0.0005 or iid == incidents // 3  # ~50 of 100,000, at least one
        cause = (RARE_CAUSE if rare else rng.choice(CAUSES)).format(svc=svc) if resolved_at else None
        labels = {"service": svc, "region": region, "team": rng.choice(TEAMS)}
        severity = rng.choices([1, 2, 3, 4], weights=[2, 10, 38, 50])[0]
        incident_rows.append((
            iid, 1 + n // 2, f"{alertname}/{svc}/{region}/{iid}", f"{alertname}: {svc} in {region}", severity,
            "person" if declared else "alerts", status, person if severity <= 2 else None,
            f"{svc} answers slowly for some users in {region}" if rng.random() < 0.1 else None,
            "user_report" if declared else "alert", json.dumps(labels), detected - timedelta(minutes=2), detected, ack_at,
            person if acked else None, ack_at if status != "investigating" else None, resolved_at, cause,
            f"rolled back {svc}" if cause else None, detected, resolved_at or ack_at or detected,
        ))
        offsets = sorted(rng.random() for _ in range(n - 1))
        span = (ends - detected).total_seconds()
        kinds = ["opened"] + [MIDDLE_KINDS[k % len(MIDDLE_KINDS)] for k in range(n - 1)]
        if resolved_at and n > 1:
            kinds[-1] = "resolved"
        for k, kind in enumerate(kinds):
            at = detected if k == 0 else detected + timedelta(seconds=span * offsets[k - 1])
            text, actor = _timeline_text(kind, svc, rng)
            entries.append((at, iid, kind, text, actor))
        if not declared:
            for a in range(1 + (n > 100) * 9 + rng.randrange(3)):
                starts = detected - timedelta(seconds=30 * a + 60)
                alert_labels = {"alertname": alertname, "severity": ["critical", "critical", "warning", "info"][severity - 1],
                                "instance": f"{svc}-{a}.{region}.internal:9090", **labels}
                annotations = {"summary": f"{alertname} on {svc}", "description": f"{svc} in {region}: {alertname}",
                               "runbook_url": f"https://runbooks.example.com/{alertname.lower()}"}
                alerts.append((
                    f"{iid:08x}{a:08x}", starts, "firing" if is_open else "resolved", iid, severity, alertname,
                    json.dumps(alert_labels), json.dumps(annotations), f"{alertname}/{svc}/{region}/{iid}", "bench",
                    f"https://prometheus.example.com/graph?g0.expr=up%7Bjob%3D%22{svc}%22%7D", resolved_at, starts,
                    resolved_at or now,
                ))
    entries.sort(key=lambda e: e[0])
    timeline = [(n, iid, at, kind, text, actor, f"{kind}:{n}" if kind in ("page", "delivery") else None)
                for n, (at, iid, kind, text, actor) in enumerate(entries, start=1)]
    by_length = sorted(range(1, incidents + 1), key=lambda i: counts[i - 1])
    median = counts[by_length[len(by_length) // 2] - 1]
    ties = [i for i in by_length if counts[i - 1] == median]
    typical = ties[:: max(1, len(ties) // 20)][:20]  # spread over the two years
    long = by_length[-min(20, max(1, round(incidents * LONG_SHARE))):]
    seeded = Seeded(incidents=incidents, timeline_rows=len(timeline), alerts=len(alerts), open=len(open_ids),
                    typical=typical, long=long, timeline_length={i: counts[i - 1] for i in typical + long})
    return incident_rows, timeline, alerts, seeded


async def seed(database_url: str, *, incidents: int, timeline_rows: int, seed: int = 19) -> Seeded:
    """Write the plan with COPY into the migrated `incidents` schema, move its sequences past the
    ids used, and ANALYZE (what autovacuum does after a bulk load)."""
    began = time.monotonic()
    incident_rows, timeline, alerts, seeded = plan(incidents=incidents, timeline_rows=timeline_rows, seed=seed,
                                                   now=datetime.now(UTC))
    seeded.seconds["generate"] = round(time.monotonic() - began, 2)
    conn = await asyncpg.connect(database_url)
    try:
        # The rows refer to each other correctly by construction: skip the per-row foreign key checks.
        await conn.execute("SET session_replication_role = replica")
        for name, table, rows, columns in (("copy_incidents", "incident", incident_rows, INCIDENT_COLUMNS),
                                           ("copy_timeline", "timeline_entry", timeline, TIMELINE_COLUMNS),
                                           ("copy_alerts", "alert_occurrence", alerts, ALERT_COLUMNS)):
            began = time.monotonic()
            await conn.copy_records_to_table(table, records=rows, columns=columns, schema_name="incidents")
            seeded.seconds[name] = round(time.monotonic() - began, 2)
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("SELECT setval('incidents.incident_id_seq', $1)", incidents)
        await conn.execute("SELECT setval('incidents.timeline_entry_id_seq', $1)", len(timeline))
        began = time.monotonic()
        await conn.execute("VACUUM ANALYZE incidents.incident, incidents.timeline_entry, incidents.alert_occurrence")
        await conn.execute("CHECKPOINT")
        seeded.seconds["vacuum_analyze_checkpoint"] = round(time.monotonic() - began, 2)
    finally:
        await conn.close()
    return seeded
