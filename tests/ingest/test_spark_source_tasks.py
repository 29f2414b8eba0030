"""What a Spark task runs to normalise one file (ingest/engines/spark_sources), without Spark:
the file's frames as Arrow batches of the job's schema, and an error carried whole to the
driver in the task's failure, so the store shows the default engine's message."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest

from ingest.engines.spark_sources import FILE, carried, normalise_files
from models.errors import InputError

SCHEMA = pa.schema(
    [
        pa.field("BilledCost", pa.decimal128(38, 12)),
        pa.field("Tags", pa.string()),
        pa.field(FILE, pa.int32()),
    ]
)


def _frames() -> Iterator[pl.DataFrame]:
    yield pl.DataFrame({"BilledCost": [Decimal("1.25"), Decimal("2.5")]}).cast(
        {"BilledCost": pl.Decimal(38, 12)}
    )


def test_a_files_frames_come_out_in_the_jobs_schema_tagged_by_file() -> None:
    batches = list(normalise_files([_frames, _frames], SCHEMA, 1))
    table = pa.Table.from_batches(batches)
    assert table.schema == SCHEMA
    assert table.column("BilledCost").to_pylist() == [Decimal("1.25"), Decimal("2.5")]
    assert table.column("Tags").null_count == 2  # a column the file lacks reads as null
    assert table.column(FILE).to_pylist() == [1, 1]


@pytest.mark.parametrize(
    "error",
    [
        pl.exceptions.InvalidOperationError("conversion from `str` to `decimal` failed"),
        InputError("not an AWS Cost and Usage Report", file="cur.csv", found="csv"),
    ],
)
def test_a_tasks_error_reaches_the_driver_as_itself(error: Exception) -> None:
    def failing() -> Iterator[pl.DataFrame]:
        raise error
        yield  # a generator, as a reader's pieces are

    with pytest.raises(RuntimeError) as failed:
        list(normalise_files([_frames, failing], SCHEMA, 1))
    # Spark wraps the task's failure in its own text: the error is found inside it
    wrapped = RuntimeError(f"Job aborted: Python worker failed: {failed.value}\n  at ...")
    found = carried(wrapped)
    assert found is not None
    index, again = found
    assert index == 1 and type(again) is type(error) and str(again) == str(error)
    assert carried(RuntimeError("executor lost")) is None
