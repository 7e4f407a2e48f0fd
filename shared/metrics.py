"""Each service's own Prometheus registry, so its `/metrics` serves its own series — in a container,
and under `vigil dev`, where every service runs in one process.

Metrics stay module-level definitions, registered into the registry of the service whose package
defines them:

    ALERTS = Counter("vigil_ingest_alerts_total", "…", ["status"], registry=own_registry(__name__))

Plumbing in `shared/` that every service runs (the consumer loop, the producer, the outbox relay)
records into the registry of the service it runs for: `PerService` makes one metric per registry and
`of(service)` picks it (the producer is told its service by `build_app`). Code that runs for no
service (a test's own consumer loop) records into prometheus_client's default registry.

The process's own collectors (CPU, memory, open files, garbage collector) stay in the default
registry; the first service built in a process serves them next to its own series
(`claim_process_metrics`): the only one in a container, ingest under `vigil dev`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

_registries: dict[str, CollectorRegistry] = {}
_lock = threading.RLock()
_process_claimed = False

M = TypeVar("M", bound=MetricWrapperBase)


def registry(service: str | None) -> CollectorRegistry:
    """The registry of `service` ("ingest", "incidents", …), made on first use; None: the default one."""
    if service is None:
        return REGISTRY
    with _lock:
        if service not in _registries:
            _registries[service] = CollectorRegistry()
        return _registries[service]


def service_of(module: str) -> str:
    """The service a module belongs to: `services.ingest.events_v2.routes` → `ingest`."""
    parts = module.split(".")
    if len(parts) < 3 or parts[0] != "services":
        raise ValueError(f"{module} is not a module of a service (services.<name>.…)")
    return parts[1]


def own_registry(module: str) -> CollectorRegistry:
    """The registry of the service whose package `module` (a module's `__name__`) is in."""
    return registry(service_of(module))


def claim_process_metrics() -> bool:
    """True for the first caller in the process: that service's `/metrics` also serves the process's
    collectors (served by every service of a `vigil dev` process, they would count several times)."""
    global _process_claimed
    with _lock:
        claimed, _process_claimed = _process_claimed, True
    return not claimed


class PerService(Generic[M]):
    """A metric recorded by shared plumbing: one instance in each service's registry, made on first use."""

    def __init__(self, make: Callable[[CollectorRegistry], M]) -> None:
        self._make = make
        self._by_service: dict[str | None, M] = {}

    def of(self, service: str | None) -> M:
        metric = self._by_service.get(service)
        if metric is None:
            with _lock:
                if (metric := self._by_service.get(service)) is None:
                    metric = self._by_service[service] = self._make(registry(service))
        return metric

    def collect(self) -> Iterator:
        """Every service's samples (for a benchmark that runs several services in one process)."""
        for metric in list(self._by_service.values()):
            yield from metric.collect()
