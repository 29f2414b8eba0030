"""The per-line classification pass on Spark: the same answer as ingest.derive.line_classes.

The rules are decided exactly as with DuckDB: once per distinct combination of the key
columns (`models.classify.key_columns`), in polars, on the driver (`decide`). What grows with
the number of lines runs on the cluster: finding those combinations, and joining every line
to its combination's x_ClassKey (a broadcast of the small key -> class table, matched on the
key values themselves, nulls equal). Each line's class key *is* its key values, so there is
no second definition of it here: DuckDB's two hashes are only its way of joining cheaply.

Spark reads the Parquet files of the Delta snapshot it is given (the store's file list; on
object storage through its own tasks, ingest/engines/spark_files) and writes
`col=value/*.parquet` folders that the store validates and commits as today.
"""

from __future__ import annotations

import functools
import operator
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.derive.line_classes import ClassPass
from ingest.engines.spark_files import remote_lines
from ingest.engines.spark_session import session
from models.classify import CLASS_COLUMNS, with_class_keys
from models.errors import WarehouseError
from models.settings import EngineSettings

GROUP = "_g"  # the combination's number, carried through `decide`


def lines_of(
    spark,
    files: Sequence[tuple[Sequence[str], dict[str, str]]],
    columns: list[str],
    schema: pa.Schema,
):
    """x_LineId, the key columns and the partition values (kept out of Delta's data files)
    of every line in `files`.

    One scan of every file, typed by the table's schema rather than by reading footers (a
    column a file lacks reads as null, as DuckDB's union_by_name reads it); each file's
    partition values are joined by its name, which Delta keeps unique within a snapshot."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    if any("://" in p for group, _ in files for p in group):  # object storage: read by tasks
        return remote_lines(spark, files, columns, pa.schema([plain(f) for f in schema]))
    typed = from_arrow_schema(pa.schema([plain(schema.field(c)) for c in columns]))
    paths = [p for group, _ in files for p in group]
    names = [(PurePosixPath(p).name, values) for group, values in files for p in group]
    if len({n for n, _ in names}) != len(names):  # not Delta's names: a scan per partition
        frames = [
            spark.read.schema(typed)
            .parquet(*group)
            .select(*columns, *(F.lit(v).alias(k) for k, v in values.items()))
            for group, values in files
        ]
        return functools.reduce(lambda a, b: a.unionByName(b), frames)
    keys = list(files[0][1])
    owners = spark.createDataFrame([(n, *(v[k] for k in keys)) for n, v in names], ["_file", *keys])
    lines = (
        spark.read.schema(typed)
        .parquet(*paths)
        .select(*columns, F.col("_metadata.file_name").alias("_file"))
    )
    return lines.join(F.broadcast(owners), "_file").drop("_file")


def plain(field: pa.Field) -> pa.Field:
    """Arrow's string and binary views as the plain types Spark maps."""
    if pa.types.is_string_view(field.type) or pa.types.is_large_string(field.type):
        return field.with_type(pa.string())
    if pa.types.is_binary_view(field.type) or pa.types.is_large_binary(field.type):
        return field.with_type(pa.binary())
    return field


def classify_lines(
    engine: EngineSettings,
    files: Sequence[tuple[Sequence[str], dict[str, str]]],
    schema: pa.Schema,
    keys: Sequence[str],
    decide: Callable[[pl.DataFrame], pl.DataFrame],
    staged: Path,
    keep: Sequence[str] = (),
    partition_by: Sequence[str] = (),
) -> ClassPass:
    """`line_classes.classify_lines` on Spark, over groups of Parquet files (each with its
    partition values) of a table whose columns `schema` types. Writes a folder of
    `col=value/` files at `staged` (`partition_by` out of the data, as a Delta table keeps
    them), or plain files without it."""
    from pyspark.sql import functions as F

    if not keys:
        raise WarehouseError("classification has no key columns to read")
    spark = session(engine)
    lines = lines_of(spark, files, ["x_LineId", *keys], schema)
    # pass 1: each combination once, with its count (the check on what pass 2 writes)
    with warnings.catch_warnings():  # pyspark frets over pandas 3, which Arrow data skips
        warnings.simplefilter("ignore", FutureWarning)
        counted = lines.groupBy(*keys).agg(F.count("*").alias("_n")).toArrow()
    combos = pl.from_arrow(counted)
    assert isinstance(combos, pl.DataFrame)
    combos = combos.with_row_index(GROUP)
    decided = with_class_keys(decide(combos.select(GROUP, *keys)))
    lookup = combos.join(decided.select(GROUP, "x_ClassKey"), on=GROUP, how="left")
    if lookup["x_ClassKey"].null_count():
        raise WarehouseError(
            "classification left some key combinations without a class",
            hint="this is a bug in the rules code; nothing was committed",
        )
    # pass 2: every line joined to its combination's key; the table is small: broadcast
    shipped = lookup.select(
        "x_ClassKey", *(pl.col(k).alias(f"_k{i}") for i, k in enumerate(keys))
    ).to_arrow()
    with warnings.catch_warnings():  # pyspark frets over pandas 3, which Arrow input skips
        warnings.simplefilter("ignore", FutureWarning)
        table = F.broadcast(spark.createDataFrame(shipped))
    same = [lines[k].eqNullSafe(table[f"_k{i}"]) for i, k in enumerate(keys)]
    out = lines.join(table, functools.reduce(operator.and_, same), "inner").select(
        "x_LineId", "x_ClassKey", *keep
    )
    writer = out.write.mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(str(staged))
    written = sum(pq.ParquetFile(p).metadata.num_rows for p in staged.rglob("*.parquet"))
    expected = int(combos["_n"].sum()) if combos.height else 0
    if written != expected:  # the files changed under us, or a key did not match itself
        raise WarehouseError(
            f"classification wrote {written} lines for {expected} read",
            hint="nothing was committed; run `finops classify` again",
        )
    classes = decided.select("x_ClassKey", *CLASS_COLUMNS).unique("x_ClassKey", keep="first")
    return ClassPass(int(written), classes, pl.DataFrame())  # no DuckDB key hashes
