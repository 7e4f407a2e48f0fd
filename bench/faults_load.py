"""What the fault benchmark sends and what it watches come out.

- Alerts: Alertmanager v4 notifications of `per_notification` critical alerts each (the shape of
  fixture 02, bench/payloads.py), every notification its own group (`service="storage-<request
  id>"`, Alertmanager's groupKey) and every alert its own fingerprint (`<request id>-<n>`), posted
  open loop to ingest at a fixed rate (bench.loadgen.open_loop). A request id says which trial sent
  it, so each trial's outcome is found in the database and on the topics by its tag alone.
- Metrics: `MetricsEvent`s for the SLO service, produced to Kafka as an exporter would (acks=all),
  each with its own id; what the broker acknowledged is what must be folded.
- Tails: the incidents and pages topics read from the start by this process, every record kept
  with the broker's append time (the stack creates those topics with LogAppendTime).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from bench.loadgen import WEBHOOK_PATH, OpenLoopResult, build_request, open_loop
from bench.payloads import batch_payload
from shared.events import (
    LatencyBucket,
    MetricsEvent,
    Topic,
    Utilisation,
    deterministic_id,
    encode,
)

PLACEHOLDER = "__REQ__"


def notification_template(per_notification: int, starts_at: datetime) -> bytes:
    """A fixture-02-shaped notification whose group and fingerprints contain PLACEHOLDER: every alert
    critical and firing (one alert rule, one severity), its own fingerprint, one group per request."""
    envelope = json.loads(batch_payload(0, size=per_notification))
    starts = starts_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{starts_at.microsecond // 1000:03d}Z"
    service = f"storage-{PLACEHOLDER}"
    for i, alert in enumerate(envelope["alerts"]):
        alert["status"], alert["startsAt"], alert["endsAt"] = "firing", starts, "0001-01-01T00:00:00Z"
        alert["labels"].update(severity="critical", service=service)
        alert["fingerprint"] = f"{PLACEHOLDER}-{i:02d}"
    envelope.update(status="firing", groupLabels={"alertname": "DiskAlmostFull", "service": service},
                    groupKey=f'{{}}:{{alertname="DiskAlmostFull", service="{service}"}}')
    envelope["commonLabels"].update(severity="critical", service=service)
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def request_id(tag: str, index: int) -> str:
    return f"{tag}-{index:06d}"


def group_key(request: str) -> str:
    """The incident group of a request's alerts, as the incident service writes it (source:groupKey)."""
    return f'alertmanager:{{}}:{{alertname="DiskAlmostFull", service="storage-{request}"}}'


def fingerprints(request: str, per_notification: int) -> list[str]:
    return [f"{request}-{i:02d}" for i in range(per_notification)]


@dataclass
class LoadWindow:
    """Until when a trial's loads send (epoch seconds). A trial moves the end on after its fault, so
    that some load always follows the recovery however long the fault took."""

    end: float
    longest_s: float = 300.0  # how far past the planned end it may be moved
    held: bool = False  # open whatever the time: a fault is in progress

    def open(self) -> bool:
        return self.held or time.time() < self.end

    def extend(self, until: float) -> None:
        self.end = max(self.end, until)


class Notifications(Sequence[bytes]):
    """The encoded requests of one load, made as they are sent (a long storm would not fit in memory),
    until the window closes: `len` is only the most there can be, `made` how many were."""

    def __init__(self, *, port: int, token: str, tag: str, count: int, template: bytes, window: LoadWindow) -> None:
        self.port, self.token, self.tag, self.count, self.template = port, token, tag, count, template
        self.window, self.made = window, 0

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> bytes:  # type: ignore[override]
        if not 0 <= index < self.count or not self.window.open():
            raise IndexError(index)  # ends open_loop's iteration
        self.made = max(self.made, index + 1)
        body = self.template.replace(PLACEHOLDER.encode(), request_id(self.tag, index).encode())
        return build_request(self.port, WEBHOOK_PATH, body, self.token)


@dataclass
class AlertsSent:
    tag: str
    per_notification: int
    rate: float  # alerts per second asked for
    result: OpenLoopResult

    @property
    def requests(self) -> int:
        return len(self.result.status)

    def accepted(self) -> list[str]:
        """The request ids ingest answered 2xx: every alert of these must end in its incident."""
        return [request_id(self.tag, i) for i, s in enumerate(self.result.status) if s is not None and 200 <= s < 300]

    def failed(self) -> list[str]:
        return [request_id(self.tag, i) for i, s in enumerate(self.result.status) if s is None or not 200 <= s < 300]

    def figures(self) -> dict:
        statuses: dict[str, int] = {}
        for s in self.result.status:
            key = str(s) if s is not None else "no answer"
            statuses[key] = statuses.get(key, 0) + 1
        accepted = len(self.accepted())
        lag = sorted(self.result.send_lag_s)
        return {
            "requests": self.requests, "alerts_per_request": self.per_notification,
            "alerts_attempted": self.requests * self.per_notification, "alerts_accepted": accepted * self.per_notification,
            "requests_accepted": accepted, "statuses": statuses, "errors": dict(self.result.errors),
            "offered_alerts_per_s": self.rate,
            "accepted_alerts_per_s": round(accepted * self.per_notification / self.result.elapsed_s, 1) if self.result.elapsed_s else None,
            "send_lag_max_s": round(lag[-1], 3) if lag else None,
            "loadgen_cpu_s": round(self.result.cpu_s, 2),
        }

    def accepted_times(self) -> list[float]:
        return [t for s, t in zip(self.result.status, self.result.done_at, strict=True)
                if t is not None and s is not None and 200 <= s < 300]


async def send_alerts(*, port: int, token: str, tag: str, rate: float, per_notification: int, window: LoadWindow,
                      request_timeout_s: float = 15.0) -> AlertsSent:
    """Notifications at `rate` alerts/s while the window is open."""
    most = max(1, round(rate * (window.end - time.time() + window.longest_s) / per_notification))
    requests = Notifications(port=port, token=token, tag=tag, count=most, window=window,
                             template=notification_template(per_notification, datetime.now(UTC)))
    result = await open_loop(port=port, requests=requests, rate=rate / per_notification, max_connections=512,
                             request_timeout_s=request_timeout_s)
    for name in ("status", "done_at", "latency_s"):  # the requests never made are no requests
        setattr(result, name, getattr(result, name)[:requests.made])
    return AlertsSent(tag, per_notification, rate, result)


@dataclass
class MetricsSent:
    """Every metrics event sent: id -> (service, requests, errors); `acked` those the broker acknowledged."""

    tag: str
    events: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    refused: dict[str, int] = field(default_factory=dict)  # sends that timed out or failed at once, by error

    def services(self) -> list[str]:
        return sorted({service for service, _r, _e in self.events.values()})


async def send_metrics(*, bootstrap: str, prefix: str, tag: str, rate: float, window: LoadWindow, services: int = 4,
                       ack_timeout_s: float = 30.0) -> MetricsSent:
    """`rate` events/s while the window is open, over `services` services named after `tag`, each
    event the interval of the minute it is sent in (several per service and minute, each its own id)."""
    sent = MetricsSent(tag)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                                request_timeout_ms=10_000)
    await producer.start()
    pending: dict[str, asyncio.Future] = {}
    buckets = (0.1, 0.5, float("inf"))
    try:
        started, i = time.monotonic(), -1
        while window.open():
            i += 1
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            service, requests, errors = f"{tag}-s{i % services}", 1000 + i % 7, i % 2
            minute = datetime.now(UTC).replace(second=0, microsecond=0)
            event = MetricsEvent(
                event_id=deterministic_id("faults", tag, str(i)), occurred_at=datetime.now(UTC), source="faults",
                service=service, interval_start=minute, interval_s=60, requests=requests, errors=errors,
                latency_buckets=[LatencyBucket(le=le, count=int(requests * f)) for le, f in zip(buckets, (0.9, 0.99, 1.0))],
                utilisation=Utilisation(cpu=0.4, memory=0.5),
            )
            sent.events[event.event_id] = (service, requests, errors)
            key, value, headers = encode(event, ce_source="/bench/faults")
            try:  # send() waits for metadata and buffer room: while the broker is gone this times out
                pending[event.event_id] = await asyncio.wait_for(
                    producer.send(prefix + Topic.METRICS, value, key=key, headers=headers), 1.0)
            except Exception as exc:  # noqa: BLE001 - not acknowledged, which is what is counted
                sent.refused[type(exc).__name__] = sent.refused.get(type(exc).__name__, 0) + 1
        if pending:
            await asyncio.wait(list(pending.values()), timeout=ack_timeout_s)
        sent.acked = {i for i, f in pending.items() if f.done() and not f.cancelled() and f.exception() is None}
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 15)
    return sent


@dataclass
class Tail:
    """A topic read from its start for the whole run: (append time in seconds, parsed value) per record."""

    bootstrap: str
    topic: str
    partitions: int
    parse: object  # Callable[[dict], tuple] applied to the JSON value
    records: list[tuple[float, tuple]] = field(default_factory=list)
    _task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name=f"tail-{self.topic}")

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100,
                                    request_timeout_ms=10_000)
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, 0)
            while True:
                try:
                    batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                except Exception:  # noqa: BLE001 - the broker may be gone for a while: read on when it is back
                    await asyncio.sleep(0.5)
                    continue
                for records in batch.values():
                    for r in records:
                        self.records.append((r.timestamp / 1000, self.parse(json.loads(r.value))))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def incident_record(value: dict) -> tuple:
    """(incident id, kind, event id)"""
    return value["incident_id"], value["kind"], value["event_id"]


def page_record(value: dict) -> tuple:
    """(incident id, page id, role, channel, step)"""
    return value["incident_id"], value["page_id"], value["role"], value["channel"], value["step"]
