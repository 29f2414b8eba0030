"""Readers during a load: the old or the new state, never a mix, never blocking the writer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.warehouse.connection import connect
from tests.fixtures.cur import write_cur2
from tests.fixtures.warehouse_state import REPO, ingest, period_totals

pytestmark = pytest.mark.slow


def test_readers_see_old_or_new_and_never_block_the_writer(tmp_path: Path) -> None:
    first, restated = tmp_path / "first", tmp_path / "restated"
    write_cur2(first, "2026-09")
    write_cur2(first, "2026-10", scale=2.0)
    write_cur2(restated, "2026-09", parts=3, scale=3.0)
    write_cur2(restated, "2026-10", parts=2, scale=5.0)
    warehouse = tmp_path / "warehouse"
    assert ingest(warehouse, "aws", str(first)) == 0
    old = period_totals(warehouse)
    reference = tmp_path / "reference"
    shutil.copytree(warehouse, reference)
    assert ingest(reference, "aws", str(restated)) == 0
    new = period_totals(reference)
    assert all(old[p] != new[p] for p in old)

    held = connect(warehouse)  # a reader that stays open across the whole load
    env = {**os.environ, "FINOPS_TEST_PAUSE_AT": "commit", "FINOPS_TEST_PAUSE_S": "1.5"}
    writer = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "--warehouse", str(warehouse), "ingest", "aws",
         str(restated)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    seen: list[dict] = []
    started = time.monotonic()
    while writer.poll() is None and time.monotonic() - started < 60:
        seen.append(period_totals(warehouse))  # a fresh snapshot each time, as the dashboard
        held.execute("select sum(BilledCost) from cost_lines").fetchone()
    assert writer.wait(timeout=60) == 0, writer.stderr.read()
    writer.stderr.close()

    # Each period is read whole: its old or its new lines, never some of each.
    for snapshot in seen:
        assert set(snapshot) == set(old)
        assert all(snapshot[p] in (old[p], new[p]) for p in snapshot), snapshot
    assert old in seen  # readers ran while the load was under way
    assert period_totals(warehouse) == new
    # The reader opened before the load still sees its own snapshot, and never held a lock.
    rows = held.execute(
        "select strftime(BillingPeriodStart, '%Y-%m'), count(*), sum(BilledCost), "
        "sum(EffectiveCost) from cost_lines group by 1 order by 1"
    ).fetchall()
    assert {p: (n, b, e) for p, n, b, e in rows} == old
