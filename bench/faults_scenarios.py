"""The fault scenarios, on a running stack (bench/faults_stack.py): each trial sends alerts through
ingest and metrics to the SLO service at a steady rate, injects its fault mid-stream, then waits
until every accepted alert, incident, page and metrics event has its effect (bench/faults_verify.py).

- `kill(service)`: SIGKILL one service's process, start it again at once; recovery = kill -> its
  first new effect (a 2xx from ingest, an incident event, a page, a fold).
- `replicas()`: a second replica of each consumer service (same database, same consumer group);
  one replica of each SIGKILLed at once, then started again.
- `broker_kill()`: SIGKILL the Kafka broker, start it again on the same data; ingest must answer
  only 503 meanwhile; times to the first 2xx, incident and page after the broker is back.
- `storm()`: no fault, a high rate for minutes; consumer lag and RSS sampled.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from bench.faults_load import (
    AlertsSent,
    LoadWindow,
    Tail,
    incident_record,
    page_record,
    send_alerts,
    send_metrics,
)
from bench.faults_stack import (
    CONSUMER_SERVICES,
    SERVICES,
    Replica,
    Stack,
    cpu_cores,
    first_after,
    lag_summary,
    resumed_at,
)
from bench.faults_verify import settle
from shared.events import Topic

LAG_NAMES = ["incidents", "incidents-pages", "escalator", "slo"]
MB = 1024 * 1024
EFFECT_GUARD_S = 0.1


@dataclass
class Options:
    trials: int = 10
    rate: float = 500.0  # alerts/s in the kill, replicas and broker scenarios
    per_notification: int = 10  # alerts per webhook request there (each request its own incident)
    metrics_rate: float = 50.0  # metrics events/s for the SLO service during every trial
    trial_s: float = 20.0  # seconds of load per trial
    fault_at_s: float = 6.0  # the fault, this long after the load started
    after_fault_s: float = 8.0  # at least this much load after the fault is over (restarted and ready, broker back)
    minutes: float = 3.0  # the storm's load
    storm_rate: float = 5000.0
    storm_per_notification: int = 50
    storm_metrics_rate: float = 200.0
    drain_timeout_s: float = 180.0  # after the load, how long effects may take to appear
    rss_growth_limit: float = 2.0  # storm: RSS at the end at most this times the RSS after warm-up


Progress = Callable[[str], None]


class Faults:
    def __init__(self, stack: Stack, options: Options, progress: Progress = print) -> None:
        self.stack, self.options, self.progress = stack, options, progress
        prefix = stack.prefix
        self.incidents = Tail(stack.bootstrap, prefix + Topic.INCIDENTS, stack.partitions, incident_record)
        self.pages = Tail(stack.bootstrap, prefix + Topic.PAGES, stack.partitions, page_record)

    async def start(self) -> None:
        """Database, topics, one replica of every service, the tails; then a warm-up load so the
        consumer groups have joined before the first fault."""
        await self.stack.open()
        self.incidents.start()
        self.pages.start()
        await asyncio.gather(*(self.stack.add(s) for s in SERVICES))
        warm = await self.trial("warmup", 0, None, duration_s=3.0, fault_at_s=0.0)
        if warm["problems"]:
            raise RuntimeError(f"the warm-up load did not go through: {warm['problems']}")

    async def close(self) -> None:
        await self.incidents.stop()
        await self.pages.stop()
        await self.stack.close()

    # ---- one trial ---------------------------------------------------------------------------

    async def trial(self, scenario: str, index: int, fault: Callable[[], Awaitable[dict]] | None, *,
                    rate: float | None = None, per_notification: int | None = None, metrics_rate: float | None = None,
                    duration_s: float | None = None, fault_at_s: float | None = None,
                    while_loading: Callable[[float], Awaitable[None]] | None = None, recover: list[str] = ()) -> dict:
        o, stack = self.options, self.stack
        rate, per = rate or o.rate, per_notification or o.per_notification
        duration_s = duration_s or o.trial_s
        tag = f"{scenario}-{index:02d}"
        marks = stack.log_marks()
        started = time.time()
        window = LoadWindow(started + duration_s)
        alerts_task = asyncio.create_task(send_alerts(
            port=stack.of("ingest")[0].port, token=stack.token, tag=tag, rate=rate, per_notification=per, window=window))
        metrics_task = asyncio.create_task(send_metrics(
            bootstrap=stack.bootstrap, prefix=stack.prefix, tag=tag, rate=metrics_rate or o.metrics_rate, window=window))
        watcher = asyncio.create_task(while_loading(started)) if while_loading else None
        fault_info: dict = {}
        if fault is not None:
            await asyncio.sleep(fault_at_s if fault_at_s is not None else o.fault_at_s)
            window.held = True  # the load goes on through the fault and after it, however long it takes
            try:
                fault_info = await fault()
            finally:
                window.extend(time.time() + o.after_fault_s)
                window.held = False
        alerts, metrics = await asyncio.gather(alerts_task, metrics_task)
        if watcher is not None:
            watcher.cancel()
        load_end = time.time()
        sent_for_s = window.end - started  # requests were sent until the window closed
        verdict, drain_s = await settle(
            timeout_s=o.drain_timeout_s, pool=stack.pool, slo_url=stack.url("slo"), token=stack.token,
            incidents_tail=self.incidents, pages_tail=self.pages, alerts=alerts, metrics=metrics)
        samples = stack.window(started)
        result = {
            "tag": tag, "load_s": round(load_end - started, 1), "drain_s": round(drain_s, 1),
            "ingest": {**alerts.figures(),
                       "sent_alerts_per_s": round(alerts.requests * alerts.per_notification / sent_for_s, 1)},
            **verdict.as_dict(),
            "lag": lag_summary(samples, LAG_NAMES),
            "backlog_max": {k: max((s.backlog.get(k) or 0 for s in samples), default=None)
                            for k in ("incidents_outbox", "escalator_outbox", "escalator_timers_overdue")},
            "deadlocks": deadlocks(samples),
            "service_log_warnings": stack.log_warnings(marks),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "rss_mb_max": {name: round(max((s.rss.get(name) or 0 for s in samples), default=0) / MB, 1)
                           for name in (r.name for r in stack.replicas)},
        }
        if fault_info:
            result["recovery"] = await self.recovery(recover, fault_info, alerts)
            result["fault"] = fault_info
        if "back_at" in fault_info:
            result["broker"] = broker_figures(alerts, fault_info, self.incidents, self.pages)
            result["problems"] += result["broker"].pop("problems")
        return result

    # ---- effects and recovery ----------------------------------------------------------------

    def first_effect(self, service: str, after: float, alerts: AlertsSent) -> float | None:
        """When ingest, the incident service or the escalator next did something observable after
        `after` (epoch seconds): a 2xx, an incident event or a page appended by the broker."""
        if service == "ingest":
            return first_after(alerts.accepted_times(), after)
        tail = self.incidents if service == "incidents" else self.pages
        return first_after([t for t, _ in tail.records], after)

    async def first_fold(self, timeout_s: float = 300.0) -> float | None:
        """When the SLO service next stores a fold (its processed-event count grows), polled."""
        async with self.stack.pool.acquire() as conn:
            count = await conn.fetchval("SELECT count(*) FROM slo.processed_event")
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                if await conn.fetchval("SELECT count(*) FROM slo.processed_event") > count:
                    return time.time()
        return None

    async def recovery(self, services: list[str], fault: dict, alerts: AlertsSent) -> dict:
        """Per service: seconds from the fault to its first effect, and for a consumer service to the
        moment its group had consumed again on every partition with messages waiting."""
        since, baseline, fold = fault["killed_at"], fault.pop("_offsets", {}), fault.pop("_first_fold", None)
        # A produce request the killed process sent just before it died can still be appended after
        # its death: effects count from a moment after it was gone.
        effects_from = since + fault.get("restarted_after_s", 0.0) + EFFECT_GUARD_S
        out = {}
        for service in services:
            first = (await fold if fold else None) if service == "slo" else self.first_effect(service, effects_from, alerts)
            figures = {"first_effect_s": round(first - since, 2) if first else None}
            if service in CONSUMER_SERVICES and service in baseline:
                back = resumed_at(self.stack.samples, service, baseline[service], since)
                figures["consumer_resumed_s"] = round(back - since, 1) if back else None
            out[service] = figures
        return out

    async def offsets_now(self) -> dict:
        try:
            return await asyncio.wait_for(self.stack.group_offsets(), 5)
        except Exception:  # noqa: BLE001 - without them there is no "consumer resumed" figure
            return {}

    async def kill_and_restart(self, victims: list[Replica]) -> dict:
        stack = self.stack
        killed_at = time.time()
        await asyncio.gather(*(stack.kill(r) for r in victims))
        dead = time.time()
        fold = asyncio.create_task(self.first_fold()) if any(r.service == "slo" for r in victims) else None
        for replica in victims:
            await stack.spawn(replica)
        offsets = await self.offsets_now()  # what the dead process had committed
        ready = await asyncio.gather(*(stack.wait_ready(r) for r in victims))
        return {"killed": [r.name for r in victims], "killed_at": killed_at,
                "restarted_after_s": round(dead - killed_at, 3), "ready_after_s": round(max(ready) - killed_at, 2),
                "_offsets": offsets, "_first_fold": fold}

    # ---- scenarios ---------------------------------------------------------------------------

    async def kill(self, service: str) -> dict:
        """SIGKILL `service` mid-stream and start it again, `trials` times."""
        return await self._repeat(f"kill-{service}", lambda i: self.stack.of(service)[:1], [service])

    async def replicas(self) -> dict:
        """Two replicas of each consumer service; one of each killed per trial (alternately)."""
        added = await asyncio.gather(*(self.stack.add(s) for s in CONSUMER_SERVICES if len(self.stack.of(s)) < 2))
        try:
            return await self._repeat(
                "replicas", lambda i: [self.stack.of(s)[i % 2] for s in CONSUMER_SERVICES], list(CONSUMER_SERVICES))
        finally:
            await asyncio.gather(*(r.child.stop() for r in added))  # the later scenarios run with one replica each
            for replica in added:
                self.stack.replicas.remove(replica)

    async def _repeat(self, scenario: str, victims_of: Callable[[int], list[Replica]], services: list[str]) -> dict:
        trials = []
        for i in range(1, self.options.trials + 1):
            victims = victims_of(i)
            self.progress(f"{scenario} trial {i}/{self.options.trials}: SIGKILL {', '.join(v.name for v in victims)} "
                          f"{self.options.fault_at_s:g} s into {self.options.trial_s:g} s of load (at least "
                          f"{self.options.after_fault_s:g} s more once ready) ...")
            result = await self.trial(scenario, i, lambda v=victims: self.kill_and_restart(v), recover=services)
            trials.append(result)
            self.progress("  " + trial_line(result))
        return summarise(scenario, trials)

    async def broker_kill(self) -> dict:
        o = self.options
        trials = []
        for i in range(1, o.trials + 1):
            self.progress(f"broker-kill trial {i}/{o.trials}: SIGKILL the broker {o.fault_at_s:g} s into "
                          f"{o.trial_s:g} s of load (at least {o.after_fault_s:g} s more once it is back), start it again ...")
            result = await self.trial("broker-kill", i, self.kill_and_restart_broker,
                                      recover=["ingest", "incidents", "escalator"])
            trials.append(result)
            self.progress("  " + trial_line(result))
        return summarise("broker-kill", trials)

    async def kill_and_restart_broker(self) -> dict:
        offsets = await self.offsets_now()  # before: nothing answers while it is down
        killed_at = time.time()
        await self.stack.kill_broker()
        await self.stack.start_broker()
        back_at = time.time()
        return {"killed_at": killed_at, "back_at": back_at, "broker_back_after_s": round(back_at - killed_at, 2),
                "_offsets": offsets}

    async def storm(self) -> dict:
        o, stack = self.options, self.stack
        duration_s = o.minutes * 60
        self.progress(f"storm: {o.storm_rate:,.0f} alerts/s ({o.storm_per_notification} per request, "
                      f"{o.storm_rate / o.storm_per_notification:,.0f} requests/s) and {o.storm_metrics_rate:g} metrics "
                      f"events/s for {duration_s:g} s ...")

        async def report_every(started: float, every_s: float = 10.0) -> None:
            while True:
                await asyncio.sleep(every_s)
                last = stack.samples[-1] if stack.samples else None
                if last is not None:
                    rss = ", ".join(f"{k} {v / MB:.0f}" for k, v in last.rss.items() if v)
                    self.progress(f"  storm +{time.time() - started:4.0f} s: lag {last.lag}; backlog {last.backlog}; RSS MB {rss}")

        started = time.time()
        result = await self.trial("storm", 1, None, rate=o.storm_rate, per_notification=o.storm_per_notification,
                                  metrics_rate=o.storm_metrics_rate, duration_s=duration_s, while_loading=report_every)
        result.update(storm_figures(stack, started, started + result["load_s"], o))
        self.progress("  " + trial_line(result))
        return summarise("storm", [result], extra_problems=result["rss"]["problems"])


def deadlocks(samples: list) -> int | None:
    """PostgreSQL deadlocks (pg_stat_database) in the window of `samples`."""
    counts = [s.backlog["deadlocks_so_far"] for s in samples if s.backlog.get("deadlocks_so_far") is not None]
    return counts[-1] - counts[0] if counts else None


def broker_figures(alerts: AlertsSent, fault: dict, incidents: Tail, pages: Tail) -> dict:
    """After the broker's return: seconds to ingest's first 2xx, the first incident event and the first
    page; what ingest answered from the kill to that first 2xx (only 503 is right: retry later)."""
    killed, back = fault["killed_at"], fault["back_at"]
    first_2xx = first_after(alerts.accepted_times(), back)
    until = first_2xx or float("inf")
    meanwhile: dict[str, int] = {}
    for status, done in zip(alerts.result.status, alerts.result.done_at, strict=True):
        if status is None:
            meanwhile["no answer"] = meanwhile.get("no answer", 0) + 1
        elif killed <= done < until:
            meanwhile[str(status)] = meanwhile.get(str(status), 0) + 1
    wrong = {k: v for k, v in meanwhile.items() if not (k == "503" or k.startswith("2"))}
    first_incident = first_after([t for t, _ in incidents.records], killed)
    first_page = first_after([t for t, _ in pages.records], killed)

    def since_back(t: float | None) -> float | None:
        return round(t - back, 2) if t else None

    return {
        "answers_while_down": meanwhile, "503s": meanwhile.get("503", 0),
        "first_2xx_after_back_s": since_back(first_2xx), "first_incident_after_back_s": since_back(first_incident),
        "first_page_after_back_s": since_back(first_page),
        "problems": (
            ([f"ingest answered {wrong} while the broker was away (only 503 is right)"] if wrong else [])
            + ([] if first_2xx else ["ingest gave no 2xx after the broker came back"])
        ),
    }


def storm_figures(stack: Stack, started: float, load_end: float, o: Options) -> dict:
    """Lag at the end of the load, the incident service's fold rate during it, and each service's RSS:
    at the start, after warm-up (a quarter of the load, at least 30 s if the load is long enough), the
    largest, at the end. Bounded means: at the end at most `rss_growth_limit` times its value after
    warm-up (caches and pools fill during the warm-up; a leak keeps growing with the load)."""
    during = stack.window(started, load_end)
    warm_until = started + min(max(30.0, (load_end - started) / 4), (load_end - started) / 2)
    rss, problems = {}, []
    for name in sorted({n for s in during for n in s.rss}):
        values = [(s.at, s.rss.get(name)) for s in during if s.rss.get(name)]
        if not values:
            continue
        after_warm = next((v for at, v in values if at >= warm_until), values[-1][1])
        end = values[-1][1]
        rss[name] = {"start_mb": round(values[0][1] / MB, 1), "after_warmup_mb": round(after_warm / MB, 1),
                     "max_mb": round(max(v for _, v in values) / MB, 1), "end_mb": round(end / MB, 1)}
        if end > o.rss_growth_limit * after_warm:
            problems.append(f"{name}: RSS {end / MB:.0f} MB at the end, more than {o.rss_growth_limit:g}x "
                            f"{after_warm / MB:.0f} MB after warm-up")
    folded = [(s.at, s.committed("incidents")) for s in during if s.committed("incidents") is not None]
    fold_rate = ((folded[-1][1] - folded[0][1]) / (folded[-1][0] - folded[0][0])
                 if len(folded) > 1 and folded[-1][0] > folded[0][0] else None)
    end_lag = during[-1].lag if during else {}
    pages = [(s.at, s.committed("incidents-pages")) for s in during if s.committed("incidents-pages") is not None]
    return {"cpu_cores_during_load": cpu_cores(during),"rss": {**rss, "problems": problems, "criterion": f"end <= {o.rss_growth_limit:g} x after warm-up"},
            "lag_at_end_of_load": end_lag,
            "incidents_folded_alerts_per_s": round(fold_rate, 1) if fold_rate else None,
            "pages_per_s": round((pages[-1][1] - pages[0][1]) / (pages[-1][0] - pages[0][0]), 1) if len(pages) > 1 else None}


def trial_line(r: dict) -> str:
    ing, al, pg, mt = r["ingest"], r["alerts"], r["pages"], r["metrics"]
    parts = [(f"{r['tag']}: {ing['alerts_attempted']:,} alerts sent, {al.get('accepted', 0):,} accepted, "
              f"{al.get('lost', 0):,} lost; pages {pg.get('on_kafka', 0):,}/{pg.get('due', 0):,} "
              f"(dup ids {pg.get('duplicates_same_id', 0)}); metrics {mt.get('folded', 0):,}/{mt.get('acked', 0):,} folded; "
              f"statuses {ing['statuses']}; drain {r['drain_s']} s")]
    for service, rec in (r.get("recovery") or {}).items():
        parts.append(f"{service} first effect {rec.get('first_effect_s')} s"
                     + (f", consumer resumed {rec['consumer_resumed_s']} s" if rec.get("consumer_resumed_s") is not None else ""))
    if r.get("fault"):
        parts.append(", ".join(f"{k} {v}" for k, v in r["fault"].items() if not k.endswith("_at") and k != "killed"))
    if r.get("deadlocks"):
        parts.append(f"PostgreSQL deadlocks {r['deadlocks']}")
    if r["problems"]:
        parts.append("PROBLEMS: " + "; ".join(r["problems"]))
    return " | ".join(parts)


def summarise(scenario: str, trials: list[dict], extra_problems: list[str] | None = None) -> dict:
    def total(part: str, key: str) -> int:
        return sum(t[part].get(key, 0) or 0 for t in trials)

    problems = [f"{t['tag']}: {p}" for t in trials for p in t["problems"]] + (extra_problems or [])
    return {
        "scenario": scenario, "trials": trials, "problems": problems, "passed": not problems,
        "totals": {
            "requests": sum(t["ingest"]["requests"] for t in trials),
            "alerts_attempted": sum(t["ingest"]["alerts_attempted"] for t in trials),
            "alerts_accepted": total("alerts", "accepted"), "alerts_lost": total("alerts", "lost"),
            "incidents": total("incident_events", "incidents"),
            "incident_events_missing": total("incident_events", "missing"),
            "incident_events_duplicated_same_id": total("incident_events", "duplicates_same_id"),
            "pages_due": total("pages", "due"), "pages_missing": total("pages", "missing"),
            "pages_duplicated_same_id": total("pages", "duplicates_same_id"),
            "pages_twice_with_other_ids": total("pages", "paged_twice_with_other_ids"),
            "metrics_acked": total("metrics", "acked"), "metrics_lost": total("metrics", "lost"),
            "postgres_deadlocks": sum(t.get("deadlocks") or 0 for t in trials),
        },
    }


def options_dict(options: Options) -> dict:
    return asdict(options)
