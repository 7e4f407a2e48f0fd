"""Property-based fuzzing of every Vigil service's OpenAPI document with schemathesis (issue 17):
`python -m bench.fuzz_openapi [--cases N] [--service NAME] [--seed S]`.

It starts a throw-away Kafka broker and PostgreSQL and the four services the way the tests do
(tests/services.py `start_service`: uvicorn in a thread, real Kafka, real PostgreSQL), loads each
service's `/openapi.json` and, operation by operation, sends requests that schemathesis generates
from the document (valid ones and ones that break it: wrong types, missing fields, NUL and control
characters, huge numbers ...), with an admin token (on ingest's Alertmanager webhook, its webhook token). Each answer must

- not be a server error: any 5xx fails, 503 included (nothing is down during the run);
- have a status code the operation documents, a documented content type, and a body valid
  against the documented schema.

And no consumer may retry an event the services accepted (one they cannot store holds up its
partition for ever).

Some cases name what exists (path parameters taken from the collections the API lists), so they
get past the 404 of an unknown name. The cases go to each operation in turn, as many each, then
the operations whose inputs did not run out are topped up until `--cases` were sent in all.

It prints the seed (`--seed S` sends the same cases again; what the services hold then may
differ), per service the operations, cases, 5xx and failures by check, writes
`bench/results/fuzz-openapi-<started_at>.json`, and exits 1 when any case failed. `make test` runs
a short, derandomized run of the same code (tests/faults/test_openapi_fuzz.py).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import HypothesisDeprecationWarning
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

# Every check on every operation (none needed switching off). `not_a_server_error` keeps
# schemathesis's expected statuses, 2xx to 4xx: any 5xx fails, 503 too.
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
REQUEST_TIMEOUT_S = 30
PATH_PARAMETER = re.compile(r"\{(\w+)\}")
WEBHOOK_PREFIX = "/api/v1/webhooks/"
MAX_TOP_UP_ROUNDS = 5
CONSUMERS_SETTLE_S = 5  # after the last case, for the consumers to take what it produced
SERVICES = ("ingest", "incidents", "escalator", "slo")
# The generation's settings, not a schemathesis.toml found on the way: every case carries the
# valid token (`Target.headers`), none a generated or left-out Authorization header.
CONFIG = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})


@dataclass(frozen=True)
class Failure:
    """One check that failed for one request, with what reproduces it."""

    service: str
    operation: str
    check: str
    request: str  # METHOD /path?query
    body: Any
    status: int | None
    answer: str
    problem: str  # what schemathesis says is wrong
    curl: str

    def __str__(self) -> str:
        body = "" if self.body is None else f"\n  body: {self.body!r:.500}"
        return (f"{self.service} {self.operation}: {self.check}\n  {self.request} -> {self.status}{body}\n"
                f"  answer: {self.answer:.500}\n  problem: {self.problem:.800}\n  reproduce: {self.curl:.1500}")


@dataclass
class ServiceRun:
    """What fuzzing one service found."""

    service: str
    operations: int = 0
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def failures_by_check(self) -> dict[str, int]:
        return dict(Counter(f.check for f in self.failures))

    def summary(self) -> dict:
        return {
            "operations": self.operations, "cases": self.cases, "server_errors": self.server_errors,
            "failures_by_check": self.failures_by_check(), "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "duration_s": round(self.duration_s, 1), "failures": [f.__dict__ for f in self.examples()],
        }

    def examples(self, per_kind: int = 3) -> list[Failure]:
        """The first few failures of each kind (operation, check, status)."""
        seen: Counter = Counter()
        out = []
        for f in self.failures:
            seen[(f.operation, f.check, f.status)] += 1
            if seen[(f.operation, f.check, f.status)] <= per_kind:
                out.append(f)
        return out


def failure_of(service: str, case, *, check: str, response, headers: dict[str, str], problem: str) -> Failure:
    """The failure of `check` for `case`, answered by `response` (None: no answer)."""
    from schemathesis.core import NOT_SET

    query = f"?{urlencode(case.query, doseq=True)}" if case.query else ""
    return Failure(
        service=service, operation=case.operation.label, check=check, request=f"{case.method} {case.formatted_path}{query}",
        body=None if case.body is NOT_SET else case.body, status=None if response is None else response.status_code,
        answer="" if response is None else response.text[:1000], problem=problem[:2000], curl=case.as_curl_command(headers=headers),
    )


def _check_case(service: str, case, response, headers: dict[str, str], run: ServiceRun) -> None:
    for check in CHECKS:  # one at a time, to tell which failed
        try:
            case.validate_response(response, checks=[check], headers=headers)
        except FailureGroup as group:
            problem = "\n".join(str(f) for f in group.exceptions)
            run.failures.append(failure_of(service, case, check=check.__name__, response=response, headers=headers, problem=problem))


class Stopped(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM)."""


@dataclass
class Target:
    """One running service to fuzz: its schema, its operations and what the fuzzing found."""

    service: str
    base_url: str
    token: str
    known: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> values that name what exists
    webhook_token: str | None = None  # ingest: the Alertmanager webhook's own token (`token` is an admin's)
    schema: Any = field(init=False)
    operations: list = field(init=False)
    run: ServiceRun = field(init=False)
    headers: dict[str, str] = field(init=False)  # every case's: the valid token

    def __post_init__(self) -> None:
        self.schema = schemathesis.openapi.from_url(f"{self.base_url}/openapi.json", config=CONFIG)
        self.operations = [result.ok() for result in self.schema.get_all_operations()]
        self.run = ServiceRun(self.service, operations=len(self.operations))
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def headers_for(self, path: str) -> dict[str, str]:
        """The valid token for `path`: the webhook's on ingest's webhook, the admin's elsewhere."""
        if self.webhook_token and path.startswith(WEBHOOK_PREFIX):
            return {"Authorization": f"Bearer {self.webhook_token}"}
        return self.headers


def _items(session: requests.Session, target: Target, path: str) -> list[dict]:
    """What the collection at `path` lists (a GET answering a list, or `{"items": [...]}`), newest
    first as the API lists them; nothing when it is no such collection."""
    try:
        response = session.get(target.base_url + path, headers=target.headers, timeout=REQUEST_TIMEOUT_S)
    except requests.RequestException:
        return []
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return []
    items = response.json()
    items = items.get("items", []) if isinstance(items, dict) else items
    return [item for item in items if isinstance(item, dict)]


def existing_path_values(session: requests.Session, target: Target, path: str, per_param: int = 3) -> list[dict[str, str]]:
    """Path parameters that name what exists now, so that some cases get past the 404 of an unknown
    name. Each comes from the collection in front of it: `/api/v1/schedules/{name}/overrides/{override_id}`
    takes a name GET /api/v1/schedules lists and an id GET /api/v1/schedules/<name>/overrides
    lists; an item may name the parameters after it too (a report's `kind` and `period`). Where
    the API lists nothing, the values the target knows (`Target.known`)."""
    params = PATH_PARAMETER.findall(path)
    combos: list[dict[str, str]] = [{}]
    for i, match in enumerate(PATH_PARAMETER.finditer(path)):
        param = match.group(1)
        if all(param in combo for combo in combos):  # named by an earlier collection's items
            continue
        collection = path[: match.start()].rstrip("/")
        grown = []
        for combo in combos:
            items = _items(session, target, collection.format(**{k: quote(v, safe="") for k, v in combo.items()}))
            for item in items[:per_param]:
                value = next((item[k] for k in (param, "id", "name") if item.get(k) is not None), None)
                later = {p: str(item[p]) for p in params[i + 1:] if item.get(p) is not None}
                grown += [] if value is None else [{**combo, param: str(value), **later}]
            if not items:
                grown += [{**combo, param: value} for value in target.known.get(param, [])[:per_param]]
        combos = grown
    return [combo for combo in combos if len(combo) == len(params) > 0]


def fuzz_operation(target: Target, operation, *, session: requests.Session, cases: int, seed: int | None,
                   stop: threading.Event) -> int:
    """Send up to `cases` generated requests to one operation (fewer when its inputs run out): valid
    ones, ones that break the schema, and valid ones naming what exists. With `seed` None the
    examples are derandomized (the same every run). Returns how many were sent."""
    run = target.run
    strategies = [operation.as_strategy(generation_mode=mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    existing = existing_path_values(session, target, operation.path)
    if existing:
        strategies.append(st.one_of([operation.as_strategy(path_parameters=values) for values in existing]))
    sent, headers = 0, target.headers_for(operation.path)

    # Failures are recorded, not raised: every case runs and nothing is shrunk.
    @hypothesis.settings(
        max_examples=cases, derandomize=seed is None, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(st.one_of(strategies))
    def send(case) -> None:
        nonlocal sent
        if stop.is_set():
            raise Stopped
        sent += 1
        try:
            response = case.call(base_url=target.base_url, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as exc:
            run.failures.append(failure_of(target.service, case, check="transport", response=None, headers=headers,
                                           problem=repr(exc)))
            return
        run.statuses[response.status_code] += 1
        _check_case(target.service, case, response, headers, run)

    if seed is not None:
        send = hypothesis.seed(seed)(send)
    with warnings.catch_warnings():
        # schemathesis's own strategies use `random` (Hypothesis seeds it for every example)
        warnings.filterwarnings("ignore", category=HypothesisDeprecationWarning)
        try:
            send()
        except Stopped:
            pass
    run.cases += sent
    return sent


def fuzz(targets: list[Target], *, cases_per_operation: int, seed: int | None = None, total: int | None = None,
         stop: threading.Event | None = None, progress: bool = False) -> None:
    """Fuzz every operation of every target, `cases_per_operation` each; with `total`, then top up
    the operations whose inputs did not run out until `total` cases were sent in all (a new seed
    each round). `seed` None: derandomized examples."""
    stop = stop or threading.Event()
    open_ops = [(t, op) for t in targets for op in t.operations]
    budget, round_ = cases_per_operation, 0
    with requests.Session() as session:
        while open_ops and not stop.is_set():
            still_open = []
            for target, operation in open_ops:
                if stop.is_set():
                    break
                began = time.monotonic()
                sent = fuzz_operation(target, operation, session=session, cases=budget,
                                      seed=None if seed is None else seed + round_, stop=stop)
                target.run.duration_s += time.monotonic() - began
                if sent >= budget:
                    still_open.append((target, operation))
                if progress:
                    print(f"  {target.service:<9} {operation.label:<60} {sent:>5} cases in {time.monotonic() - began:5.1f} s, "
                          f"{len(target.run.failures)} failures so far", flush=True)
            sent_in_all = sum(t.run.cases for t in targets)
            if total is None or sent_in_all >= total or round_ >= MAX_TOP_UP_ROUNDS:
                return
            open_ops, round_ = still_open, round_ + 1
            budget = math.ceil((total - sent_in_all) / max(1, len(open_ops)))


def target_of(service: str, running: Any) -> Target:
    """A service started by tests/services.py `start_service`, with an admin token (and on ingest's
    webhook, its webhook token) and the names its settings give: the escalator's people, the SLO
    definitions."""
    from services.escalator.oncall_config import load_yaml
    from tests.services import INGEST_TOKEN, TOKENS

    known: dict[str, list[str]] = {}
    if service == "escalator":
        config = load_yaml(running.settings.escalator_config_file.read_text())
        known["person"] = sorted({p for s in config.schedules for r in (s.primary, s.backup) for p in r.participants})
    if service == "slo":  # the definitions for every service (`*`) apply to any service name
        known.update(service=["checkout"], slo=[d.name for d in running.settings.definitions() if d.service == "*"])
    return Target(service, running.url, TOKENS["admin"], known=known,
                  webhook_token=INGEST_TOKEN if service == "ingest" else None)


# -- the bench command: its own Kafka and PostgreSQL, the services as the tests start them ------------


@contextmanager
def running_services(names: list[str], workdir: Path) -> Iterator[dict[str, Any]]:
    """Kafka, PostgreSQL and the named services (tests/services.py), stopped at the end."""
    from shared.local.kafka_broker import LocalKafka, free_port
    from shared.local.postgres_server import LocalPostgres
    from tests.services import service_settings, start_service

    kafka = LocalKafka(workdir / "kafka", port=free_port(), controller_port=free_port(), heap="384m", partitions=3)
    postgres = LocalPostgres(workdir / "postgres", port=free_port())
    with ExitStack() as stack:
        kafka.start()
        stack.callback(kafka.stop)
        postgres.start()
        stack.callback(postgres.stop)
        prefix = f"fuzz{random.randrange(16**8):08x}."
        services = {}
        for name in names:
            settings = service_settings(name, bootstrap=kafka.bootstrap_servers, database_url=postgres.url, topic_prefix=prefix)
            services[name] = stack.enter_context(start_service(name, settings))
        yield services


def consumer_outcomes() -> dict[str, int]:
    """What the services' consumers did with the events the fuzzed requests put on Kafka, by
    outcome (ok, retry, dlq). A retry is an event the services accepted but cannot store: it holds
    up its partition. (The services run in this process: one Prometheus registry.)"""
    from shared.kafka import CONSUMED

    outcomes: Counter = Counter()
    for metric in CONSUMED.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                outcomes[sample.labels["outcome"]] += int(sample.value)
    return dict(outcomes)


class FuzzBench:
    """`run_and_save`'s benchmark: the fuzzing runs in a worker thread (hypothesis and requests are
    synchronous); `cleanup` stops it between two cases."""

    def __init__(self, workdir: Path, *, names: list[str], cases: int, seed: int) -> None:
        self.workdir, self.names, self.cases, self.seed = workdir, names, cases, seed
        self.stop = threading.Event()
        self.future: asyncio.Future | None = None

    def _fuzz_all(self) -> dict:
        started_at = datetime.now(UTC)
        began = time.monotonic()
        with running_services(self.names, self.workdir) as services:
            print(f"services up in {time.monotonic() - began:.0f} s; fuzzing (seed {self.seed}) ...", flush=True)
            targets = [target_of(name, services[name]) for name in self.names]
            operations = sum(len(t.operations) for t in targets)
            fuzz_began = time.monotonic()
            fuzz(targets, cases_per_operation=math.ceil(self.cases / operations), seed=self.seed, total=self.cases,
                 stop=self.stop, progress=True)
            fuzz_s = time.monotonic() - fuzz_began
            time.sleep(CONSUMERS_SETTLE_S)
            consumers = consumer_outcomes()
        if self.stop.is_set():
            raise asyncio.CancelledError
        runs = [t.run for t in targets]
        return {
            "benchmark": "fuzz_openapi",
            "started_at": started_at.strftime("%Y%m%dT%H%M%SZ"),
            "seed": self.seed,
            "cases_requested": self.cases,
            "checks": [c.__name__ for c in CHECKS],
            "services": {r.service: r.summary() for r in runs},
            "consumers": consumers,
            "total": {
                "operations": sum(r.operations for r in runs), "cases": sum(r.cases for r in runs),
                "server_errors": sum(r.server_errors for r in runs), "failures": sum(len(r.failures) for r in runs),
                "failures_by_check": dict(sum((Counter(r.failures_by_check()) for r in runs), Counter())),
                "fuzz_s": round(fuzz_s, 1), "duration_s": round(time.monotonic() - began, 1),
            },
        }

    async def run(self) -> dict:
        self.future = asyncio.get_running_loop().run_in_executor(None, self._fuzz_all)
        return await asyncio.shield(self.future)

    async def cleanup(self) -> None:
        self.stop.set()
        if self.future is not None:
            await asyncio.wait([self.future])


def print_table(results: dict) -> None:
    checks = [*results["checks"], "transport"]  # transport: no answer at all (refused, reset, timed out)
    print(f"\nseed {results['seed']}; checks: {', '.join(checks)}")
    header = f"{'service':<10} {'operations':>10} {'cases':>7} {'5xx':>5} " + " ".join(f"{c:>28}" for c in checks)
    print(header)
    rows = [*results["services"].items(), ("total", results["total"])]
    for name, r in rows:
        by_check = r["failures_by_check"]
        print(f"{name:<10} {r['operations']:>10} {r['cases']:>7} {r['server_errors']:>5} "
              + " ".join(f"{by_check.get(c, 0):>28}" for c in checks))
    print(f"fuzzing {results['total']['fuzz_s']} s, in all {results['total']['duration_s']} s; "
          f"the consumers' messages by outcome: {results['consumers']}")
    for r in results["services"].values():
        for failure in r["failures"][:5]:
            print("\n" + str(Failure(**failure)))


def main(argv: list[str] | None = None) -> int:
    from bench.harness import REPO, run_and_save, run_main
    from shared.observability import configure_logging

    configure_logging(level="warning", fmt="console")  # the services' lines; their 422s are the point here
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases in all, across the services (default 10,000)")
    parser.add_argument("--service", action="append", choices=SERVICES, help="only this service (repeatable)")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    names = args.service or list(SERVICES)
    print(f"fuzzing {', '.join(names)} with {args.cases:,} cases, seed {seed}", flush=True)
    return run_main(lambda: run_and_save(
        lambda workdir: FuzzBench(workdir, names=names, cases=args.cases, seed=seed),
        name="fuzz-openapi", results_dir=REPO / "bench" / "results", print_table=print_table,
        stopping="the services, Kafka and PostgreSQL", logs_of="Kafka and PostgreSQL",
        checks_passed=lambda r: r["total"]["failures"] == 0 and not r["consumers"].get("retry"),
        failed="a fuzzed request got a server error or an answer its schema does not document, "
               "or a consumer retried an event the services had accepted", check_targets=False,
    ))


if __name__ == "__main__":
    sys.exit(main())
