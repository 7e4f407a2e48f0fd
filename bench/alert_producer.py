"""Puts the benchmark's alert events on `vigil.alerts.v1`, in its own process.

    python -m bench.alert_producer --bootstrap HOST:PORT --run R bulk --events N
    python -m bench.alert_producer --bootstrap HOST:PORT --run R paced --rate 500 --duration 30 [--wait-go]

`bulk` produces N events (bench/incident_stream.py) as fast as it can and waits for every ack.
`paced` sends one notification (`--group-size` events, produced together) every
group_size / rate seconds on a fixed schedule, with acks=all, idempotence and linger 0 like ingest.
With `--wait-go` it prints "ready" once connected and starts on a "go" line on stdin.

Prints one JSON object on stdout: what was sent and what the incident service should end up with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from bench.incident_stream import AlertStream, Mix, encoded
from shared.events import Topic


async def bulk(producer: AIOKafkaProducer, stream: AlertStream, events: int) -> dict:
    t0 = time.monotonic()
    pending: list[asyncio.Future] = []
    sent_bytes = 0
    for _kind, notification in stream.notifications(events):
        for event in notification:
            key, value, headers = encoded(event)
            sent_bytes += len(value)
            pending.append(await producer.send(Topic.ALERTS, value, key=key, headers=headers))
        if len(pending) >= 5_000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return {"seconds": round(time.monotonic() - t0, 3), "value_bytes": sent_bytes}


async def paced(producer: AIOKafkaProducer, stream: AlertStream, rate: float, duration: float) -> dict:
    interval = stream.group_size / rate
    count = max(1, int(duration / interval))
    pending: list[asyncio.Future] = []
    late_ms: list[float] = []
    t0 = time.monotonic()
    for i in range(count):
        due = t0 + i * interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        late_ms.append(max(0.0, 1000 * (time.monotonic() - due)))
        _kind, notification = stream.notification("auto", datetime.now(UTC))
        for event in notification:
            key, value, headers = encoded(event)
            pending.append(await producer.send(Topic.ALERTS, value, key=key, headers=headers))
        if len(pending) >= 2_000:
            done = [f for f in pending if f.done()]
            for f in done:
                f.result()
            pending = [f for f in pending if not f.done()]
    sent_for = time.monotonic() - t0
    await asyncio.gather(*pending)
    late_ms.sort()
    return {
        "seconds": round(sent_for, 3),
        "notifications": count,
        "events_per_s": round(stream.expected()["events"] / sent_for, 1) if sent_for else None,
        "schedule_lateness_ms": {
            "p50": round(late_ms[len(late_ms) // 2], 2),
            "p99": round(late_ms[min(len(late_ms) - 1, int(len(late_ms) * 0.99))], 2),
            "max": round(late_ms[-1], 2),
        },
    }


async def amain(args: argparse.Namespace) -> dict:
    stream = AlertStream(args.run, group_size=args.group_size, mix=Mix.parse(args.mix), seed=args.seed)
    bulk_mode = args.mode == "bulk"
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap,
        client_id="vigil-bench-alerts",
        acks="all",
        enable_idempotence=True,
        linger_ms=20 if bulk_mode else 0,
        max_batch_size=512 * 1024 if bulk_mode else 16 * 1024,
        request_timeout_ms=30_000,
    )
    await producer.start()
    try:
        if args.wait_go:
            print("ready", flush=True)
            line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline), 300)
            if line.strip() != "go":
                raise SystemExit(f"expected 'go', got {line!r}")
        cpu0 = time.process_time()
        if bulk_mode:
            result = await bulk(producer, stream, args.events)
        else:
            result = await paced(producer, stream, args.rate, args.duration)
        result["cpu_s"] = round(time.process_time() - cpu0, 3)  # this process's CPU while sending
    finally:
        await producer.stop()
    return {"mode": args.mode, "run": args.run, **result, "expected": stream.expected()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_producer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--run", required=True, help="makes the run's group keys and fingerprints unique")
    parser.add_argument("--group-size", type=int, default=10)
    parser.add_argument("--mix", default="0.6,0.25,0.15", help="shares of new, dup, refire events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wait-go", action="store_true")
    sub = parser.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("bulk")
    b.add_argument("--events", type=int, required=True)
    p = sub.add_parser("paced")
    p.add_argument("--rate", type=float, required=True, help="alert events per second")
    p.add_argument("--duration", type=float, required=True, help="seconds")
    args = parser.parse_args(argv)
    result = asyncio.run(amain(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
