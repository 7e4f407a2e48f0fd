"""The long form of tests/e2e/test_prometheus_remote_write.py: `python -m bench.remote_write_agreement --minutes 8`.

Debian's `prometheus` scrapes the test exporter (tests/e2e/prometheus.py: 300 requests/s, 0.2 %
errors for the first half of the run, 20 % for the second, then no traffic for two minutes) every
second and remote-writes to the SLO service (`python -m services.slo`, its own Kafka and
PostgreSQL). Every 20 s the SLO's 5 m and 1 h burn rates are read from Vigil and Prometheus is asked
the same question at the moment Vigil evaluated (`time=evaluated_at`) over the same span: Vigil's
windows are the minute buckets from the first whole minute after `now − window`, so the PromQL is
`sum(increase(bad[D])) / sum(increase(total[D]))` with D = (the data's end) − that minute.
Vigil evaluates every 5 s and its data trail the scrapes by the remote-write queue's second, so
Prometheus is asked as of the scrape Vigil had folded: the one whose requests since the first
scrape equal the events of Vigil's 1 h window (from the raw samples, `shop_requests_total[70m]`).
Judged are the comparisons after the first minute (before it one error more or less is over 1 %)
whose scrape was found. Exit 0 when every judged one agreed within 1 %
relative and the page fired after the ratio passed 14.4 × the allowed 0.5 %, 1 otherwise. Writes
JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.harness import REPO, Child, distinct_free_ports, start_child
from bench.remote_write import wait_ready
from shared.local.kafka_broker import LocalKafka
from shared.local.postgres_server import LocalPostgres
from tests.e2e.prometheus import Exporter, LocalPrometheus

TOKEN = "bench-agreement-token-0000000001"
TARGET = 0.995
CONFIG = f"""
slos:
  - {{name: availability, title: Availability, service: shop, indicator: success_ratio, target: {TARGET},
     total: 'shop_requests_total{{job="shop"}}', bad: 'shop_requests_total{{job="shop", code=~"5.."}}'}}
"""
RATIO = 'sum(increase(shop_requests_total{{job="shop",code=~"5.."}}[{d}ms])) / sum(increase(shop_requests_total{{job="shop"}}[{d}ms]))'


def span_ms(evaluated_at: datetime, window: timedelta) -> int:
    start = evaluated_at - window
    first_minute = start.replace(second=0, microsecond=0) + (timedelta(minutes=1) if start.second or start.microsecond else timedelta())
    return int((evaluated_at - first_minute) / timedelta(milliseconds=1))


def newest_folded_scrape(prom: LocalPrometheus, at: datetime, total_events: int) -> datetime | None:
    """The scrape up to which Vigil had folded when it evaluated at `at`: the one whose requests since
    the first scrape equal the events of Vigil's 1 h window (which holds all of a run under an hour)."""
    answer = httpx.get(f"{prom.url}/api/v1/query", timeout=5,
                       params={"query": 'shop_requests_total{job="shop"}[70m]', "time": at.timestamp()}).json()
    sums: dict[float, float] = {}
    for series in answer["data"]["result"]:
        for t, v in series["values"]:
            sums[float(t)] = sums.get(float(t), 0.0) + float(v)
    if not sums:
        return None
    first = sums[min(sums)]
    matching = [t for t, v in sorted(sums.items()) if v - first == total_events]
    return datetime.fromtimestamp(matching[-1], UTC) if matching else None


def prometheus_burn(prom: LocalPrometheus, at: datetime, window: timedelta, *, data_until: datetime) -> float | None:
    """Prometheus' answer over Vigil's span of `window` at `at`, as of the scrape Vigil had folded."""
    span = span_ms(at, window) - int((at - data_until) / timedelta(milliseconds=1))
    answer = httpx.get(f"{prom.url}/api/v1/query", timeout=5,
                       params={"query": RATIO.format(d=span), "time": data_until.timestamp()}).json()
    result = answer["data"]["result"]
    value = float(result[0]["value"][1]) if result else math.nan
    return None if math.isnan(value) else value / (1 - TARGET)


async def run(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-agreement-"))
    workdir.chmod(0o755)
    kafka_port, controller_port, pg_port, slo_port = distinct_free_ports(4)
    kafka = LocalKafka(workdir / "kafka", port=kafka_port, controller_port=controller_port, heap="512m")
    postgres = LocalPostgres(workdir / "postgres", port=pg_port)
    children: list[Child] = []
    exporter = prom = None
    rows, paged_after_passing = [], None
    half_s = args.minutes * 30
    try:
        kafka.start()
        postgres.start()
        (workdir / "slos.yaml").write_text(CONFIG)
        slo = await start_child(
            children, "slo", sys.executable, "-m", "services.slo", log=workdir / "slo.log", cwd=REPO,
            env={"PYTHONPATH": str(REPO), "VIGIL_LOG_LEVEL": "warning", "VIGIL_SLO_PORT": str(slo_port),
                 "VIGIL_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "VIGIL_DATABASE_URL": postgres.url,
                 "VIGIL_API_TOKENS": f"{TOKEN}:responder", "VIGIL_SLO_CONFIG_FILE": str(workdir / "slos.yaml"),
                 "VIGIL_SLO_EVALUATE_INTERVAL_S": "5", "VIGIL_SLO_MIN_EVENTS": "0", "VIGIL_OTEL_TRACES_EXPORTER": "none"},
        )
        url = f"http://127.0.0.1:{slo_port}"
        await wait_ready(f"{url}/readyz", slo)
        exporter_port = distinct_free_ports(1)[0]
        prom = LocalPrometheus(targets=[f"127.0.0.1:{exporter_port}"], write_url=f"{url}/api/v1/write", token=TOKEN, keep="shop_.*")
        exporter = Exporter(port=exporter_port, rate=300, phase_a_s=half_s, phase_b_s=half_s, errors_a=0.002, errors_b=0.2,
                            fast_a=0.97, fast_b=0.85)
        end = time.monotonic() + 2 * half_s + 120
        print(f"{'elapsed':>8} {'vigil 5m':>9} {'prom 5m':>9} {'diff':>7} {'vigil 1h':>9} {'prom 1h':>9} {'diff':>7}  firing", flush=True)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
            while time.monotonic() < end:
                await asyncio.sleep(args.every_s)
                r = await http.get("/api/v1/slos/shop/availability")
                if r.status_code != 200:
                    continue
                status = r.json()
                at = datetime.fromisoformat(status["evaluated_at"]).astimezone(UTC)
                rule = next(b for b in status["burn_rates"] if (b["long_window"], b["short_window"]) == ("1h", "5m"))
                since_start = at.timestamp() - (time.time() - (time.monotonic() - exporter.started))
                folded = newest_folded_scrape(prom, at, rule["long_window_events"])
                judged = since_start >= 60 and folded is not None
                until = folded or at
                row = {"elapsed_s": round(time.monotonic() - exporter.started), "evaluated_at": at.isoformat(), "judged": judged,
                       "data_until": until.isoformat(), "lag_s": round((at - until).total_seconds(), 3),
                       "vigil_5m": rule["short_burn"], "prometheus_5m": prometheus_burn(prom, at, timedelta(minutes=5), data_until=until),
                       "vigil_1h": rule["long_burn"], "prometheus_1h": prometheus_burn(prom, at, timedelta(hours=1), data_until=until),
                       "firing": status["firing"]}
                for w in ("5m", "1h"):
                    p, v = row[f"prometheus_{w}"], row[f"vigil_{w}"]
                    row[f"diff_{w}"] = abs(v - p) / p if p else (0.0 if not v else None)
                rows.append(row)
                if paged_after_passing is None and row["prometheus_5m"] and row["prometheus_1h"] \
                        and min(row["prometheus_5m"], row["prometheus_1h"]) >= 14.4 * 1.05:
                    paged_after_passing = False
                if paged_after_passing is False and "page" in row["firing"]:
                    paged_after_passing = True

                def fmt(x):
                    return f"{x:9.4f}" if isinstance(x, float | int) else f"{'-':>9}"

                def pct(x):
                    return f"{x:7.3%}" if x is not None else f"{'-':>7}"

                print(f"{row['elapsed_s']:>7}s {fmt(row['vigil_5m'])} {fmt(row['prometheus_5m'])} {pct(row['diff_5m'])} "
                      f"{fmt(row['vigil_1h'])} {fmt(row['prometheus_1h'])} {pct(row['diff_1h'])} {row['lag_s']:6.2f}s {'judged' if judged else 'shown':6} "
                      f"{','.join(row['firing'])}", flush=True)
    finally:
        if prom:
            prom.stop()
        if exporter:
            exporter.stop()
        for child in children:
            await child.stop()
        postgres.stop()
        kafka.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    compared = [r[f"diff_{w}"] for r in rows for w in ("5m", "1h") if r[f"diff_{w}"] is not None and r["judged"]]
    worst = max(compared, default=None)
    worst_shown = max((r[f"diff_{w}"] for r in rows for w in ("5m", "1h") if r[f"diff_{w}"] is not None), default=None)
    ok = bool(compared) and worst <= 0.01 and paged_after_passing is True
    print(f"{len(compared)} judged comparisons, worst relative difference {worst:.4%} (of all {worst_shown:.4%}); "
          f"page fired after the ratio passed: {paged_after_passing}")
    out = REPO / "bench" / "results" / f"remote_write_agreement-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"minutes": args.minutes, "rows": rows, "worst_relative_difference": worst, "worst_of_all_rows": worst_shown,
                               "paged_after_passing": paged_after_passing, "ok": ok}, indent=2) + "\n")
    print(f"results: {out.relative_to(REPO)}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8, help="of traffic (half at each error ratio), then 2 min without")
    parser.add_argument("--every-s", type=float, default=20)
    sys.exit(asyncio.run(run(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
