"""What `--engine spark` runs in each task for the rollups (one partition's lines, as Arrow)
gives the rows the default engine commits for that partition: the same SQL, run on one
partition at a time. No Spark session here: the Spark side is tests/e2e/test_spark_sample.py.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from ingest.derive import refresh as derived
from ingest.derive import rollups, scratch
from ingest.engines.spark_rollups import SEP, TAG, partition_rollups
from ingest.warehouse.store import Store
from models.classify import CLASS_KEYS
from models.rollups import ROLLUPS
from models.settings import Settings
from tests.fixtures.small_warehouse import cost_batches


def _lines(store: Store, part: dict[str, str]) -> pa.Table:
    """The partition's lines as the Spark side hands them to a task."""
    with scratch.connect(store.staging_dir()) as con:
        assert rollups._lines_view(con, store, [part]) == [part]
        return con.sql("SELECT * FROM _rollup_lines").to_arrow_table()


def _rows(table: pa.Table) -> list[tuple]:
    return sorted(tuple(map(str, row.values())) for row in table.to_pylist())


def test_each_partition_s_rollups_are_the_committed_ones(warehouse: Path) -> None:
    store = Store(warehouse)
    derived.refresh(store, Settings(), store.load_cost_lines(list(cost_batches())))
    keys = store.table("class_keys").to_pyarrow_table(columns=CLASS_KEYS.names)
    parts = [v for _, v in rollups.files_of(store, "cost_lines", None)]
    assert len(parts) >= 4
    seen = {t.name: 0 for t in ROLLUPS}
    for part in parts:
        out = partition_rollups(_lines(store, part), keys)
        for table in ROLLUPS:
            mine = out.filter(pc.equal(out[TAG], table.name))
            mine = mine.select([f"{table.name}{SEP}{c}" for c in table.names])
            committed = DeltaTable(str(warehouse / table.name)).to_pyarrow_table(
                columns=table.names,
                filters=[(k, "=", v) for k, v in part.items()],
            )
            assert _rows(mine) == _rows(committed), f"{table.name} of {part}"
            seen[table.name] += committed.num_rows
    assert seen == {
        "spend_daily": 10, "egress_daily": 4, "tools_monthly": 2, "tag_daily": 8,
        "billed_periods": 4, "top_lines_parts": 18, "commitment_months": 1,
    }  # fmt: skip


def test_unclassified_lines_take_their_classes_from_the_tags(warehouse: Path) -> None:
    store = Store(warehouse)
    store.load_cost_lines(list(cost_batches()))  # no refresh: nothing classified
    part = next(v for _, v in rollups.files_of(store, "cost_lines", None))
    lines = _lines(store, part)
    assert lines["x_ClassKey"].type == pa.string()  # the Tags, as the default engine reads them
    out = partition_rollups(lines, None)
    spend = out.filter(pc.equal(out[TAG], "spend_daily"))
    assert pc.sum(spend[f"spend_daily{SEP}lines"]).as_py() == lines.num_rows
