"""`shared.runtime`: what is alive at start-up leaves the collector's walks (`freeze_startup_heap`); the
process entry point sets the thresholds of the service it runs (`tune_gc`)."""

from __future__ import annotations

import gc

import pytest

from shared.runtime import freeze_startup_heap, tune_gc


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_objects_alive_at_the_call_are_frozen(restore_gc) -> None:
    gc.unfreeze()
    survivor = [object() for _ in range(1000)]
    freeze_startup_heap()
    assert gc.get_freeze_count() >= len(survivor)
    # Frozen objects are in the permanent generation, which no collection (and get_objects) walks.
    assert all(obj is not survivor for obj in gc.get_objects())


def test_the_entry_point_sets_the_services_thresholds(restore_gc) -> None:
    from services.ingest.app import GC_THRESHOLDS

    gc.set_threshold(700, 11, 12)
    tune_gc(GC_THRESHOLDS)
    assert gc.get_threshold() == GC_THRESHOLDS == (20_000, 10, 10)


def test_without_thresholds_python_keeps_its_own(restore_gc) -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc(None)
    freeze_startup_heap()
    assert gc.get_threshold() == (700, 10, 10)
