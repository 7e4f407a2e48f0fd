"""The alert events the incident-service benchmark puts on `vigil.alerts.v1`.

Each event is an `AlertEvent` exactly as ingest would make it from an Alertmanager notification
shaped like fixture 02-group5-firing.json (16 labels, 4 annotations, a group key, group labels,
receiver and external URL), encoded with `shared.events.encode` and ingest's CloudEvents source.

The stream is a sequence of *notifications* of `group_size` alerts (Alertmanager sends a group's
alerts together), of three kinds:

- `new`: the first notification of a new group: `group_size` new firing occurrences (new
  fingerprint + startsAt). The first one the service folds opens the group's incident, the rest
  attach to it. In one group in five the critical alert is not the first, so attaching it raises
  the incident's severity (a `severity_changed` event); in the others the first alert is critical.
- `dup`: an earlier group's notification sent again unchanged: the same event ids (Alertmanager's
  repeat_interval, the second Alertmanager of an HA pair, a Kafka replay). The service drops them
  by event id.
- `refire`: an earlier group's alerts firing again with the same fingerprint + startsAt but other
  event ids (a redelivery whose id differs, e.g. from another sender or ingest version). The
  service sees a known occurrence and only touches it.

Which earlier group a repeat is of is random (seeded), so repeats land on old and recent groups.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.events import AlertEvent, deterministic_id, encode

SOURCE = "alertmanager"
CE_SOURCE = "/vigil/ingest"  # what ingest writes: these events look like ingest's
ALERTNAMES = ("DiskAlmostFull", "HighErrorRate", "PodCrashLooping", "LatencyHigh", "NodeNotReady")
BASE_STARTS_AT = datetime(2026, 11, 26, 14, 14, 34, 307000, tzinfo=UTC)


def fingerprint_of(labels: dict[str, str]) -> str:
    canonical = "\x1f".join(f"{k}\x1e{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Mix:
    """Shares of the stream's events by notification kind (they add up to 1)."""

    new: float = 0.6
    dup: float = 0.25
    refire: float = 0.15

    def __post_init__(self) -> None:
        if min(self.new, self.dup, self.refire) < 0 or abs(self.new + self.dup + self.refire - 1) > 1e-9:
            raise ValueError("the shares must be >= 0 and add up to 1")
        if self.new <= 0:
            raise ValueError("the stream needs new groups")

    @classmethod
    def parse(cls, text: str) -> Mix:
        """`new,dup,refire`, e.g. `0.6,0.25,0.15`."""
        new, dup, refire = (float(x) for x in text.split(","))
        return cls(new, dup, refire)


class AlertStream:
    """Builds the notifications of one run. `run` makes every group key and fingerprint unique to
    the run, so streams of several runs can share a topic and a database."""

    def __init__(self, run: str, *, group_size: int = 10, mix: Mix = Mix(), seed: int = 1) -> None:
        if group_size < 1:
            raise ValueError("group_size must be >= 1")
        self.run = run
        self.group_size = group_size
        self.mix = mix
        self.rng = random.Random(seed)
        self.groups: list[list[AlertEvent]] = []  # the alerts of every group so far
        self.refires = 0
        self.counts = {"new": 0, "dup": 0, "refire": 0}
        self.escalating_groups = 0

    # ---- the alerts -------------------------------------------------------------------------

    def _alert(self, group: int, member: int, *, escalates: bool, received_at: datetime) -> AlertEvent:
        alertname = ALERTNAMES[group % len(ALERTNAMES)]
        service = f"svc-{self.run}-{group}"
        n = group * self.group_size + member
        instance = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}:9100"
        critical = member == (self.group_size // 2 if escalates else 0)
        labels = {
            "alertname": alertname,
            "az": f"eu-west-1{'abc'[member % 3]}",
            "cluster": "prod-eu-west-1",
            "container": "storage",
            "env": "production",
            "instance": instance,
            "job": "node-exporter",
            "mountpoint": "/var/lib/data",
            "namespace": "payments",
            "pod": f"{service}-7d9f8b6c5-{member:05d}",
            "prometheus": "monitoring/k8s",
            "region": "eu-west-1",
            "service": service,
            "severity": "critical" if critical else "warning",
            "team": "sre",
            "tier": "backend",
        }
        annotations = {
            "dashboard": f"https://grafana.example.com/d/abc123?var-instance={instance}",
            "description": 'Value is 97.3% (threshold 90%) for more than 5 minutes. Ünïcødé ✓ "quoted"',
            "runbook_url": f"https://runbooks.example.com/{alertname.lower()}",
            "summary": f"{alertname} on {instance}",
        }
        starts_at = BASE_STARTS_AT + timedelta(seconds=group)
        fingerprint = fingerprint_of(labels)
        return AlertEvent(
            event_id=AlertEvent.id_for(source=SOURCE, fingerprint=fingerprint, status="firing", starts_at=starts_at, ends_at=None),
            occurred_at=received_at,
            source=SOURCE,
            fingerprint=fingerprint,
            status="firing",
            labels=labels,
            annotations=annotations,
            starts_at=starts_at,
            generator_url="http://prometheus.example.com:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            group_key=f'{{}}:{{alertname="{alertname}", service="{service}"}}',
            group_labels={"alertname": alertname, "service": service},
            receiver="vigil",
            external_url="http://alertmanager.example.com:9093",
        )

    # ---- the notifications ------------------------------------------------------------------

    def next_kind(self) -> str:
        if not self.groups:
            return "new"
        x = self.rng.random()
        if x < self.mix.new:
            return "new"
        return "dup" if x < self.mix.new + self.mix.dup else "refire"

    def notification(self, kind: str, received_at: datetime) -> tuple[str, list[AlertEvent]]:
        """The next notification's events (`kind` may be given as "auto")."""
        if kind == "auto":
            kind = self.next_kind()
        if kind == "new":
            group = len(self.groups)
            escalates = self.rng.random() < 0.2
            self.escalating_groups += escalates
            events = [
                self._alert(group, m, escalates=escalates, received_at=received_at) for m in range(self.group_size)
            ]
            self.groups.append(events)
        else:
            earlier = self.groups[self.rng.randrange(len(self.groups))]
            if kind == "dup":
                events = list(earlier)
            else:
                events = []
                for e in earlier:
                    self.refires += 1
                    events.append(e.model_copy(update={
                        "event_id": deterministic_id("bench-refire", self.run, str(self.refires), e.fingerprint),
                        "occurred_at": received_at,
                    }))
        self.counts[kind] += len(events)
        return kind, events

    def notifications(self, total_events: int) -> Iterator[tuple[str, list[AlertEvent]]]:
        """Notifications until `total_events` events: a fixed number of each kind (the mix's
        shares, rounded to whole notifications), in a seeded random order in which every repeat
        follows its group's first notification."""
        count = max(1, total_events // self.group_size)
        new = max(1, round(count * self.mix.new))
        dup = round(count * self.mix.dup)
        kinds = ["new"] * new + ["dup"] * dup + ["refire"] * max(0, count - new - dup)
        self.rng.shuffle(kinds)
        kinds.remove("new")
        kinds.insert(0, "new")  # a repeat needs an earlier group
        received_at = datetime.now(UTC)
        for i, kind in enumerate(kinds):
            if i % 50 == 0:
                received_at = datetime.now(UTC)
            yield self.notification(kind, received_at)

    # ---- what the service should end up with ----------------------------------------------

    def expected(self) -> dict:
        return {
            "events": sum(self.counts.values()),
            "events_by_kind": dict(self.counts),
            "groups": len(self.groups),
            "escalating_groups": self.escalating_groups,
            "occurrences": len(self.groups) * self.group_size,
            "distinct_event_ids": len(self.groups) * self.group_size + self.refires,
        }


def encoded(event: AlertEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return encode(event, ce_source=CE_SOURCE)
