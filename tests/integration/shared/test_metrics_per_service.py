"""Each service's /metrics serves its own series, also when several services share one process (as
under `vigil dev`): scraping every service counts each series once."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.services import INGEST_TOKEN, service_settings, start_service
from tests.support import wait_for

SERVICE_PREFIXES = ("vigil_ingest_", "vigil_incidents_", "vigil_escalator_", "vigil_slo_", "vigil_notifier_", "vigil_console_")
PROCESS_PREFIXES = ("process_", "python_")


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def alert(fingerprint: str) -> dict:
    return {
        "version": "4", "groupKey": f"{{}}:{{alertname=\"MetricsPerService\",fp=\"{fingerprint}\"}}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "vigil", "groupLabels": {"alertname": "MetricsPerService"},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": "MetricsPerService", "severity": "warning", "fp": fingerprint},
                    "annotations": {"summary": "metrics per service"}, "startsAt": "2026-12-06T10:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fingerprint}],
    }


def test_two_services_in_one_process_each_serve_only_their_own_series(kafka_broker, database_url, topic_prefix):
    bootstrap = kafka_broker.bootstrap_servers
    ingest_settings = service_settings("ingest", bootstrap=bootstrap, database_url=None, topic_prefix=topic_prefix)
    incidents_settings = service_settings("incidents", bootstrap=bootstrap, database_url=database_url, topic_prefix=topic_prefix)
    with start_service("ingest", ingest_settings) as ingest, start_service("incidents", incidents_settings) as incidents:
        posted = httpx.post(f"{ingest.url}/api/v1/webhooks/alertmanager", json=alert("metrics-per-service-1"),
                            headers={"Authorization": f"Bearer {INGEST_TOKEN}"}, timeout=10)
        assert posted.status_code == 200, posted.text

        def consumed() -> bool:
            samples = families(httpx.get(f"{incidents.url}/metrics").text).get("vigil_consumer_messages", [])
            return any(s.value > 0 for s in samples if s.name.endswith("_total"))

        wait_for(consumed, timeout_s=30, what="the incident service's consumer counted the alert")
        ingest_metrics = families(httpx.get(f"{ingest.url}/metrics").text)
        incidents_metrics = families(httpx.get(f"{incidents.url}/metrics").text)

    def own(metrics: dict, service: str) -> set[str]:
        return {n for n in metrics if n.startswith(SERVICE_PREFIXES) and not n.startswith(f"vigil_{service}_")}

    assert own(ingest_metrics, "ingest") == set()
    assert own(incidents_metrics, "incidents") == set()
    assert "vigil_ingest_payloads" in ingest_metrics and "vigil_incidents_open" in incidents_metrics
    # The shared plumbing counts for the service it runs for: ingest consumes nothing.
    assert not [s for s in ingest_metrics.get("vigil_consumer_messages", []) if s.value]
    relayed = [s for s in incidents_metrics["vigil_outbox_relayed"] if s.name.endswith("_total")]
    assert {s.labels["schema"] for s in relayed} == {"incidents"}
    # The process's collectors (CPU, memory, GC) on one service at most, never on both.
    with_process = [m for m in (ingest_metrics, incidents_metrics) if any(n.startswith(PROCESS_PREFIXES) for n in m)]
    assert len(with_process) <= 1


def test_no_service_metric_is_left_in_the_default_registry():
    import services.console.app  # noqa: F401 - importing the apps defines every module-level metric
    import services.escalator.app  # noqa: F401
    import services.incidents.app  # noqa: F401
    import services.ingest.app  # noqa: F401
    import services.notifier.app  # noqa: F401
    import services.slo.app  # noqa: F401

    assert [m.name for m in REGISTRY.collect() if m.name.startswith(SERVICE_PREFIXES)] == []
