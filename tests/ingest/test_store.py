"""The warehouse writer: reconciliation, idempotence, restatement, time travel, vacuum."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingest.warehouse.connection import connect, parse_as_of, versions
from ingest.warehouse.store import Store
from models.errors import InputError, ReconciliationError, WarehouseError
from models.schema import COST_LINES
from tests.fixtures.batches import batch


def totals(root: Path, as_of=None) -> dict[str, tuple[int, Decimal]]:
    con = connect(root, as_of)
    rows = con.execute(
        "select strftime(BillingPeriodStart, '%Y-%m'), count(*), sum(BilledCost) "
        "from cost_lines group by 1 order by 1"
    ).fetchall()
    return {p: (n, t) for p, n, t in rows}


def test_load_reconciles_to_the_cent_and_records_the_load(warehouse: Path) -> None:
    results = Store(warehouse).load_cost_lines(
        [batch("2026-09", ["0.0000008", "12.5", "-0.25"]), batch("2026-10", ["3"])]
    )
    assert [(r.billing_period, r.status, r.rows) for r in results] == [
        ("2026-09", "committed", 3),
        ("2026-10", "committed", 1),
    ]
    assert results[0].warehouse_total == Decimal("12.2500008") == results[0].source_total
    assert totals(warehouse) == {
        "2026-09": (3, Decimal("12.250000800000")),
        "2026-10": (1, Decimal("3.000000000000")),
    }
    con = connect(warehouse)
    loads = con.execute(
        "select billing_period, rows, source_total, warehouse_total, status, files from loads "
        "order by billing_period"
    ).fetchall()
    assert [(p, n, s, w, st) for p, n, s, w, st, _ in loads] == [
        ("2026-09", 3, Decimal("12.2500008"), Decimal("12.2500008"), "committed"),
        ("2026-10", 1, Decimal("3"), Decimal("3"), "committed"),
    ]
    assert json.loads(loads[0][5])[0]["sha256"] == "a" * 64


def test_committed_lines_keep_ranges_for_times_amounts_and_ids_not_for_text(
    warehouse: Path,
) -> None:
    """Row-group ranges are what month picking (ChargePeriodStart) and the classification
    pass (x_LineId) skip files and row groups by; text columns carry none (a third of the
    write's CPU, and lines are in no text order)."""
    import pyarrow.parquet as pq

    Store(warehouse).load_cost_lines([batch("2026-09", ["12.5", "-0.25"])])
    (path,) = (warehouse / "cost_lines").rglob("*.parquet")
    group = pq.ParquetFile(path).metadata.row_group(0)
    ranged = {
        group.column(i).path_in_schema
        for i in range(group.num_columns)
        if group.column(i).statistics is not None and group.column(i).statistics.has_min_max
    }
    assert {"ChargePeriodStart", "x_LineId", "BilledCost", "EffectiveCost"} <= ranged
    assert not ranged & {"ResourceId", "Tags", "ServiceName", "BillingAccountId"}
    start = group.column(
        next(
            i
            for i in range(group.num_columns)
            if group.column(i).path_in_schema == "ChargePeriodStart"
        )
    ).statistics
    assert (start.min.year, start.min.month, start.max.month) == (2026, 9, 9)


def test_committed_lines_tell_arrow_readers_the_contracts_types(warehouse: Path) -> None:
    """The writer is handed polars' string views (no conversion), yet the file's Arrow
    schema is the contract's, large strings included, as Delta and pyarrow readers expect."""
    import pyarrow.parquet as pq

    Store(warehouse).load_cost_lines([batch("2026-09", ["12.5", "-0.25"])])
    (path,) = (warehouse / "cost_lines").rglob("*.parquet")
    schema = pq.read_schema(path)
    expected = COST_LINES.empty().to_arrow().schema
    found = {f.name: str(f.type) for f in schema}
    assert {n: found[n] for n in expected.names} == {f.name: str(f.type) for f in expected}
    assert found["ResourceId"] == "large_string"
    table = pq.ParquetFile(path).read()
    assert table.column("BilledCost").to_pylist() == [Decimal("12.5"), Decimal("-0.25")]


def test_mismatched_source_total_fails_and_commits_nothing(warehouse: Path) -> None:
    store = Store(warehouse)
    store.load_cost_lines([batch("2026-09", ["1.00"])])
    before = versions(warehouse)
    bad = batch("2026-10", ["1.00", "2.00"], source_total=Decimal("3.01"))
    with pytest.raises(ReconciliationError) as err:
        store.load_cost_lines([batch("2026-11", ["5"]), bad])
    assert "-0.01" in str(err.value) and "3.01" in str(err.value)
    assert versions(warehouse) == before
    assert totals(warehouse) == {"2026-09": (1, Decimal("1.000000000000"))}
    assert list((warehouse / "_staging").iterdir()) == []


def test_same_files_twice_changes_nothing(warehouse: Path) -> None:
    store = Store(warehouse)
    store.load_cost_lines([batch("2026-09", ["1.10", "2.20"])])
    before = versions(warehouse)
    (again,) = store.load_cost_lines([batch("2026-09", ["1.10", "2.20"])])
    assert again.status == "unchanged"
    assert versions(warehouse) == before
    assert totals(warehouse) == {"2026-09": (2, Decimal("3.300000000000"))}


def test_restatement_replaces_the_month_and_keeps_the_old_by_version(warehouse: Path) -> None:
    store = Store(warehouse)
    (first,) = store.load_cost_lines([batch("2026-09", ["1.10", "2.20"])])
    store.load_cost_lines([batch("2026-08", ["7"])])
    (restated,) = store.load_cost_lines([batch("2026-09", ["4.00"], sha="b" * 64)])
    assert restated.status == "committed"
    assert totals(warehouse) == {
        "2026-08": (1, Decimal("7.000000000000")),
        "2026-09": (1, Decimal("4.000000000000")),
    }
    assert totals(warehouse, as_of=first.table_version) == {
        "2026-09": (2, Decimal("3.300000000000"))
    }
    con = connect(warehouse)
    (stamp,) = con.execute(
        "select finished_at from loads where load_id = ?", [first.load_id]
    ).fetchone()
    assert totals(warehouse, as_of=parse_as_of(stamp.isoformat()))["2026-09"][0] == 2
    # a load's finished_at is its commit's time: as of then, that load is in
    (later,) = con.execute(
        "select finished_at from loads where load_id = ?", [restated.load_id]
    ).fetchone()
    assert totals(warehouse, as_of=parse_as_of(later.isoformat()))["2026-09"] == (
        1,
        Decimal("4.000000000000"),
    )
    # before the first load there is nothing to show: not version 0, which came later
    with pytest.raises(InputError, match=r"no cost_lines state at 2026-01-01.*first load was"):
        totals(warehouse, as_of=parse_as_of("2026-01-01T00:00:00Z"))


def test_as_of_a_loads_finished_at_reads_that_load_when_its_log_file_is_written_later(
    warehouse: Path,
) -> None:
    """The commit's own timestamp decides, not the log file's modification time, which a
    busy disk or a copied warehouse moves: a load's finished_at always reads that load."""
    store = Store(warehouse)
    store.load_cost_lines([batch("2026-09", ["1.10", "2.20"])])
    (restated,) = store.load_cost_lines([batch("2026-09", ["4.00"], sha="b" * 64)])
    log = warehouse / "cost_lines" / "_delta_log" / f"{restated.table_version:020d}.json"
    later = log.stat().st_mtime + 5
    os.utime(log, (later, later))
    (stamp,) = (
        connect(warehouse)
        .execute("select finished_at from loads where load_id = ?", [restated.load_id])
        .fetchone()
    )
    assert totals(warehouse, as_of=parse_as_of(stamp.isoformat())) == {
        "2026-09": (1, Decimal("4.000000000000"))
    }


def test_wrong_period_or_currency_in_a_batch_is_rejected(warehouse: Path) -> None:
    store = Store(warehouse)
    mixed = batch("2026-09", ["1"], currency="EUR")
    with pytest.raises(InputError, match="currency"):
        store.load_cost_lines([mixed])
    assert versions(warehouse)["cost_lines"] is None


def test_contract_violation_names_the_file_and_row(warehouse: Path) -> None:
    bad = batch("2026-09", ["1", "2"])
    bad.lines = bad.lines.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit("Usage-based"))
        .otherwise(pl.col("ChargeFrequency"))
        .alias("ChargeFrequency")
    )
    with pytest.raises(InputError) as err:
        Store(warehouse).load_cost_lines([bad])
    text = str(err.value)
    assert "export-2026-09.parquet" in text and "ChargeFrequency" in text and "row 1" in text


def test_vacuum_removes_only_files_no_version_needs(warehouse: Path) -> None:
    store = Store(warehouse)
    (first,) = store.load_cost_lines([batch("2026-09", ["1"])])
    store.load_cost_lines([batch("2026-09", ["2"], sha="b" * 64)])
    orphan = warehouse / "cost_lines" / "x_PartSource=aws-cur2" / "orphan.parquet"
    COST_LINES.empty().write_parquet(orphan)
    (warehouse / "_staging").mkdir(exist_ok=True)
    (warehouse / "_staging" / "20260901T000000Z-0123abcd.parquet").write_bytes(b"x")
    (warehouse / "_staging" / "notes.txt").write_text("not the store's")
    removed = store.vacuum()
    assert sorted(Path(p).name for p in removed) == [
        "20260901T000000Z-0123abcd.parquet",
        "orphan.parquet",
    ]
    assert (warehouse / "_staging" / "notes.txt").read_text() == "not the store's"
    assert totals(warehouse, as_of=first.table_version)["2026-09"][1] == Decimal("1")


@pytest.mark.parametrize("through", ["relative path", "symlink"])
def test_vacuum_keeps_every_live_file_however_the_warehouse_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, through: str
) -> None:
    # `./data/warehouse` is the default: vacuum used to read every file of a warehouse opened
    # by a relative path as an orphan, and removed them all
    (tmp_path / "real").mkdir()
    if through == "symlink":
        (tmp_path / "link").symlink_to(tmp_path / "real")
        root = tmp_path / "link" / "warehouse"
    else:
        monkeypatch.chdir(tmp_path / "real")
        root = Path("warehouse")
    store = Store(root)
    store.load_cost_lines([batch("2026-09", ["1.25"])])
    store.load_cost_lines([batch("2026-10", ["2.50"], sha="b" * 64)])
    store.load_cost_lines([batch("2026-10", ["3.75"], sha="c" * 64)])  # restated
    removed = store.vacuum()
    assert removed == []  # the replaced October file is still in version 1
    assert {m: t[1] for m, t in totals(root).items()} == {
        "2026-09": Decimal("1.25"),
        "2026-10": Decimal("3.75"),
    }


def test_vacuum_stops_when_live_files_are_missing(warehouse: Path) -> None:
    from models.errors import WarehouseError

    store = Store(warehouse)
    store.load_cost_lines([batch("2026-09", ["1"])])
    orphan = warehouse / "cost_lines" / "x_PartSource=aws-cur2" / "orphan.parquet"
    COST_LINES.empty().write_parquet(orphan)
    next((warehouse / "cost_lines").rglob("part-*.parquet")).unlink()
    with pytest.raises(WarehouseError, match="vacuum removed nothing"):
        store.vacuum()
    assert orphan.exists()


def test_loads_record_is_restored_after_a_crash_between_commits(warehouse: Path) -> None:
    store = Store(warehouse)
    store.load_cost_lines([batch("2026-09", ["1"])])
    # Simulate a death after the cost_lines commit but before the loads append.
    from ingest.warehouse import loads_log

    original = loads_log.append
    loads_log.append = lambda store, records: None  # type: ignore[assignment]
    try:
        (lost,) = store.load_cost_lines([batch("2026-10", ["2"])])
    finally:
        loads_log.append = original
    assert lost.load_id not in {r[0] for r in connect(warehouse).execute("from loads").fetchall()}
    with store.writer():
        pass
    ids = {r[0] for r in connect(warehouse).execute("select load_id from loads").fetchall()}
    assert lost.load_id in ids


# ---- derived datasets: staged files moved in, partitions replaced in one commit ----------


def _stage_months(folder: Path, rows: dict[str, list[int]]) -> Path:
    """A DuckDB-style partitioned folder: x_PartMonth=M/part.parquet without the column."""
    for month, ids in rows.items():
        (folder / f"x_PartMonth={month}").mkdir(parents=True)
        pl.DataFrame({"x_LineId": ids, "x_ClassKey": [7] * len(ids)}).write_parquet(
            folder / f"x_PartMonth={month}" / "data_0.parquet"
        )
    return folder


def _derived(root: Path) -> dict[str, list[int]]:
    from deltalake import DeltaTable

    frame = pl.from_arrow(DeltaTable(str(root / "line_classes")).to_pyarrow_table())
    assert isinstance(frame, pl.DataFrame)
    return {
        m: sorted(g["x_LineId"].to_list())
        for (m,), g in frame.group_by("x_PartMonth", maintain_order=True)
    }


def test_derived_partitions_are_replaced_by_moving_the_staged_files(tmp_path: Path) -> None:
    from models.classify import LINE_CLASSES

    store = Store(tmp_path / "wh")
    by = ["x_PartMonth"]
    first = _stage_months(tmp_path / "s1", {"2026-01": [1, 2], "2026-02": [3]})
    store.replace_derived("line_classes", LINE_CLASSES, first, None, by)
    assert _derived(store.root) == {"2026-01": [1, 2], "2026-02": [3]}
    assert list(first.rglob("*.parquet")) == []  # moved, not copied
    # replacing February leaves January alone; a month with no staged files empties it
    second = _stage_months(tmp_path / "s2", {"2026-02": [4, 5]})
    replace = [{"x_PartMonth": "2026-02"}, {"x_PartMonth": "2026-03"}]
    store.replace_derived("line_classes", LINE_CLASSES, second, replace, by)
    assert _derived(store.root) == {"2026-01": [1, 2], "2026-02": [4, 5]}
    third = _stage_months(tmp_path / "s3", {})
    store.replace_derived("line_classes", LINE_CLASSES, third, [{"x_PartMonth": "2026-01"}], by)
    assert _derived(store.root) == {"2026-02": [4, 5]}


def test_derived_files_outside_the_replaced_partitions_or_contract_commit_nothing(
    tmp_path: Path,
) -> None:
    from models.classify import LINE_CLASSES
    from models.errors import WarehouseError

    store = Store(tmp_path / "wh")
    by = ["x_PartMonth"]
    store.replace_derived(
        "line_classes", LINE_CLASSES, _stage_months(tmp_path / "s1", {"2026-01": [1]}), None, by
    )
    stray = _stage_months(tmp_path / "s2", {"2026-05": [9]})
    with pytest.raises(WarehouseError, match="not asked to replace"):
        store.replace_derived("line_classes", LINE_CLASSES, stray, [{"x_PartMonth": "2026-01"}], by)
    bad = tmp_path / "s3" / "x_PartMonth=2026-01"
    bad.mkdir(parents=True)
    pl.DataFrame({"x_LineId": [1, None]}).write_parquet(bad / "data_0.parquet")
    with pytest.raises(WarehouseError, match="x_ClassKey"):
        store.replace_derived("line_classes", LINE_CLASSES, bad.parent, None, by)
    assert _derived(store.root) == {"2026-01": [1]}


def test_a_second_watch_pass_waits_then_says_another_is_running(warehouse: Path) -> None:
    store = Store(warehouse)
    told: list[str] = []
    second = Store(warehouse).watcher(wait_s=0.5, on_wait=lambda: told.append("waiting"))
    with store.watcher():
        with pytest.raises(WarehouseError) as err, second:
            pass
        assert told == ["waiting"]  # told once, however long it waits
        assert err.value.message == (
            "another finops watch is still running on this warehouse (waited 0.5 s)"
        )
    with Store(warehouse).watcher(wait_s=0.5):  # released: the next pass goes straight in
        pass


def test_a_watch_pass_and_an_ingest_never_wait_for_each_other(warehouse: Path) -> None:
    store = Store(warehouse)
    with store.watcher():  # the load takes the writer lock: its own, free
        store.load_cost_lines([batch("2026-09", ["1"])])
    assert totals(warehouse)["2026-09"][1] == Decimal("1")
