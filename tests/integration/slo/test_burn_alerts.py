"""The SLO service against the real broker and PostgreSQL: a synthetic error burst that burns 2 % of
a 99.9 % budget in under an hour raises one page-tier alert on vigil.alerts.v1, and one resolve
when the burn stops; a low-traffic service below the guard raises none."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.events import AlertEvent, MetricsEvent, Topic, decode, encode
from tests.support import TopicCursor, wait_for

pytestmark = pytest.mark.integration

ERROR_RATE_ONLY = """
slos:
  - {name: error-rate, title: Error rate, indicator: success_ratio, target: 0.999, display: percent_bad}
"""


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def slo_service(running_slo, tmp_path_factory):
    config = tmp_path_factory.mktemp("slo") / "slos.yaml"
    config.write_text(ERROR_RATE_ONLY)
    clock = MovableClock(datetime.now(UTC).replace(second=30, microsecond=0))
    with running_slo(clock=clock, slo_config_file=str(config), slo_evaluate_interval_s=0.2, slo_min_events=100,
                     slo_late_event_window_s=4 * 86400) as svc:
        yield svc.client("admin"), clock


def metrics(service: str, at: datetime, requests: int, errors: int, interval_s: int = 60) -> MetricsEvent:
    return MetricsEvent(
        event_id=MetricsEvent.id_for(source="test", service=service, interval_start=at), occurred_at=at, source="test",
        service=service, interval_start=at, interval_s=interval_s, requests=requests, errors=errors,
    )


async def produce(bootstrap: str, events: list[MetricsEvent], *, prefix: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for e in events:
            key, value, headers = encode(e, ce_source="/test")
            await producer.send(prefix + Topic.METRICS, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def consumed(database_url: str, dead_letters: TopicCursor, service: str, *, after: datetime, count: int,
                   timeout_s: float = 15) -> None:
    """Wait until the consumer has handled `count` events of `service`'s minutes after `after`: each
    folded into its minute, or dead-lettered (a minute more than 5 min after the service's now)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            folded = await conn.fetchval("SELECT count(*) FROM slo.minute_bucket WHERE service = $1 AND minute > $2", service, after)
            rejected = [r for r in await dead_letters.read(expected=10**9, timeout_s=0.2, settle_s=0)
                        if decode(MetricsEvent, r.value).service == service]
            if folded + len(rejected) >= count:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{folded} folded and {len(rejected)} dead-lettered of {count} events after {timeout_s}s")
    finally:
        await conn.close()


def slo_alerts(records, service: str) -> list[AlertEvent]:
    events = [decode(AlertEvent, r.value) for r in records]
    return [e for e in events if e.source == "slo" and e.labels.get("service") == service]


def detail(api: httpx.Client, service: str) -> dict | None:
    response = api.get(f"/api/v1/slos/{service}/error-rate")
    return response.json() if response.status_code == 200 else None


async def test_an_error_burst_pages_once_and_resolves_once_and_low_traffic_stays_quiet(slo_service, kafka_broker, topic_prefix, database_url):
    api, clock = slo_service
    run = uuid.uuid4().hex[:6]
    busy, quiet = f"checkout-{run}", f"cron-{run}"
    t = clock.now.replace(second=0)
    events = [metrics(busy, t - timedelta(hours=k), 1_000_000, 0, interval_s=3600) for k in range(2, 71)]  # 3 quiet days
    # The last hour: 1,000 requests a minute; the last 30 minutes 3 % of them fail. Over the hour that
    # is 1.5 % errors, a 15x burn (2.08 % of the 30-day budget at this traffic): the 1 h/5 m page rule.
    events += [metrics(busy, t - timedelta(minutes=m), 1000, 30 if m < 30 else 0) for m in range(60)]
    # A low-traffic service burning as hard: 60 requests in the hour, under the guard of 100.
    events += [metrics(quiet, t - timedelta(minutes=m), 2, 1) for m in range(30)]
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
    await produce(kafka_broker.bootstrap_servers, events + events[:10], prefix=topic_prefix)  # and a few duplicates

    # The page may fire on a tick that has seen only part of the events (the fold is concurrent per
    # partition); the status asserted is the one once every event is folded, which a kept sum must reach too.
    folded = 69 * 1_000_000 + 60_000
    status = wait_for(lambda: (d := detail(api, busy)) and "page" in d["firing"] and d["budget"]["total_events"] == folded and d,
                      what="page tier firing with every event folded", timeout_s=30)
    records = await cursor.read(expected=1, timeout_s=15, settle_s=2)
    [fired] = slo_alerts(records, busy)
    assert (fired.status, fired.labels["tier"], fired.labels["severity"], fired.labels["slo"]) == ("firing", "page", "critical", "error-rate")
    page_1h = status["burn_rates"][0]
    assert (page_1h["long_window"], page_1h["short_window"], page_1h["threshold"]) == ("1h", "5m", 14.4)
    assert page_1h["long_burn"] == pytest.approx(15.0) and page_1h["short_burn"] == pytest.approx(30.0)
    assert [b["firing"] for b in status["burn_rates"]] == [True, False, False, False]
    assert status["budget"]["bad_events"] == 900  # the duplicates were folded once
    assert status["budget"]["total_events"] == folded

    low = wait_for(lambda: detail(api, quiet), what="low-traffic status")
    assert low["burn_rates"][0]["low_traffic_guarded"] is True and low["firing"] == []
    assert slo_alerts(records, quiet) == []

    # The burn stops: six clean minutes later the 5-minute window is clean and the page resolves.
    cursor = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.ALERTS)
    dead_letters = await TopicCursor.at_end(kafka_broker.bootstrap_servers, topic_prefix + Topic.dlq(Topic.METRICS))
    await produce(kafka_broker.bootstrap_servers, [metrics(busy, t + timedelta(minutes=m), 1000, 0) for m in range(1, 7)],
                  prefix=topic_prefix)
    await consumed(database_url, dead_letters, busy, after=t, count=6)  # before time moves on
    clock.now = clock.now + timedelta(minutes=6)
    wait_for(lambda: (d := detail(api, busy)) and d["firing"] == [], what="page resolved", timeout_s=30)
    records = await cursor.read(expected=1, timeout_s=15, settle_s=2)
    [resolved] = slo_alerts(records, busy)
    assert resolved.status == "resolved" and resolved.fingerprint == fired.fingerprint
    assert resolved.starts_at == fired.starts_at and resolved.ends_at == clock.now
    assert slo_alerts(records, quiet) == []
