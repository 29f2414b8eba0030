"""A Delta snapshot's data files on object storage, read by Spark's Python tasks.

pyspark ships without Hadoop's s3a/abfs/gcs connectors, and a cluster's may be configured for
another bucket than the warehouse's. So the snapshot's file list (the store's, as for a local
folder) becomes a DataFrame of paths, and each task opens its files with pyarrow's file system
for the location (`location.filesystem`: the endpoint from AWS_ENDPOINT_URL, credentials from
the executor's own default chain, never shipped with the task), reads only the wanted columns
and yields them as Arrow batches typed by the table's schema.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from ingest.warehouse import location

BATCH_ROWS = 65_536  # rows a task hands Spark at a time: memory follows this, not the file
PATH = "_path"


def read_file(uri: str, schema: pa.Schema, constants: dict[str, str]) -> Iterator[pa.RecordBatch]:
    """The `schema` columns of the remote Parquet file `uri` (percent-encoded as deltalake
    names it) with the `constants` as string columns; a column the file lacks reads as null,
    as DuckDB's union_by_name reads it."""
    scheme, _, rest = uri.partition("://")
    fs = location.filesystem(location.SCHEMES[scheme.lower()])
    with fs.open_input_file(unquote(rest)) as handle:
        data = pq.ParquetFile(handle, pre_buffer=False)
        names = [c for c in schema.names if c not in constants]
        present = [c for c in names if c in data.schema_arrow.names]
        for batch in data.iter_batches(BATCH_ROWS, columns=present):
            n = batch.num_rows
            arrays = []
            for field in schema:
                if field.name in constants:
                    arrays.append(pa.array([constants[field.name]] * n, field.type))
                elif field.name in present:
                    arrays.append(batch.column(field.name).cast(field.type))
                else:
                    arrays.append(pa.nulls(n, field.type))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def remote_lines(
    spark,
    files: Sequence[tuple[Sequence[str], dict[str, str]]],
    columns: list[str],
    schema: pa.Schema,
):
    """`columns` (typed by `schema`, whose fields Spark maps) and the partition values of
    every line in the remote `files`, one task per file or so."""
    from pyspark.sql.pandas.types import from_arrow_schema

    keys = list(files[0][1])
    out = pa.schema([schema.field(c) for c in columns] + [pa.field(k, pa.string()) for k in keys])
    rows = [(p, *(v[k] for k in keys)) for group, v in files for p in group]
    paths = spark.createDataFrame(rows, [PATH, *keys]).repartition(len(rows))

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for row in batch.to_pylist():
                yield from read_file(row[PATH], out, {k: row[k] for k in keys})

    with warnings.catch_warnings():  # pyspark frets over pandas 3, which Arrow data skips
        warnings.simplefilter("ignore", FutureWarning)
        return paths.mapInArrow(read, from_arrow_schema(out))
