"""A tiny run of `bench/console.py` (the full run is `python -m bench.console`) on the test session's
broker and PostgreSQL, with `python -m services.incidents|console` processes: seeding by COPY, every
measured page answering as the signed-in person, and every browser's live stream hearing of every
incident change (through a reconnect too: the streams end every 3 s). No timing is asserted here."""

from __future__ import annotations

import pytest

from bench.console import ConsoleBench, Options, describe

pytestmark = pytest.mark.integration

TINY = Options(incidents=500, timeline_rows=5_000, sse_clients=10, requests=10, concurrency=2, events=4,
               event_interval_s=0.5, live_stream_s=3.0, sse_ramp_s=1.0, escalator=False)


async def test_a_tiny_console_benchmark_measures_every_page_and_every_browser_hears_of_every_change(
        kafka_broker, postgres_server, tmp_path):
    bench = ConsoleBench(workdir=tmp_path, bootstrap=kafka_broker.bootstrap_servers, admin_url=postgres_server.url,
                         options=TINY, progress=lambda line: print(line, flush=True))
    try:
        results = await bench.run()
    finally:
        await bench.close()
    print("\n" + describe(results))
    seeded = results["seeded"]
    assert (seeded["incidents"], seeded["timeline_rows"]) == (500, 5_000)
    assert seeded["open"] > 0 and seeded["alerts"] > 0
    assert max(seeded["timeline_length"].values()) > 10 * min(seeded["timeline_length"].values())
    assert len(results["pages"]) == 6
    for row in results["pages"].values():
        assert row["console_c1"]["count"] == row["api_c2"]["count"] == 10
    live = results["live"]
    assert live["events_seen_on_kafka"] == live["events_produced"] == 4
    assert live["missing"] == 0 and live["clients_with_every_event"] == 10, live
    assert live["rows_shown"]["count"] == live["pairs"] == 40, live
    assert live["errors"] == 0, live["error_examples"]
    assert live["connections"] > 10, "no stream ended and was opened again during the changes"
