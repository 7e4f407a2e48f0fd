"""The short form of `python -m bench.faults` (issue 17), on the same code: every service SIGKILLed
once mid-stream and started again, one replica of each consumer service killed while its twin runs,
and a few seconds of a storm. Alerts flow through ingest (10 per webhook, each webhook its own
incident, every incident paging the primary at once and the backup 3 s later) and metrics events
to the SLO service the whole time; after each load every alert answered 2xx must be in its group's
one incident, every incident's `opened` event and both its pages on Kafka (never a second page id
for one step), every acknowledged metrics event folded and the SLO API's counts equal to it.

The long form (10 trials each, the broker killed too, 5,000 alerts/s for 3 minutes) and its figures
are `python -m bench.faults`; docs/reliability.md has them."""

from __future__ import annotations

import json

import pytest

from bench.faults import Faults, Options, Stack
from bench.faults_stack import SERVICES

pytestmark = pytest.mark.integration

SHORT = Options(
    trials=1, rate=200.0, per_notification=10, metrics_rate=20.0, trial_s=6.0, fault_at_s=2.0, after_fault_s=2.0,
    minutes=5 / 60, storm_rate=1000.0, storm_per_notification=50, storm_metrics_rate=50.0, drain_timeout_s=90.0,
)


@pytest.fixture(scope="module")
async def faults(kafka_broker, postgres_server, tmp_path_factory):
    """One stack for the module: its own database, topics and consumer groups on the session's broker
    and PostgreSQL; the services are processes of their own (`python -m services.<name>`)."""
    stack = Stack(workdir=tmp_path_factory.mktemp("faults"), bootstrap=kafka_broker.bootstrap_servers,
                  admin_url=postgres_server.url, postgres=postgres_server, backup_after_s=3.0)
    run = Faults(stack, SHORT, progress=lambda line: print(line, flush=True))
    try:
        await run.start()
        yield run
    finally:
        await run.close()


def described(outcome: dict) -> str:
    trials = [{k: t.get(k) for k in ("tag", "ingest", "alerts", "incident_events", "pages", "metrics", "recovery",
                                     "service_log_warnings", "problems")} for t in outcome["trials"]]
    return json.dumps({"problems": outcome["problems"], "trials": trials}, indent=1, default=str)


def assert_nothing_lost(outcome: dict) -> dict:
    assert outcome["passed"], described(outcome)
    [trial] = outcome["trials"]
    # The checks had something to check: alerts accepted, incidents paged, metrics folded.
    assert trial["alerts"]["accepted"] > 0 and trial["pages"]["due"] > 0 and trial["metrics"]["acked"] > 0, described(outcome)
    assert trial["alerts"]["lost"] == trial["pages"]["missing"] == trial["metrics"]["lost"] == 0
    assert trial["pages"]["paged_twice_with_other_ids"] == 0
    return trial


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_sigkilled_mid_stream_and_restarted_loses_no_alert_incident_page_or_fold(faults, service):
    trial = assert_nothing_lost(await faults.kill(service))
    # It came back by itself: a 2xx, an incident event, a page or a fold after the kill.
    assert trial["recovery"][service]["first_effect_s"] is not None, described({"problems": [], "trials": [trial]})


async def test_with_two_replicas_one_sigkilled_nothing_is_lost_or_paged_twice(faults):
    trial = assert_nothing_lost(await faults.replicas())
    assert sorted(trial["fault"]["killed"]) == ["escalator-1", "incidents-1", "slo-1"]


async def test_a_short_storm_loses_nothing_and_no_service_grows_without_bound(faults):
    outcome = await faults.storm()
    trial = assert_nothing_lost(outcome)
    assert trial["alerts"]["accepted"] >= 1000, described(outcome)
    assert not trial["rss"]["problems"]
