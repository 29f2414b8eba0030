"""The Arrow memory pool a finops process reads and writes Parquet with.

On pyarrow's default pool (mimalloc), reading an export 100k rows at a time spent its time
in the kernel, faulting memory in again for every batch: decoding 1M GCP rows cost 1.1–2.3
CPU s (0.8–1.8 of the process' system time) against 0.7–0.8 (0.3) with jemalloc, which keeps
freed pages for the next batch (bench/RESULTS.md). A pool the user chose with pyarrow's
own ARROW_DEFAULT_MEMORY_POOL is left alone.
"""

from __future__ import annotations

import os

import pyarrow as pa

CHOSEN_BY_USER = "ARROW_DEFAULT_MEMORY_POOL"


def use_reusing_pool() -> str:
    """Make jemalloc (the system allocator where pyarrow is built without it) the process'
    default Arrow pool, unless the user chose one; returns the pool's name."""
    if not os.environ.get(CHOSEN_BY_USER):
        try:
            pool = pa.jemalloc_memory_pool()
        except NotImplementedError:  # pyarrow built without jemalloc (e.g. Windows)
            pool = pa.system_memory_pool()
        pa.set_memory_pool(pool)
    return pa.default_memory_pool().backend_name
