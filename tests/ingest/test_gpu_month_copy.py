"""A month's GPU rows are staged as that month's one file, without DuckDB's partitioned write:
the same rows in the same `x_PartMonth=YYYY-MM/` layout, and a row of another month fails
the copy rather than land in the wrong month."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingest.derive.gpu_hours import ONE_PARTITION, _copy

ROWS = """SELECT * FROM (VALUES
  (TIMESTAMPTZ '2026-09-01 00:00:00+00', 'i-1', 1.25::DECIMAL(38,12), '2026-09'),
  (TIMESTAMPTZ '2026-09-30 23:00:00+00', 'i-2', 2.50::DECIMAL(38,12), '2026-09'),
  (TIMESTAMPTZ '2026-09-15 12:00:00+00', 'i-1', 0.10::DECIMAL(38,12), '2026-09')
) t(hour, resource_id, cost, x_PartMonth)"""


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _folders(folder: Path) -> list[str]:
    return sorted({str(p.relative_to(folder).parent) for p in folder.rglob("*.parquet")})


def _read(con: duckdb.DuckDBPyConnection, folder: Path) -> list[tuple]:
    files = sorted(str(p) for p in folder.rglob("*.parquet"))
    return con.execute(
        "SELECT * FROM read_parquet($f, hive_partitioning = false) ORDER BY hour", {"f": files}
    ).fetchall()


def test_one_month_is_written_as_the_partitioned_write_would(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    one, parted = tmp_path / "one", tmp_path / "parted"
    assert _copy(con, ROWS, one, "x_PartMonth", only="2026-09") == 3
    assert _copy(con, ROWS, parted, "x_PartMonth") == 3
    assert len(list(one.rglob("*.parquet"))) == 1
    assert _folders(one) == _folders(parted) == ["x_PartMonth=2026-09"]
    # the partition column is in the folder's name, not in the file: as DuckDB writes it
    columns = con.execute(
        "SELECT name FROM parquet_schema($f) WHERE name <> 'duckdb_schema'",
        {"f": str(next(one.rglob("*.parquet")))},
    ).fetchall()
    assert [c for (c,) in columns] == ["hour", "resource_id", "cost"]
    assert _read(con, one) == _read(con, parted)
    total = con.execute(
        "SELECT sum(cost) FROM read_parquet($f)", {"f": str(next(one.rglob("*.parquet")))}
    ).fetchall()[0][0]
    assert str(total) == "3.850000000000"


def test_a_row_of_another_month_fails_the_copy(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows = ROWS.replace("'2026-09')\n)", "'2026-10')\n)")
    with pytest.raises(duckdb.Error, match=ONE_PARTITION):
        _copy(con, rows, tmp_path / "one", "x_PartMonth", only="2026-09")


def test_no_rows_leave_no_month_file(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    folder = tmp_path / "one"
    assert _copy(con, f"{ROWS} WHERE false", folder, "x_PartMonth", only="2026-09") == 0
    assert list(folder.rglob("*.parquet")) == []
