"""Source normalisation on Spark: each file of an export normalised by a task of its own.

A reader that can split a period's lines by source file (`PeriodLoad.by_file`: AWS CUR 2.0
and legacy, FOCUS) has already read and checked the export on the driver (columns, values,
source totals). Here the files become a DataFrame of numbers, one Spark partition per file;
`mapInArrow` runs the reader's own per-file normaliser (no second definition of a mapping)
and yields its frames as Arrow, and Spark writes them as `_file=N/` Parquet folders in the
store's staging folder. Each load then reads its files' folders back, in file order, as its
`pieces`: the store conforms, validates, reconciles and commits them exactly as the default
engine's, and gives the lines the same x_LineId.

A file a task cannot normalise fails its task with the error itself carried in the message;
the driver hands that error back to the store as the load's own, so the message a user sees
is the one the default engine gives.
"""

from __future__ import annotations

import base64
import contextlib
import pickle
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.engines.spark_classify import plain
from ingest.engines.spark_session import session
from ingest.warehouse.load_contract import CHUNK_ROWS, PeriodLoad, new_load_id
from models.settings import EngineSettings

FILE = "_file"  # which of the job's files a row came from
CARRIED = re.compile(r"finops-carried:(\d+):([A-Za-z0-9+/=]+):end")
Pieces = Callable[[], Iterator[pl.DataFrame]]


def _arrow(schema: pl.Schema) -> pa.Schema:
    """The loads' lines as Spark can type and write them (a column of nulls as text: the
    store casts every column to its contract type anyway)."""
    out = pl.DataFrame(schema=schema).to_arrow().schema
    return pa.schema(
        [f.with_type(pa.string()) if pa.types.is_null(f.type) else plain(f) for f in out]
    )


def _carry(index: int, exc: BaseException) -> str:
    try:
        body = pickle.dumps(exc)
    except Exception:  # an error that will not travel: its text does
        body = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return f"finops-carried:{index}:{base64.b64encode(body).decode()}:end"


def carried(exc: BaseException) -> tuple[int, BaseException] | None:
    """The file number and the error a task carried in `exc`'s text, if it carried one."""
    found = CARRIED.search(str(exc))
    if found is None:
        return None
    return int(found.group(1)), pickle.loads(base64.b64decode(found.group(2)))


def normalise_files(
    pieces: list[Pieces], schema: pa.Schema, index: int
) -> Iterator[pa.RecordBatch]:
    """What one task yields: file `index`'s normalised frames as Arrow batches of `schema`
    (a column the file's frames lack reads as null, as polars' relaxed concat reads it)."""
    try:
        for frame in pieces[index]():
            table = frame.to_arrow()
            n = table.num_rows
            arrays = [
                table.column(f.name).cast(f.type) if f.name in table.column_names
                else pa.nulls(n, f.type)
                for f in schema
                if f.name != FILE
            ]  # fmt: skip
            arrays.append(pa.array([index] * n, pa.int32()))
            yield from pa.Table.from_arrays(arrays, schema=schema).to_batches(CHUNK_ROWS)
    except Exception as exc:
        raise RuntimeError(_carry(index, exc)) from None


def _read_back(folder: Path, indices: list[int], schema: pl.Schema) -> Pieces:
    """A load's lines as Spark wrote them, file by file in order, a bounded number at a time."""

    def pieces() -> Iterator[pl.DataFrame]:
        for index in indices:
            for path in sorted((folder / f"{FILE}={index}").glob("*.parquet")):
                for batch in pq.ParquetFile(path).iter_batches(CHUNK_ROWS):
                    frame = pl.from_arrow(batch)
                    assert isinstance(frame, pl.DataFrame)
                    yield frame.cast({c: t for c, t in schema.items() if t != pl.Null})

    return pieces


def _failing(error: BaseException) -> Pieces:
    def pieces() -> Iterator[pl.DataFrame]:
        raise error

    return pieces


def _run(spark, loads: list[PeriodLoad], folder: Path) -> list[PeriodLoad]:
    """One Spark job normalising every file of `loads` (lines of one schema)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    lines = loads[0].lines.collect_schema()
    pieces: list[Pieces] = []
    owned: list[list[int]] = []
    for load in loads:
        assert load.by_file is not None
        owned.append(list(range(len(pieces), len(pieces) + len(load.by_file))))
        pieces += load.by_file
    schema = pa.schema([*_arrow(lines), pa.field(FILE, pa.int32())])

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for index in batch.column(0).to_pylist():
                yield from normalise_files(pieces, schema, int(index))

    files = spark.range(0, len(pieces), 1, numPartitions=len(pieces))  # a partition a file
    try:
        with warnings.catch_warnings():  # pyspark frets over pandas 3, which Arrow data skips
            warnings.simplefilter("ignore", FutureWarning)
            out = files.mapInArrow(run, from_arrow_schema(schema))
            out.write.mode("overwrite").partitionBy(FILE).parquet(str(folder))
    except Exception as exc:
        found = carried(exc)
        if found is None:
            raise
        index, error = found
        # the failing load raises the task's error when the store stages it; the others are
        # normalised here as the default engine does, so the first error met is its own
        return [
            replace(load, pieces=_failing(error)) if index in mine else load
            for load, mine in zip(loads, owned, strict=True)
        ]
    return [
        replace(load, pieces=_read_back(folder, mine, lines))
        for load, mine in zip(loads, owned, strict=True)
    ]


@contextlib.contextmanager
def normalised(
    engine: EngineSettings, loads: list[PeriodLoad], staging: Path
) -> Iterator[list[PeriodLoad]]:
    """`loads` with the lines of those a reader split by file normalised on Spark, staged
    under `staging` until the caller is done with them; the other loads as they were."""
    split = [load for load in loads if load.by_file]
    if not split:
        yield loads
        return
    spark = session(engine)
    folders: list[Path] = []
    done: dict[int, PeriodLoad] = {}
    try:
        groups: dict[str, list[PeriodLoad]] = {}  # one job for the loads of one schema
        for load in split:
            groups.setdefault(str(load.lines.collect_schema()), []).append(load)
        for group in groups.values():
            folders.append(staging / f"spark-lines-{new_load_id()}")
            for load, ran in zip(group, _run(spark, group, folders[-1]), strict=True):
                done[id(load)] = ran
        yield [done.get(id(load), load) for load in loads]
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
