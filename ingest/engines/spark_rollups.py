"""The cost-line rollups on Spark: the same rows as ingest.derive.rollups, partition by partition.

Spark reads the wanted cost_lines partitions' files and joins each line to its x_ClassKey
(line_classes, matched by partition and x_LineId): the per-line work. Then each cost_lines
partition's lines go, as Arrow, to one Python task (`groupBy(partition).applyInArrow`) that
runs the one definition of each rollup (`rollups.one_partition`, DuckDB SQL) on them, and
returns every rollup's rows in one frame, tagged by rollup. Spark writes each rollup's rows as
`col=value/*.parquet` folders under the staging directory, which the store validates and
commits exactly as the default engine's.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pyarrow as pa

from ingest.derive import rollups, scratch
from ingest.engines.spark_classify import lines_of, plain
from ingest.engines.spark_session import session
from ingest.warehouse.store import Store
from models import rollups as contract
from models.classify import CLASS_KEYS
from models.settings import EngineSettings

TAG = "_rollup"  # which rollup a row of the combined frame belongs to
SEP = "__"  # between a rollup's name and its column's, in the combined frame


def _column(table: str, column: str) -> str:
    return f"{table}{SEP}{column}"


def partition_rollups(lines: pa.Table, keys: pa.Table | None) -> pa.Table:
    """Every rollup of one partition's `lines` (the cost_lines columns the rollups read,
    the partition's values, x_ClassKey), given the class keys (None: not classified yet),
    as one table: the partition columns, `_rollup`, and each rollup's columns prefixed by
    its name (null on the other rollups' rows)."""
    with scratch.connect(Path(tempfile.gettempdir())) as con:
        con.register("_rollup_in", lines)
        if keys is not None:
            con.register("_rollup_keys_in", keys)
        selects = rollups.one_partition(
            con,
            "SELECT * FROM _rollup_in",
            None if keys is None else "SELECT * FROM _rollup_keys_in",
        )
        parts = []
        for name, select in selects.items():
            rows = con.sql(select).to_arrow_table()
            named = [c if c in rollups.PART else _column(name, c) for c in rows.column_names]
            rows = rows.rename_columns(named)
            parts.append(rows.append_column(TAG, pa.array([name] * rows.num_rows, pa.string())))
        return pa.concat_tables(parts, promote_options="default")


def _schema(lines: pa.Schema, keys: pa.Table | None) -> pa.Schema:
    """The combined frame's schema, as DuckDB types it: the rollups of no lines."""
    out = partition_rollups(lines.empty_table(), keys)
    return pa.schema([plain(f) for f in out.schema])


def stage(
    engine: EngineSettings, store: Store, wanted: list[dict[str, str]] | None, staging: Path
) -> int:
    """Write the rollups of the `wanted` cost_lines partitions (None: all) under
    `staging/<rollup>/`, as `rollups._stage` does; returns the lines read."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    cost = rollups.files_of(store, "cost_lines", wanted)
    if not cost:
        return 0
    spark = session(engine)
    table = store.table("cost_lines")
    assert table is not None
    schema = pa.schema(table.schema().to_arrow())
    lines = lines_of(spark, cost, list(rollups.LINE_COLUMNS), schema)
    classes = rollups.files_of(store, "line_classes", wanted)
    known = store.table("class_keys")
    keys = None
    if classes and known is not None:
        keys = known.to_pyarrow_table(columns=CLASS_KEYS.names)
        found = store.table("line_classes")
        assert found is not None
        classed = lines_of(
            spark, classes, ["x_LineId", "x_ClassKey"], pa.schema(found.schema().to_arrow())
        )
        lines = lines.join(classed, [*rollups.PART, "x_LineId"], "left")
    else:  # classification has not run: the classes come from the tags
        lines = lines.withColumn("x_ClassKey", F.col("Tags"))
    arrow = pa.schema(
        [*(plain(schema.field(c)) for c in rollups.LINE_COLUMNS)]
        + [pa.field(p, pa.string()) for p in rollups.PART]
        + [pa.field("x_ClassKey", pa.int64() if keys is not None else pa.string())]
    )
    lines = lines.select(*arrow.names)
    combined = _schema(arrow, keys)

    def run(batch: pa.Table) -> pa.Table:
        return partition_rollups(batch.cast(arrow), keys).select(combined.names).cast(combined)

    with warnings.catch_warnings():  # pyspark frets over pandas 3, which Arrow data skips
        warnings.simplefilter("ignore", FutureWarning)
        out = lines.groupBy(*rollups.PART).applyInArrow(run, from_arrow_schema(combined)).persist()
        try:
            held = {r[TAG]: r["n"] for r in out.groupBy(TAG).agg(F.count("*").alias("n")).collect()}
            for rollup in contract.ROLLUPS:
                if not held.get(rollup.name):  # no rows: the parts are emptied
                    continue
                picked = out.where(F.col(TAG) == rollup.name).select(
                    *(F.col(f"`{_column(rollup.name, c)}`").alias(c) for c in rollup.names),
                    *rollups.PART,
                )
                picked.write.mode("overwrite").partitionBy(*rollups.PART).parquet(
                    str(staging / rollup.name)
                )
            counted = (
                out.where(F.col(TAG) == contract.SPEND_DAILY.name)
                .agg(F.sum(F.col(f"`{_column(contract.SPEND_DAILY.name, 'lines')}`")))
                .collect()
            )
        finally:
            out.unpersist()
    return int(counted[0][0] or 0)
