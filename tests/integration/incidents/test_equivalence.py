"""A short seeded run of `bench/incidents_equivalence.py` (the full run is `python -m
bench.incidents_equivalence`): random alert streams folded one by one and through the batched path
(`handle_alerts`, what the consumer runs) leave identical databases, row by row, ids included."""

from __future__ import annotations

import re

import pytest

from bench.incidents_equivalence import check

pytestmark = pytest.mark.integration


async def test_the_batched_alert_path_leaves_the_database_the_one_by_one_path_leaves(postgres_server, capsys):
    # Six streams cover each grouping rule (seed % 3) with and without a reopen window (seed % 2).
    assert await check(postgres_server.url, streams=6, events=300, rev=None, first_seed=100) == 0
    out = capsys.readouterr().out
    streams = re.findall(r"^stream .*: (\d+) incidents, .*: identical$", out, re.MULTILINE)
    assert len(streams) == 6, out
    assert sum(map(int, streams)) > 0, "the streams opened no incident: nothing was compared"
    assert "6/6 streams identical to the current one by one" in out
