"""The Commitments page and the pack's commitments read the `commitment_months` rollup kept at
ingest, not the lines: with every cost_lines data file of a copy of the sample warehouse
overwritten by garbage, the summary still equals the planted truth, and on the intact
warehouse it equals the summary summed from the lines themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from dashboard.queries import commitments as queries_commitments
from ingest.warehouse import views
from ingest.warehouse.connection import connect, snapshot_files
from models.settings import Settings
from tests.fixtures.commitments import shown_against_planted

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.fixture
def spoiled(sample_warehouse: Path, tmp_path: Path) -> Path:
    """A copy of the sample warehouse whose cost line files are no Parquet any more."""
    root = tmp_path / "warehouse"
    shutil.copytree(sample_warehouse, root)
    for path in snapshot_files(DeltaTable(str(root / "cost_lines"))):
        size = Path(path).stat().st_size
        Path(path).write_bytes(b"\x00garbage" * (size // 8) + b"\x00" * (size % 8))
    return root


def test_summary_reads_no_cost_line(spoiled: Path, sample_truth: dict) -> None:
    if "commitments" not in sample_truth:
        pytest.skip("sample_data/truth.json predates commitments: regenerate sample_data")
    views.register_all(Settings())
    con = connect(spoiled)
    with pytest.raises(duckdb.Error):  # the damage is real
        con.execute("SELECT sum(BilledCost) FROM cost_lines").fetchall()
    rows = queries_commitments.summary(con, currency="USD")
    shown_against_planted(rows, sample_truth)


def test_rollup_and_lines_give_the_same_summary(sample_warehouse: Path, monkeypatch) -> None:
    views.register_all(Settings())
    con = connect(sample_warehouse)
    for currency in ("USD", "EUR", None):
        from_rollup = queries_commitments.summary(con, currency=currency)
        with monkeypatch.context() as m:
            m.setattr(queries_commitments, "_built", lambda _con: False)
            from_lines = queries_commitments.summary(con, currency=currency)
        # in the same order up to ties (summarise orders by period and unused only); `name` is
        # the first of a commitment's names in whatever order its groups come (a GCP CUD's
        # lines name their SKUs), so it is compared as one of them
        key = ["period", "provider", "commitment_id", "currency"]
        got, want = from_rollup.sort(key), from_lines.sort(key)
        assert got.drop("name").equals(want.drop("name")), currency
        names = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT CommitmentDiscountName FROM cost_lines"
            ).fetchall()
        }
        assert set(got["name"].drop_nulls()) <= names, currency

    usd = queries_commitments.summary(con, currency="USD")
    assert usd.height > 3 and usd["gpu"].any()
