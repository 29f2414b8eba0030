"""Crash safety: SIGKILL `finops ingest` at each point of a load; the last commit stays whole.

The store pauses at a named point when FINOPS_TEST_PAUSE_AT is set (ingest/warehouse/pause.py
`pause_point`): after staging, before the Delta commit, with the new data file moved into the
table but not committed, and after the commit but before the loads record. The test kills the
process there, then
checks that every billing period reads exactly as it did before or exactly as the new export
says, that `finops vacuum` removes the leftovers, and that a rerun completes exactly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect
from tests.fixtures.cur import STORED_ROWS, cur2_table, expected_billed, write_cur2
from tests.fixtures.kill import run_until
from tests.fixtures.warehouse_state import ingest, period_totals

pytestmark = pytest.mark.slow


def unreferenced(root: Path) -> set[str]:
    """cost_lines data files that no version of the table references."""
    table = DeltaTable(str(root / "cost_lines"))
    referenced = set()
    for version in range(table.version() + 1):
        referenced |= {
            os.path.normpath(u)
            for u in DeltaTable(str(root / "cost_lines"), version=version).file_uris()
        }
    on_disk = {os.path.normpath(str(p)) for p in (root / "cost_lines").rglob("*.parquet")}
    return on_disk - referenced


def loaded_ids(root: Path) -> set[str]:
    return {r[0] for r in connect(root).execute("select load_id from loads").fetchall()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("crash")
    first = base / "first"
    write_cur2(first, "2026-09")
    write_cur2(first, "2026-10", scale=2.0)
    restated = base / "restated"
    write_cur2(restated, "2026-09", parts=3, scale=3.0)
    warehouse = base / "warehouse"
    assert ingest(warehouse, "aws", str(first)) == 0
    old = period_totals(warehouse)
    reference = base / "reference"  # the complete new state, from an uninterrupted run
    shutil.copytree(warehouse, reference)
    assert ingest(reference, "aws", str(restated)) == 0
    new = period_totals(reference)
    assert new["2026-09"][:2] == (STORED_ROWS, expected_billed(cur2_table(scale=3.0)))
    assert new["2026-10"] == old["2026-10"] and new["2026-09"] != old["2026-09"]
    return {"warehouse": warehouse, "restated": restated / "BILLING_PERIOD=2026-09", "old": old,
            "new": new}  # fmt: skip


def whole(totals: dict, old: dict, new: dict) -> bool:
    """Every period equals its old or its new state; nothing in between."""
    return set(totals) == set(old) and all(totals[p] in (old[p], new[p]) for p in totals)


@pytest.mark.parametrize(
    "point, expect", [("stage", "old"), ("commit", "old"), ("write", "old"), ("loads", "new")]
)
def test_kill_at_each_point_leaves_the_last_commit_whole(
    setup: dict, tmp_path: Path, point: str, expect: str
) -> None:
    warehouse = tmp_path / "warehouse"
    shutil.copytree(setup["warehouse"], warehouse)
    ids_before = loaded_ids(warehouse)

    run_until(warehouse, setup["restated"], point)

    assert period_totals(warehouse) == setup[expect]
    if point == "stage":
        assert list((warehouse / "_staging").glob("*.parquet"))  # the leftover vacuum must remove
    if point == "write":  # the new file sits in the table folder, referenced by no version
        assert len(unreferenced(warehouse)) == 1
    assert main(["--warehouse", str(warehouse), "vacuum"]) == 0
    assert not (warehouse / "_staging").exists()
    assert unreferenced(warehouse) == set()
    assert period_totals(warehouse) == setup[expect]
    if point == "loads":  # committed before dying: the next writer restored its record
        assert len(loaded_ids(warehouse) - ids_before) == 1

    assert ingest(warehouse, "aws", str(setup["restated"])) == 0
    assert period_totals(warehouse) == setup["new"]


def test_kill_after_timed_delays(setup: dict, tmp_path: Path) -> None:
    """Kills at arbitrary moments (no pause point) also leave each period old or new."""
    for i, delay in enumerate((0.8, 1.6, 2.4)):
        warehouse = tmp_path / f"warehouse-{i}"
        shutil.copytree(setup["warehouse"], warehouse)
        run_until(warehouse, setup["restated"], None, delay)
        assert whole(period_totals(warehouse), setup["old"], setup["new"])
        assert main(["--warehouse", str(warehouse), "vacuum"]) == 0
        assert ingest(warehouse, "aws", str(setup["restated"])) == 0
        assert period_totals(warehouse) == setup["new"]
