"""`shared.runtime.freeze_startup_heap`: what is alive at start-up leaves the collector's walks."""

from __future__ import annotations

import gc

import pytest

from shared.runtime import freeze_startup_heap


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


def test_gen0_threshold_is_raised_and_the_older_generations_keep_theirs(restore_gc) -> None:
    gc.set_threshold(700, 11, 12)
    freeze_startup_heap(gen0_threshold=20_000)
    assert gc.get_threshold() == (20_000, 11, 12)


def test_without_a_threshold_the_thresholds_stay(restore_gc) -> None:
    gc.set_threshold(700, 10, 10)
    freeze_startup_heap()
    assert gc.get_threshold() == (700, 10, 10)
