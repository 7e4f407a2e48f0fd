"""The notifier's faults (issue 18), the short form of `bench/notifier_faults.py` (same code) on the
test session's broker and PostgreSQL, with `python -m services.notifier` processes and real peers:
a (5 s) SMTP outage under 50 pages/s ends with every expected mail delivered exactly once (counted by
Message-ID), and a notifier SIGKILLed mid-burst and started again loses no page; what it sends
twice is only what it had handed to a peer without storing the outcome (its rows in `sending`),
with the same Message-ID / webhook-id. (A webhook answering 500 then 200, and 410:
tests/integration/notifier/test_delivery.py.)"""

from __future__ import annotations

import pytest

from bench.notifier_faults import NotifierFaults, Options, describe

pytestmark = pytest.mark.integration

RATE = 50.0


@pytest.fixture
async def faults(kafka_broker, postgres_server, tmp_path):
    # The lease of a killed notifier's rows is send timeout * 2 + 10 s: 14 s here.
    harness = NotifierFaults(workdir=tmp_path, bootstrap=kafka_broker.bootstrap_servers, admin_url=postgres_server.url,
                             options=Options(send_timeout_s=2.0), progress=lambda line: print(line, flush=True))
    try:
        await harness.open()
        yield harness
    finally:
        await harness.close()


async def test_every_mail_arrives_exactly_once_after_a_5_s_smtp_outage_under_50_pages_a_second(faults):
    # 5 s, not more: the retries' backoff (full jitter from 1 s, doubling from 5 s to 300 s) lets some
    # of the ~250 failing deliveries reach their 4th or 5th attempt within the outage, so the last
    # mail comes up to ~40 s after the server returns (10 s: up to ~110 s; bench/notifier_faults.py).
    outage = await faults.smtp_outage(rate=RATE, outage_s=5, edge_s=2)
    print("\n" + describe("SMTP outage", outage))
    assert outage["missing"] == 0, f"mails lost: {outage['examples']['missing']}"
    assert outage["duplicated"] == 0, f"mails sent twice without a crash: {outage['examples']['duplicated']}"
    assert outage["unexpected"] == 0 and outage["rows"]["failed"] == 0
    assert outage["rows"]["retried"] > 0, "the outage was not felt: nothing was retried"
    assert outage["passed"]


async def test_no_page_is_lost_when_the_notifier_is_sigkilled_mid_burst_and_duplicates_are_only_its_orphans(faults):
    trials = [await faults.kill_trial(n, rate=RATE, burst_s=4) for n in range(2)]
    print()
    for n, trial in enumerate(trials):
        print(describe(f"SIGKILL trial {n + 1}", trial))
    for trial in trials:
        assert trial["missing"] == 0, f"pages lost: {trial['examples']['missing']}"
        assert trial["unexpected"] == 0 and trial["rows"]["failed"] == 0
        assert not trial["duplicated_not_orphaned"], "sent twice outside the crash window"
        assert trial["passed"]
