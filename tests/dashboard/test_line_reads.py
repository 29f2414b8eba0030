"""Line-level reads join a line to its classes only when they need a class: with every
line_classes data file overwritten by garbage, the anomaly drivers of a service (a column of
the line) still answer as on the intact warehouse, while those of a team cannot."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from dashboard.queries import spend as queries
from ingest.warehouse import connection as warehouse
from ingest.warehouse import views
from ingest.warehouse.connection import snapshot_files
from models.cost_basis import CostBasis
from models.settings import Settings

OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))


def _connect(root: Path) -> duckdb.DuckDBPyConnection:
    views.register_all(Settings())
    con = warehouse.connect(root)
    queries.prepare(con)
    return con


def _spoil_classes(root: Path) -> None:
    files = snapshot_files(DeltaTable(str(root / "line_classes")))
    assert files
    for path in files:
        size = Path(path).stat().st_size
        Path(path).write_bytes(b"\x00garbage" * (size // 8) + b"\x00" * (size % 8))


def _drivers(con: duckdb.DuckDBPyConnection, by: str, key: str):
    return queries.anomaly_drivers(con, CostBasis.AMORTISED, "USD", by, key, *OCTOBER)


def test_drivers_of_a_service_read_no_class(built_warehouse: Path, tmp_path: Path) -> None:
    intact = _connect(built_warehouse)
    services = [
        r[0]
        for r in intact.execute(
            "SELECT ServiceName FROM cost_lines WHERE BillingCurrency = 'USD' "
            "GROUP BY 1 ORDER BY sum(EffectiveCost) DESC"
        ).fetchall()
    ]
    want = {s: _drivers(intact, "service", s) for s in services}
    assert sum(d.height for d in want.values()) >= 2  # drivers found, not empty frames
    root = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, root)
    spoiled = _connect(root)  # prepared (it found the lines classified), then spoiled
    _spoil_classes(root)
    for service, drivers in want.items():
        assert _drivers(spoiled, "service", service).equals(drivers), service
    with pytest.raises(duckdb.Error):  # the damage is real: a team is a class
        _drivers(spoiled, "team", "ml-research")


def test_drivers_of_a_class_equal_those_of_the_joined_lines(
    built_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team's or AI class's drivers, read through the ids of its lines, are those of the
    lines joined to their classes (`classified_costs`), figure for figure."""
    con = _connect(built_warehouse)
    keys = con.execute(
        "SELECT DISTINCT 'team', x_Team FROM classified_costs WHERE x_Team IS NOT NULL "
        "UNION ALL SELECT DISTINCT 'AI class', x_AiClass FROM classified_costs "
        "WHERE x_AiClass IS NOT NULL ORDER BY ALL"
    ).fetchall()
    assert len(keys) >= 4
    got = {k: _drivers(con, *k) for k in keys}
    assert sum(d.height for d in got.values()) >= 2
    joined = f"SELECT *, {queries._PROVIDER} AS provider FROM classified_costs"
    monkeypatch.setattr(queries, "available", lambda _con: set())
    monkeypatch.setattr(queries, "lines_sql", lambda _con: joined)
    for k, drivers in got.items():
        assert _drivers(con, *k).equals(drivers), k
