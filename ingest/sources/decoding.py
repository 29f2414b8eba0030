"""Reads of a file's data that fail to decode: a damaged Parquet page behind a sound footer,
a CSV record polars refuses after the line checks passed. Each becomes one InputError naming
the file, raised where the reader decodes the data (no second pass over a file just to check).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.sources.detect import PARQUET, Sniffed, plain_reason
from models.errors import InputError


def check_parquet_data(path: Path, display: str) -> None:
    """Decode every page once, a batch at a time: a sound footer says nothing of the column
    chunks. For readers whose frames are collected later, by the store, where a damaged page
    would surface deep inside a commit; readers that decode everything they use themselves
    guard those reads with `parquet_decoding` instead and skip this second pass."""
    with parquet_decoding(display):
        source = pq.ParquetFile(path, pre_buffer=False)
        for _ in source.iter_batches(batch_size=65_536):
            pass


# What pyarrow and polars raise for column data that does not decode: OSError (thrift,
# decompression), ArrowException, polars' ComputeError, and a Rust panic inside the decoder.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    pa.ArrowException,
    pl.exceptions.ComputeError,
    pl.exceptions.PanicException,
)


@contextlib.contextmanager
def parquet_decoding(display: str) -> Iterator[None]:
    """Reads of a Parquet file's column data: a page that cannot be decoded becomes one
    InputError naming the file (a sound footer says nothing of the pages behind it)."""
    try:
        yield
    except _DECODE_ERRORS as exc:
        raise corrupt_parquet_data(display, exc) from None


def decoding(s: Sniffed) -> contextlib.AbstractContextManager[None]:
    """Reads of a sniffed file's data: a Parquet page or CSV record the reader cannot decode
    becomes one InputError naming the file, never a traceback."""
    return parquet_decoding(s.display) if s.container == PARQUET else _csv_decoding(s.display)


@contextlib.contextmanager
def _csv_decoding(display: str) -> Iterator[None]:
    # The line checks catch what Python's csv module refuses; polars' reader is stricter on a
    # few damaged files (a quote that makes a chunk's row count disagree).
    try:
        yield
    except pl.exceptions.ComputeError as exc:
        raise InputError(
            "the file cannot be read as CSV",
            file=display,
            expected="one record per line, quotes closed, the header's number of fields",
            found=f"text the CSV reader refuses ({plain_reason(exc)})",
            hint="the file is damaged; download it again",
        ) from None


def corrupt_parquet_data(display: str, exc: BaseException) -> InputError:
    return InputError(
        "truncated or corrupt Parquet file",
        file=display,
        expected="column data that decodes as its footer describes",
        found=f"data that cannot be decoded ({plain_reason(exc)})",
        hint="the download or upload was damaged; fetch the file again",
    )
