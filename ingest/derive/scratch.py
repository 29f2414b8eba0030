"""Private DuckDB connections for the heavy per-line passes (classification, GPU-hours).

In memory, spilling to a scratch folder under the warehouse's staging directory beyond
`memory_limit`, so a pass over millions of lines keeps the process within bounds (an ingest
of 5M lines stays under 2 GiB in all). The scratch folder goes when the connection does.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

MEMORY_LIMIT = "1GB"


@contextmanager
def connect(staging: Path, memory_limit: str = MEMORY_LIMIT) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private in-memory DuckDB that spills to a scratch folder under `staging`."""
    scratch = staging / f"duckdb-{uuid.uuid4().hex}"
    con = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": memory_limit,
            "temp_directory": str(scratch),
            # lets COPY stream without keeping rows in order
            "preserve_insertion_order": False,
        },
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")  # never write to a command's output
        yield con
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
