"""The notifier benchmark's whole-path scenario, alert-to-mail: Alertmanager webhooks to ingest →
incidents → escalator → notifier → the mail sink (see bench/notifier_load.py)."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg

from bench.loadgen import WEBHOOK_PATH, build_request, open_loop
from bench.notifier_stack import end_offsets, per_unit, records_after, stats_ms
from bench.payloads import fixture_bytes
from shared.events import PageRequested, Topic, decode

if TYPE_CHECKING:
    from bench.notifier_load import NotifierBench


def oncall_config(schedules: int) -> dict:
    """`schedules` schedules, each with its own primary and backup at the mail sink, routed by the
    label team=t<n>; critical incidents page the primary at once, nothing after."""
    def rotation(person: str) -> dict:
        return {"participants": [person], "zone": "UTC", "anchor_date": "2026-01-05", "handoff_time": "09:00"}

    return {
        "policy": {"critical": {"steps": [{"action": "page", "role": "primary"}], "repeat": 0, "repeat_after": None,
                                "ack_timeout": None}},
        "schedules": [{"name": f"s{n}", "primary": rotation(f"primary{n}"), "backup": rotation(f"backup{n}")}
                      for n in range(schedules)],
        "people": {f"{role}{n}": {"contact": f"{role}{n}@bench.example.com"}
                   for n in range(schedules) for role in ("primary", "backup")},
        "default_schedule": "s0",
        "routes": [{"match": {"team": f"t{n}"}, "schedule": f"s{n}"} for n in range(schedules)],
    }


class Webhooks:
    """Alertmanager v4 notifications shaped like the fixture bench/payloads.py posts, one critical
    alert each with its own alertname (so its own group and incident) and summary (the incident's
    title), routed by `team`."""

    def __init__(self, port: int, token: str, schedules: int) -> None:
        self.port, self.token, self.schedules = port, token, schedules
        self.template = json.loads(fixture_bytes("01-single-firing.json"))

    def request(self, name: str, n: int) -> bytes:
        body = copy.deepcopy(self.template)
        alert = body["alerts"][0]
        alert["labels"] = labels = {**alert["labels"], "alertname": name, "severity": "critical",
                                    "team": f"t{n % self.schedules}"}
        alert["annotations"]["summary"] = name
        alert["startsAt"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        alert["fingerprint"] = hashlib.sha256(name.encode()).hexdigest()[:16]
        body.update(groupLabels={"alertname": name}, commonLabels=labels, commonAnnotations=alert["annotations"],
                    groupKey=f'{{}}:{{alertname="{name}"}}')
        return build_request(self.port, WEBHOOK_PATH, json.dumps(body).encode(), self.token)


async def sent_rows(database_url: str, prefix: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT title, id, message_id, state FROM notifier.delivery WHERE title LIKE $1",
                                prefix + "%")
    finally:
        await conn.close()


def all_sent(database_url: str, prefix: str, count: int):
    """A `wait_until` check: `count` deliveries of alerts named `prefix`… are sent."""
    async def check() -> tuple[bool, int]:
        conn = await asyncpg.connect(database_url)
        try:
            n = await conn.fetchval("SELECT count(*) FROM notifier.delivery WHERE title LIKE $1 AND state = 'sent'",
                                    prefix + "%")
        finally:
            await conn.close()
        return n >= count, n
    return check


async def post(hooks: Webhooks, prefix: str, n: int, rate: float):
    """`n` webhooks at `rate`/s: the names accepted (200) and when ingest answered."""
    names = [f"{prefix}{i}" for i in range(n)]
    requests = [hooks.request(name, i) for i, name in enumerate(names)]  # encoded before the clock starts
    sent = await open_loop(port=hooks.port, requests=requests, rate=rate, max_connections=256)
    accepted = {name: sent.done_at[i] for i, name in enumerate(names) if sent.status[i] == 200}
    return accepted, sent


async def alert_to_mail(bench: NotifierBench) -> dict:
    args, stack = bench.args, bench.stack
    await stack.create_topics([Topic.PAGES])
    peer = await stack.peer("mail")
    database_url = stack.postgres.url
    config = stack.workdir / "oncall.yaml"
    config.write_text(json.dumps(oncall_config(args.schedules)))  # JSON is YAML
    env = bench.service_env()
    ingest_port = await stack.service("ingest", env, database_url=None)
    await stack.service("incidents", {"VIGIL_INCIDENTS_CONSUMER_GROUP": "bench-incidents", **env}, database_url=database_url)
    await stack.service("escalator", {"VIGIL_ESCALATOR_CONFIG_FILE": str(config),
                                      "VIGIL_ESCALATOR_CONSUMER_GROUP": "bench-escalator", **env}, database_url=database_url)
    await stack.service("notifier", bench.notifier_env(peer), database_url=database_url)
    await bench.wait_for_people(database_url, 2 * args.schedules)
    print(f"alert-to-mail: ingest, incidents, escalator, notifier ready; {2 * args.schedules} people known", flush=True)
    hooks = Webhooks(ingest_port, stack.token, args.schedules)
    run = bench.run_id
    for prefix, n, rate in ((f"bench-{run}-first-", 1, 1.0), (f"bench-{run}-w-", int(args.rate * args.warmup_s), args.rate)):
        if n:
            accepted, _ = await post(hooks, prefix, n, rate)
            await bench.wait_until(all_sent(database_url, prefix, len(accepted)), what="warm-up", stall_s=60)
    print("alert-to-mail: warm-up delivered", flush=True)
    await stack.analyze(database_url)

    prefix, n = f"bench-{run}-m-", args.rate * args.duration
    ends = await end_offsets(stack.kafka.bootstrap_servers, Topic.PAGES)
    outcome: dict = {}

    async def load() -> dict:
        accepted, sent = outcome["accepted"], outcome["sent"] = await post(hooks, prefix, n, args.rate)
        return {"sent": n, "sent_s": round(sent.elapsed_s, 2), "accepted": len(accepted), "errors": dict(sent.errors),
                "achieved_rate": round(len(accepted) / sent.elapsed_s, 1) if sent.elapsed_s else None,
                "connections": sent.connections, "send_lag_ms": stats_ms(sent.send_lag_s),
                "webhook_latency_ms": stats_ms([v for v in sent.latency_s if v is not None])}

    async def finished() -> float:
        return await bench.wait_until(all_sent(database_url, prefix, len(outcome["accepted"])), what="e-mails",
                                      poll_s=0.5)

    print(f"alert-to-mail: measuring {n:,} alerts at {args.rate}/s", flush=True)
    m = await bench.measured(load, finished, profile=("ingest", "incidents", "escalator", "notifier"))
    accepted = outcome["accepted"]
    rows = {r["title"]: r for r in await sent_rows(database_url, prefix)}
    times = (await peer.arrivals())["arrivals"]
    on_kafka: dict[str, float] = {}
    for record in await records_after(stack.kafka.bootstrap_servers, ends, want=len(accepted), timeout_s=30):
        on_kafka.setdefault(decode(PageRequested, record.value).title, record.timestamp / 1000)
    mailed = {name: times[rows[name]["message_id"]][0] for name in accepted
              if name in rows and rows[name]["message_id"] and rows[name]["message_id"] in times}
    messages = {rows[name]["message_id"] for name in mailed}
    return {
        **m, "expected": len(accepted), "delivered": len(mailed), "missing": len(accepted) - len(mailed),
        "duplicates": sum(len(times[mid]) - 1 for mid in messages),
        "latency_ms": stats_ms([mailed[name] - accepted[name] for name in mailed]),
        "parts_ms": {
            "ingest answered → page on vigil.pages.v1 (ingest, incidents, escalator)":
                stats_ms([on_kafka[name] - accepted[name] for name in mailed if name in on_kafka]),
            "page on vigil.pages.v1 → e-mail accepted (notifier)":
                stats_ms([mailed[name] - on_kafka[name] for name in mailed if name in on_kafka]),
        },
        "cpu_ms_per_alert": per_unit(m["cpu_s"], len(mailed)),
        "notes": {"e-mails for the measured alerts": len(messages),
                  "alerts carried by another alert's e-mail (bundled)": len(mailed) - len(messages),
                  "webhooks not answered 200": n - len(accepted)},
    }
