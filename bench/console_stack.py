"""The console benchmark's stack and measurements (bench/console.py runs them): the incident
service, escalator and console as processes on a given broker and PostgreSQL, seeded by COPY
(bench/console_seed.py); timed pages as a signed-in person beside the services' own API time; and
200 browsers' live streams timed from an incident change on Kafka to the rows they show
(bench/console_load.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench import console_seed
from bench.console_load import SseClient, deliveries, timed_gets
from bench.harness import REPO, Child, cpu_seconds, distinct_free_ports, start_child
from services.console import repository as console_repo
from services.console import service as console_service
from services.console import sessions
from services.console.users_cli import with_console_pool
from shared.events import IncidentEvent, Topic, decode
from shared.identity import mint

RESULTS_DIR = REPO / "bench" / "results"
PARTITIONS = 6
IDENTITY_KEY = "bench-console-identity-key-0123456789abcdef"
PERSON, PASSWORD = "bench-responder", "bench-responder-password"
PAGE_TARGET_MS = 50.0
LIVE_TARGET_MS = 1000.0
OPEN = ("investigating", "mitigating")
CURSOR = re.compile(r'sse-connect="([^"]+)"')


@dataclass
class Options:
    incidents: int = 100_000
    timeline_rows: int = 1_000_000
    sse_clients: int = 200
    requests: int = 300
    concurrency: int = 4
    events: int = 15
    event_interval_s: float = 3.0  # one change's refreshes are over before the next (a browser queues them)
    live_stream_s: float = 15.0
    sse_ramp_s: float | None = None  # browsers open over this long (default: one stream's length)
    escalator: bool = True
    profile: bool = False
    seed: int = 19
    log_level: str = "warning"


@dataclass
class ConsoleBench:
    """The services and the measurements, on a given broker and PostgreSQL server."""

    workdir: Path
    bootstrap: str
    admin_url: str
    options: Options
    progress: object = print
    results_dir: Path = RESULTS_DIR
    children: list[Child] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:6]
        self.prefix = f"bconsole{self.run_id}."
        self.database_url = ""
        self.seeded: console_seed.Seeded | None = None

    # ---- set-up ------------------------------------------------------------------------------

    async def open(self) -> dict:
        began = time.monotonic()
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "console_bench_{self.run_id}"')
        finally:
            await conn.close()
        self.database_url = self.admin_url.rsplit("/", 1)[0] + f"/console_bench_{self.run_id}"
        await self._create_incident_topic()
        await self.service("incidents")
        self.progress(f"seeding {self.options.incidents:,} incidents, {self.options.timeline_rows:,} timeline rows ...")
        seeding = time.monotonic()
        self.seeded = await console_seed.seed(self.database_url, incidents=self.options.incidents,
                                              timeline_rows=self.options.timeline_rows, seed=self.options.seed)
        self.seeded.seconds["total"] = round(time.monotonic() - seeding, 2)
        self.progress(f"  seeded in {self.seeded.seconds['total']} s {self.seeded.seconds}")
        if self.options.escalator:
            await self.service("escalator")
        await self.service("console")
        await with_console_pool(self.database_url, self._people)
        return {"set_up_s": round(time.monotonic() - began, 1)}

    async def _create_incident_topic(self) -> None:
        """The incident events' topic, stamped with the broker's append time: when a change was on Kafka."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30_000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.prefix + Topic.INCIDENTS, PARTITIONS, 1,
                                                topic_configs={"message.timestamp.type": "LogAppendTime"})])
        finally:
            await admin.close()

    def _env(self, name: str, port: int) -> dict[str, str]:
        env = {"PYTHONPATH": str(REPO), "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "VIGIL_TOPIC_PREFIX": self.prefix,
               "VIGIL_TOPIC_PARTITIONS": str(PARTITIONS), "VIGIL_DATABASE_URL": self.database_url,
               "VIGIL_IDENTITY_KEYS": IDENTITY_KEY, "VIGIL_LOG_LEVEL": self.options.log_level, "VIGIL_LOG_FORMAT": "json",
               "VIGIL_HOST": "127.0.0.1", f"VIGIL_{name.upper()}_PORT": str(port),
               f"VIGIL_{name.upper()}_CONSUMER_GROUP": f"bconsole-{name}-{self.run_id}"}
        if name == "console":
            env.update({"VIGIL_CONSOLE_INCIDENTS_URL": self.url("incidents"), "VIGIL_CONSOLE_COOKIE_SECURE": "false",
                        "VIGIL_CONSOLE_LIVE_STREAM_S": f"{self.options.live_stream_s:g}"})
            if self.options.escalator:
                env["VIGIL_CONSOLE_ESCALATOR_URL"] = self.url("escalator")
        return env

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    async def service(self, name: str) -> None:
        """Start `python -m services.<name>` on a free port; return once /readyz answers 200."""
        port = self.ports[name] = distinct_free_ports(1)[0]
        child = await start_child(self.children, name, sys.executable, "-m", "bench.console_serve", name, cwd=REPO,
                                  log=self.workdir / f"{name}.log", env=self._env(name, port))
        async with httpx.AsyncClient(timeout=2) as probe:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(f"{self.url(name)}/readyz")).status_code == 200:
                        return
                if child.proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not become ready; see {child.log}")
                await asyncio.sleep(0.2)

    async def _people(self, pool: asyncpg.Pool) -> None:
        """The person who signs in, and one signed-in viewer per browser of the live streams (their
        sessions written as sign-in writes them, without 200 argon2 hashes)."""
        now = datetime.now(UTC)
        await console_service.add_person(pool, name=PERSON, display_name="Bench Responder", role="responder",
                                         password=PASSWORD, now=now)
        self.stream_cookies = []
        async with pool.acquire() as conn:
            for n in range(self.options.sse_clients):
                name = f"bench-viewer-{n}"
                await console_repo.insert_person(conn, name=name, display_name=name, role="viewer", password_hash=None,
                                                 now=now)
                session_id = sessions.new_id()
                await conn.execute(console_repo.INSERT_SESSION, sessions.id_hash(session_id), name, secrets.token_hex(16),
                                   now, now + timedelta(days=1), "127.0.0.1", "bench.console")
                self.stream_cookies.append(f"{sessions.COOKIE}={session_id}")

    async def close(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                await child.stop()

    # ---- pages ---------------------------------------------------------------------------------

    async def sign_in(self, http: httpx.AsyncClient) -> None:
        form = await http.get("/signin")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        if form.status_code != 200 or token is None:
            raise RuntimeError(f"the sign-in form did not come: {form.status_code}")
        answer = await http.post("/signin", data={"csrf_token": token.group(1), "name": PERSON, "password": PASSWORD,
                                                 "next": "/incidents"})
        if answer.status_code != 303:
            raise RuntimeError(f"signing in failed: {answer.status_code} {answer.text[:200]}")

    def page_kinds(self) -> dict[str, tuple[list[str], list[str]]]:
        """Each measured page: (console paths, the incident API paths the console calls for them)."""
        seeded = self.seeded
        api_open = "/api/v1/incidents?" + urlencode([("limit", 100), *[("status", s) for s in OPEN]])

        def listing(q: str) -> tuple[list[str], list[str]]:
            return [f"/incidents?status=all&q={q}"], [f"/api/v1/incidents?limit=100&q={q}"]

        return {
            "list: open (default filters)": (["/incidents"], [api_open]),
            "list: all": (["/incidents?status=all"], ["/api/v1/incidents?limit=100"]),
            f"list: all, q={console_seed.COMMON_TERM} (common)": listing(console_seed.COMMON_TERM),
            f"list: all, q={console_seed.RARE_TERM} (rare)": listing(console_seed.RARE_TERM),
            "incident: typical timeline": ([f"/incidents/INC-{i}" for i in seeded.typical],
                                           [f"/api/v1/incidents/{i}" for i in seeded.typical]),
            "incident: long timeline": ([f"/incidents/INC-{i}" for i in seeded.long],
                                        [f"/api/v1/incidents/{i}" for i in seeded.long]),
        }

    async def pages(self) -> dict:
        o = self.options
        out: dict[str, dict] = {}
        assertion = mint(IDENTITY_KEY.encode(), kind="session", person=PERSON, role="responder",
                         expires_at=datetime.now(UTC) + timedelta(hours=2))
        api_headers = {"Authorization": f"Bearer {assertion}"}
        limits = httpx.Limits(max_connections=o.concurrency, max_keepalive_connections=o.concurrency)
        async with httpx.AsyncClient(base_url=self.url("console"), timeout=30, limits=limits) as console, \
                httpx.AsyncClient(base_url=self.url("incidents"), timeout=30, limits=limits) as incidents, \
                httpx.AsyncClient(base_url=self.url("escalator") if o.escalator else "http://127.0.0.1:1", timeout=30,
                                  limits=limits) as escalator:
            await self.sign_in(console)
            profiler = await self.start_profiler() if o.profile else None
            for kind, (paths, api_paths) in self.page_kinds().items():
                row: dict[str, object] = {"paths": paths[:3], "api_paths": api_paths[:3]}
                if kind.startswith("incident:"):
                    row["timeline_entries"] = sorted({self.seeded.timeline_length[int(p.rsplit("-", 1)[1])] for p in paths})
                await timed_gets(console, paths, requests=min(20, o.requests), concurrency=1)  # warm-up
                await timed_gets(incidents, api_paths, requests=min(20, o.requests), concurrency=1, headers=api_headers)
                for c in sorted({1, o.concurrency}):
                    cpu = self.cpu_now()
                    load = _loadavg()
                    row[f"console_c{c}"] = await timed_gets(console, paths, requests=o.requests, concurrency=c,
                                                            expect=_expect)
                    row[f"console_c{c}"]["cpu_ms_per_request"] = self.cpu_per_request(cpu, o.requests)
                    row[f"console_c{c}"]["loadavg"] = load
                    row[f"api_c{c}"] = await timed_gets(incidents, api_paths, requests=o.requests, concurrency=c,
                                                        headers=api_headers)
                    if kind.startswith("incident:") and o.escalator:
                        escalation = [p.replace("/api/v1/incidents/", "/api/v1/incidents/INC-") + "/escalation"
                                      for p in api_paths]
                        # 404: no escalation planned for a seeded incident (the page says so), an answer too.
                        row[f"escalator_c{c}"] = await timed_gets(escalator, escalation, requests=o.requests,
                                                                  concurrency=c, headers=api_headers, ok=(200, 404))
                out[kind] = row
                self.progress(f"  {kind}: console p99 {row['console_c1']['p99']} ms (c={o.concurrency}: "
                              f"{row[f'console_c{o.concurrency}']['p99']}), API p99 {row['api_c1']['p99']} ms")
            if profiler is not None:
                await self.stop_profiler(profiler)
        return out

    def cpu_now(self) -> dict[str, float]:
        return {c.name: cpu_seconds(c.pid) or 0.0 for c in self.children if c.name in ("console", "incidents", "escalator")}

    def cpu_per_request(self, before: dict[str, float], requests: int) -> dict[str, float]:
        return {name: round(1000 * (value - before.get(name, 0.0)) / requests, 2) for name, value in self.cpu_now().items()}

    # ---- profiling ---------------------------------------------------------------------------

    async def start_profiler(self) -> list[Child]:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.results_dir.mkdir(parents=True, exist_ok=True)
        return [await start_child(self.children, f"py-spy-{name}", py_spy, "record", "--pid", str(self.child(name).pid),
                                  "--rate", "200", "--format", "raw", "--nonblocking", "--full-filenames", "-o",
                                  str(self.results_dir / f"profile-console-{name}-{stamp}.txt"), cwd=REPO,
                                  log=self.workdir / f"py-spy-{name}.log", env={})
                for name in ("console", "incidents")]

    async def stop_profiler(self, profilers: list[Child]) -> None:
        for profiler in profilers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(profiler.pid, signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(profiler.proc.wait(), 60)
            self.progress(f"  profile: {profiler.log.read_text()[-300:].strip()}")

    # ---- live streams ------------------------------------------------------------------------

    async def live(self) -> dict:
        """Open the streams (spread over `sse_ramp_s`, as browsers open pages at different times),
        then change incidents one at a time and see when each browser hears of it."""
        o = self.options
        ramp_s = o.live_stream_s if o.sse_ramp_s is None else o.sse_ramp_s
        async with httpx.AsyncClient(base_url=self.url("console"), timeout=30) as page:
            await self.sign_in(page)
            listing = await page.get("/incidents")
            stream_path = CURSOR.search(listing.text).group(1).replace("&amp;", "&")
        on_kafka: dict[tuple[str, int], float] = {}
        watching = asyncio.ensure_future(self._watch_incident_topic(on_kafka))
        limits = httpx.Limits(max_connections=o.sse_clients, max_keepalive_connections=o.sse_clients,
                              keepalive_expiry=1.0)
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=self.url("console"), timeout=30, limits=limits) as rows_http:
            clients = [SseClient("127.0.0.1", self.ports["console"], stream_path, cookie, "/incidents/rows?status=open",
                                 rows_http) for cookie in self.stream_cookies]
            running = []
            for n, client in enumerate(clients):
                running.append(asyncio.ensure_future(client.run(stop)))
                await asyncio.sleep(ramp_s / len(clients) if n < len(clients) - 1 else 0)
            await asyncio.wait_for(asyncio.gather(*(c.opened.wait() for c in clients)), 60)
            await asyncio.sleep(0.5)
            load = _loadavg()
            cpu = self.cpu_now()
            produced = await self._produce_changes()
            deadline = time.monotonic() + o.live_stream_s + 10
            while time.monotonic() < deadline and not self._all_delivered(clients, produced, on_kafka):
                await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*running)
            cpu_used = self.cpu_per_request(cpu, 1)
        watching.cancel()
        events = {key: on_kafka[key] for key in produced if key in on_kafka}
        result = deliveries(clients, events)
        result.update(
            clients=len(clients), events_produced=len(produced), events_seen_on_kafka=len(events), loadavg=load,
            connections=sum(c.connections for c in clients), errors=sum(len(c.errors) for c in clients),
            error_examples=[e for c in clients for e in c.errors][:5], cpu_s_during_changes=cpu_used)
        return result

    def _all_delivered(self, clients: list[SseClient], produced: list, on_kafka: dict) -> bool:
        if any(key not in on_kafka for key in produced):
            return False
        summary = deliveries(clients, {key: on_kafka[key] for key in produced})
        return summary["missing"] == 0 and summary["rows_shown"]["count"] == summary["pairs"]

    async def _produce_changes(self) -> list[tuple[str, int]]:
        """Declare an incident, then acknowledge it, and so on, at jittered intervals, as a person
        through the incident API: (number, version) of each change."""
        o = self.options
        headers = {"Authorization": "Bearer " + mint(IDENTITY_KEY.encode(), kind="session", person="bench-producer",
                                                     role="admin", expires_at=datetime.now(UTC) + timedelta(hours=1))}
        produced: list[tuple[str, int]] = []
        rng = random.Random(o.seed)
        # Connections idle for seconds between changes: closed before uvicorn's keep-alive (5 s) could.
        async with httpx.AsyncClient(base_url=self.url("incidents"), timeout=30, headers=headers,
                                     limits=httpx.Limits(keepalive_expiry=1.0)) as api:
            number = None
            for n in range(o.events):
                await asyncio.sleep(o.event_interval_s * rng.uniform(0.5, 1.5))
                if number is None:
                    answer = await api.post("/api/v1/incidents", json={"title": f"bench live change {n}", "severity": 3})
                else:
                    answer = await api.post(f"/api/v1/incidents/{number}/acknowledge", json={})
                if answer.status_code not in (200, 201):
                    raise RuntimeError(f"changing an incident failed: {answer.status_code} {answer.text[:200]}")
                body = answer.json()
                produced.append((body["number"], body["version"]))
                number = None if number else body["number"]
        return produced

    async def _watch_incident_topic(self, on_kafka: dict[tuple[str, int], float]) -> None:
        topic = self.prefix + Topic.INCIDENTS
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
            await consumer.seek_to_end()
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = decode(IncidentEvent, record.value)
                        on_kafka[(event.number, event.version)] = record.timestamp / 1000
        finally:
            await consumer.stop()

    # ---- the whole run -------------------------------------------------------------------------

    async def run(self) -> dict:
        started = datetime.now(UTC)
        set_up = await self.open()
        self.progress("pages (sequential, then concurrent) ...")
        pages = await self.pages()
        self.progress(f"live streams: {self.options.sse_clients} browsers ...")
        live = await self.live()
        return {"started_at": started.strftime("%Y%m%dT%H%M%SZ"), "options": asdict(self.options),
                "machine": {"cpus": os.cpu_count(), "loadavg_end": _loadavg()}, **set_up,
                "seeded": asdict(self.seeded), "pages": pages, "live": live, "targets": targets(pages, live)}


def _expect(path: str, body: str) -> bool:
    """A page that shows what was asked for: incidents in a list, the incident's number on its page."""
    if path.startswith("/incidents/INC-"):
        return f'data-number="{path.rsplit("/", 1)[1]}"' in body
    return 'data-testid="incident-list"' in body and 'id="incident-INC-' in body


def _loadavg() -> str:
    """The machine's load average over 1, 5 and 15 minutes (other work shares its two cores)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def targets(pages: dict, live: dict) -> dict:
    out = {}
    for kind, row in pages.items():
        p99 = max(v["p99"] for k, v in row.items() if k.startswith("console_c"))
        out[f"{kind}: console p99 ≤ {PAGE_TARGET_MS:g} ms"] = {"measured_ms": p99, "met": p99 <= PAGE_TARGET_MS}
    for name in ("sse_received", "rows_shown"):
        worst = live[name]["max"]
        out[f"live {name}: every browser ≤ {LIVE_TARGET_MS:g} ms"] = {
            "measured_ms": worst, "met": worst is not None and worst <= LIVE_TARGET_MS and live["missing"] == 0}
    return out


