"""The dashboard's first request reads rollups, never cost lines: with every cost_lines data
file overwritten by garbage (its Delta log intact), the Overview still shows the warehouse's
total to the cent, and the page queries still answer from the rollups kept at ingest. More:
the Overview's first render opens the data files of the rollups it shows (and the loads
record the damage check reads) and of no other table."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from dashboard.queries import health as queries_health
from dashboard.queries import lines as queries_lines
from dashboard.queries import movement as queries_movement
from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters
from ingest.warehouse import connection as warehouse
from ingest.warehouse import views
from ingest.warehouse.connection import snapshot_files
from models.settings import Settings
from tests.fixtures.app_pages import app, metrics, no_errors, usd
from tests.fixtures.small_warehouse import expected_total
from tests.fixtures.warehouse_state import serve

# What the Overview's first render reads: its figures (spend_daily, gpu_buckets), which
# providers are SaaS vendors (tools_monthly) and the loads records the damage check holds the
# tables' versions against.
# gpu_demand and gpu_owned_days: the own-vs-rent verdict's tile (hours by state, GPUs seen)
# unit_costs: the "cost per 1M tokens served" tile (a few rows a model and month)
# alert_state: the open alerts' line (written by `finops watch`)
OVERVIEW_READS = (
    "spend_daily", "gpu_buckets", "tools_monthly", "loads", "gpu_demand", "gpu_owned_days",
    "unit_costs", "alert_state",
)  # fmt: skip


def _spoil_cost_lines(root: Path, table: str = "cost_lines") -> int:
    """Overwrite each data file of `table` with bytes of the same length that are no Parquet
    (so the damage check, which compares sizes with the log, still passes)."""
    files = snapshot_files(DeltaTable(str(root / table)))
    for path in files:
        size = Path(path).stat().st_size
        Path(path).write_bytes(b"\x00garbage" * (size // 8) + b"\x00" * (size % 8))
    return len(files)


@pytest.fixture
def spoiled(built_warehouse: Path, tmp_path: Path) -> Path:
    root = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, root)
    assert _spoil_cost_lines(root) >= 3
    return root


def test_the_spoiled_files_cannot_be_read(spoiled: Path) -> None:
    """The damage is real: anything that reads a cost line fails."""
    views.register_all(Settings())
    con = warehouse.connect(spoiled)
    with pytest.raises(duckdb.Error):
        con.execute("SELECT sum(EffectiveCost) FROM cost_lines").fetchall()


def test_overview_first_load_reads_no_cost_line(spoiled: Path, monkeypatch) -> None:
    serve(monkeypatch, spoiled)
    at = app()
    no_errors(at)
    shown = metrics(at)
    assert shown["Spend in the period"] == usd(expected_total()) == "USD 1,787.45"
    assert shown["This month (October 2026)"] == "USD 1,458.30"
    assert shown["Last month"] == "USD 329.15"


def test_overview_first_load_opens_only_the_tables_it_shows(
    small_warehouse: Path, tmp_path: Path, monkeypatch
) -> None:
    """Every table but OVERVIEW_READS spoiled: the first render shows the figures (every
    tile) of the intact warehouse. Asking a derived table whether it holds rows by reading
    its files, or a health check that reads data, fails here."""
    intact = app()
    no_errors(intact)
    root = tmp_path / "warehouse"
    shutil.copytree(small_warehouse, root)
    spoiled = [
        t.parent.name
        for t in sorted(root.glob("*/_delta_log"))
        if t.parent.name not in OVERVIEW_READS and _spoil_cost_lines(root, t.parent.name)
    ]
    assert {"cost_lines", "line_classes", "gpu_hours", "idle_episodes"} <= set(spoiled)
    serve(monkeypatch, root)
    at = app()
    no_errors(at)
    assert metrics(at) == metrics(intact)
    assert metrics(at)["Spend in the period"] == "USD 1,787.45"
    assert metrics(at)["Idle GPU cost"] not in ("–", None)


def test_page_queries_answer_from_rollups(spoiled: Path) -> None:
    views.register_all(Settings())
    con = warehouse.connect(spoiled)
    # the rows each table holds, as its Delta log counts them (no file is read)
    logged = dict(con.execute("SELECT dataset, rows FROM finops_snapshot()").fetchall())
    assert logged["cost_lines"] == 18
    assert logged["line_classes"] == 18
    queries.prepare(con)
    f = Filters()
    assert queries.available(con) >= {"classified_costs", "gpu_hours"}
    assert queries.currencies(con, f).rows() == [("USD", Decimal("1787.45"))]
    head = queries.headline(con, f, "USD")
    assert (head["total"], head["this_month"], head["last_month"]) == (
        Decimal("1787.45"),
        Decimal("1458.30"),
        Decimal("329.15"),
    )
    by_provider = dict(queries.breakdown(con, f, "provider", "USD")[["key", "cost"]].rows())
    assert sum(by_provider.values()) == Decimal("1787.45")
    assert queries_lines.drill_count(con, f, "USD", None, None) == 18
    # the explorer's first page comes from the costliest lines kept at ingest
    page = queries_lines.drill_page(con, f, "USD", None, None, 0, 5)
    assert page["EffectiveCost"].to_list() == [
        Decimal(c) for c in ("310", "198.30", "155", "99.15", "90")
    ]
    tags = queries_lines.tag_breakdown(con, f, "team", "USD")
    assert tags["cost"].sum() == Decimal("1787.45")
    assert queries_movement.egress(con, f, "kind", "USD")["cost"].sum() > 0
    assert queries_health.months(con) == ["2026-10", "2026-09"]
    recon = queries_health.reconciliation(con, "2026-10")
    assert recon["difference"].to_list() == [Decimal(0)] * recon.height
