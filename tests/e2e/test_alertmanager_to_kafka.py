"""A real Alertmanager notifies a real ingest, which puts one event per alert on a real Kafka.

Alerts are posted to Alertmanager's v2 API; Alertmanager groups them (group_wait/group_interval
1 s) and delivers webhook notifications with a bearer token; the test reads `vigil.alerts.v1`
(under the module's topic prefix, which ingest writes to) from a cursor taken before posting. Alertmanager may deliver an alert more than once (a group can
be flushed in pieces, each notification being a snapshot of the whole group): the events' ids make
such duplicates collapse, and that is what is asserted.

Alerts are posted with a `startsAt` in the past: Alertmanager then flushes a new group at once
instead of after group_wait, which keeps the test fast and, for the group of 200, typically makes
it notify a first part of the group and then the whole group again (real duplicates).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.ingest.app import CE_SOURCE
from services.ingest.normalize import SOURCE
from shared.events import CE_SPECVERSION, CONTENT_TYPE, AlertEvent, Topic, decode, header
from tests.e2e.alertmanager import RECEIVER, WRONG_TOKEN_LABEL, postable_alert, rfc3339
from tests.support import TopicCursor

pytestmark = pytest.mark.e2e

GROUP_SIZE = 200
DELIVERY_TIMEOUT_S = 20.0  # group_wait 1 s + group_interval 1 s, with room for a slow CI machine


def now_ms() -> datetime:
    """Now, at the millisecond precision the alerts are posted with."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_run() -> str:
    return uuid.uuid4().hex[:12]


class Delivered:
    """One record read from `vigil.alerts.v1`, decoded."""

    def __init__(self, record) -> None:
        self.record = record
        self.event = decode(AlertEvent, record.value)
        self.headers = list(record.headers or ())


async def collect(
    cursor: TopicCursor, *, run: str, done: Callable[[list[Delivered]], bool], expected: int,
    timeout_s: float = DELIVERY_TIMEOUT_S,
) -> list[Delivered]:
    """Events of this `run` after `cursor`, read until `done(events)` or `timeout_s`. Reads again
    (from the cursor) while the condition is unmet, so duplicates or other producers' records on
    the topic cannot end the wait early."""
    deadline = time.monotonic() + timeout_s
    records: list = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        records = await cursor.read(expected=max(expected, len(records) + 1), timeout_s=remaining)
        mine = [d for d in map(Delivered, records) if d.event.labels.get("run") == run]
        if done(mine):
            return mine
    return [d for d in map(Delivered, records) if d.event.labels.get("run") == run]


def by_fingerprint(delivered: list[Delivered], status: str) -> dict[str, dict[str, Delivered]]:
    """fingerprint -> {event_id: one delivery of it} for the events with `status`."""
    out: dict[str, dict[str, Delivered]] = defaultdict(dict)
    for d in delivered:
        if d.event.status == status:
            out[d.event.fingerprint].setdefault(d.event.event_id, d)
    return out


def assert_envelope(d: Delivered) -> None:
    """Key, CloudEvents headers and the fields every alert event from Alertmanager carries."""
    event = d.event
    assert d.record.key == event.fingerprint.encode()
    assert header(d.headers, "ce_id") == event.event_id
    assert header(d.headers, "ce_type") == AlertEvent.event_type
    assert header(d.headers, "ce_source") == CE_SOURCE
    assert header(d.headers, "ce_specversion") == CE_SPECVERSION
    assert header(d.headers, "content-type") == CONTENT_TYPE
    assert header(d.headers, "ce_time")
    assert event.source == SOURCE == "alertmanager"
    assert event.receiver == RECEIVER
    assert event.group_key and event.labels["alertname"] in event.group_key
    assert event.group_labels == {"alertname": event.labels["alertname"]}
    assert event.truncated_alerts == 0
    assert event.external_url and event.external_url.startswith("http://127.0.0.1:")
    assert event.event_id == AlertEvent.id_for(
        source=event.source, fingerprint=event.fingerprint, status=event.status,
        starts_at=event.starts_at, ends_at=event.ends_at,
    )


async def fingerprints_in_alertmanager(am, http: httpx.AsyncClient, run: str) -> dict[str, dict[str, str]]:
    """fingerprint -> labels, as Alertmanager itself identifies the alerts of `run`."""
    return {a["fingerprint"]: a["labels"] for a in await am.alerts(http, run=run)}


async def rejected_unauthorized(http: httpx.AsyncClient, ingest_url: str) -> float:
    response = await http.get(f"{ingest_url}/metrics")
    response.raise_for_status()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "vigil_ingest_rejected_total" and sample.labels.get("reason") == "unauthorized":
                return sample.value
    return 0.0


async def test_single_alert_arrives_firing(kafka_broker, topic_prefix, ingest, alertmanager) -> None:
    run = new_run()
    starts_at = now_ms() - timedelta(seconds=30)
    labels = {"alertname": "VigilE2ESingle", "run": run, "severity": "critical", "instance": "db-1:9187"}
    annotations = {"summary": "db-1 is down", "description": "Ünïcødé ✓ \"quoted\""}
    generator_url = "http://prometheus.example.com:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"

    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
    async with httpx.AsyncClient(timeout=10) as http:
        await alertmanager.post_alerts(
            http, [postable_alert(labels, starts_at=starts_at, annotations=annotations, generator_url=generator_url)]
        )
        known = await fingerprints_in_alertmanager(alertmanager, http, run)
    assert len(known) == 1
    (fingerprint,) = known

    delivered = await collect(cursor, run=run, expected=1, done=lambda ds: any(d.event.status == "firing" for d in ds))
    firing = by_fingerprint(delivered, "firing")
    assert set(firing) == {fingerprint}, f"expected the firing event of {fingerprint}, got {len(delivered)} events"
    assert len(firing[fingerprint]) == 1, "one alert state must have one event id"
    assert not by_fingerprint(delivered, "resolved")
    (d,) = firing[fingerprint].values()
    assert_envelope(d)
    event = d.event
    assert event.labels == labels
    assert event.annotations == annotations
    assert event.generator_url == generator_url
    assert event.starts_at == starts_at
    assert event.ends_at is None  # Alertmanager sends Go's zero time while an alert fires


async def test_group_of_200_fires_then_resolves(kafka_broker, topic_prefix, ingest, alertmanager) -> None:
    run = new_run()
    alertname = "VigilE2EGroup"
    starts_at = now_ms() - timedelta(minutes=1)
    posted = [
        postable_alert(
            {
                "alertname": alertname, "run": run, "instance": f"10.0.{i // 256}.{i % 256}:9100",
                "severity": "critical" if i % 3 == 0 else "warning", "service": "storage",
            },
            starts_at=starts_at,
            annotations={"summary": f"disk almost full on host {i}", "runbook_url": "https://runbooks.example.com/d"},
            generator_url=f"http://prometheus.example.com:9090/graph?g0.expr=disk&host={i}",
        )
        for i in range(GROUP_SIZE)
    ]

    # --- firing -------------------------------------------------------------------------------
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
    async with httpx.AsyncClient(timeout=10) as http:
        await alertmanager.post_alerts(http, posted)
        known = await fingerprints_in_alertmanager(alertmanager, http, run)
    assert len(known) == GROUP_SIZE, "distinct label sets must give distinct fingerprints"
    posted_by_labels = {tuple(sorted(a["labels"].items())): a for a in posted}
    expected = {fp: posted_by_labels[tuple(sorted(labels.items()))] for fp, labels in known.items()}

    delivered = await collect(
        cursor, run=run, expected=GROUP_SIZE,
        done=lambda ds: set(by_fingerprint(ds, "firing")) >= set(expected),
    )
    firing = by_fingerprint(delivered, "firing")
    missing = set(expected) - set(firing)
    assert not missing, f"{len(missing)} of {GROUP_SIZE} alerts never arrived firing ({len(delivered)} events read)"
    assert set(firing) == set(expected), "events for alerts nobody posted"
    several = {fp: ids for fp, ids in firing.items() if len(ids) != 1}
    assert not several, f"{len(several)} alerts have more than one firing event id: duplicates must collapse by id"
    assert not by_fingerprint(delivered, "resolved")
    group_keys = set()
    for fp, ids in firing.items():
        (d,) = ids.values()
        assert_envelope(d)
        want = expected[fp]
        assert d.event.labels == want["labels"]
        assert d.event.annotations == want["annotations"]
        assert d.event.generator_url == want["generatorURL"]
        assert d.event.starts_at == starts_at
        assert d.event.ends_at is None
        group_keys.add(d.event.group_key)
    assert len(group_keys) == 1, f"one group, one group key: {group_keys}"
    # Every copy of an event (Alertmanager resends) carries the same id, key and content.
    for d in delivered:
        first = firing[d.event.fingerprint][d.event.event_id].event
        assert d.event.model_dump(exclude={"occurred_at"}) == first.model_dump(exclude={"occurred_at"})
    firing_ids = {eid for ids in firing.values() for eid in ids}

    # --- resolve ------------------------------------------------------------------------------
    ends_at = now_ms()
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
    async with httpx.AsyncClient(timeout=10) as http:
        await alertmanager.post_alerts(http, [{**a, "endsAt": rfc3339(ends_at)} for a in posted])
    delivered = await collect(
        cursor, run=run, expected=GROUP_SIZE,
        done=lambda ds: set(by_fingerprint(ds, "resolved")) >= set(expected),
    )
    resolved = by_fingerprint(delivered, "resolved")
    missing = set(expected) - set(resolved)
    assert not missing, f"{len(missing)} of {GROUP_SIZE} alerts never arrived resolved ({len(delivered)} events read)"
    assert set(resolved) == set(expected)
    several = {fp: ids for fp, ids in resolved.items() if len(ids) != 1}
    assert not several, f"{len(several)} alerts have more than one resolved event id"
    for fp, ids in resolved.items():
        (d,) = ids.values()
        assert_envelope(d)
        assert d.event.labels == expected[fp]["labels"]
        assert d.event.annotations == expected[fp]["annotations"]
        assert d.event.starts_at == starts_at
        assert d.event.ends_at == ends_at
        assert d.event.event_id not in firing_ids
    # A notification flushed while the resolve was being taken in may repeat firing alerts: only
    # as the very events already delivered, never as a new state.
    refired = {d.event.event_id for d in delivered if d.event.status == "firing"}
    assert refired <= firing_ids


async def test_wrong_token_reaches_nothing(kafka_broker, topic_prefix, ingest, alertmanager) -> None:
    """A receiver configured with a wrong token is refused (401, counted) and nothing it sent
    reaches Kafka; a canary posted at the same time through the right receiver does arrive."""
    run = new_run()
    starts_at = now_ms() - timedelta(seconds=10)
    name, value = WRONG_TOKEN_LABEL
    wrong = {"alertname": "VigilE2EWrongToken", "run": run, name: value, "instance": "x-1"}
    canary = {"alertname": "VigilE2ECanary", "run": run, "instance": "x-1"}

    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
    async with httpx.AsyncClient(timeout=10) as http:
        before = await rejected_unauthorized(http, ingest.url)
        await alertmanager.post_alerts(
            http, [postable_alert(wrong, starts_at=starts_at), postable_alert(canary, starts_at=starts_at)]
        )
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while (after := await rejected_unauthorized(http, ingest.url)) <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    assert after > before, "ingest never counted the wrong token's notification as unauthorized"

    # The wrong-token notification was refused before anything was produced; by the time the
    # canary (notified in the same flush cycle) is on Kafka, anything it could have led to would be.
    delivered = await collect(
        cursor, run=run, expected=1,
        done=lambda ds: any(d.event.labels["alertname"] == "VigilE2ECanary" for d in ds),
    )
    assert any(d.event.labels == canary and d.event.status == "firing" for d in delivered), "canary never arrived"
    leaked = [d.event for d in delivered if d.event.labels.get(name) == value]
    assert not leaked, f"events from the wrong-token receiver reached Kafka: {leaked}"
