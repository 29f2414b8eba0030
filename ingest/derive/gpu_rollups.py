"""The GPU rollups (models.gpu_rollups) staged and committed as derived Delta tables.

gpu_buckets, gpu_demand and gpu_owned_days are staged from the gpu_hours rows a refresh has
just staged, so they are built in the same step, from the same rows, and committed right
after gpu_hours with the same `finops.built_from` record (lineage.stale() compares each with
the sources, and the next refresh repairs the months one of them lags behind).
telemetry_monthly is built from gpu_util's months, recording their fingerprints.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from ingest.derive import lineage, month_inputs, scratch
from ingest.derive.gpu_hours import _copy
from ingest.warehouse.connection import files_select
from ingest.warehouse.load_contract import new_load_id
from ingest.warehouse.store import Store
from models.gpu_rollups import (
    GPU_ROLLUPS,
    PART_MONTH,
    TELEMETRY_MONTHLY,
    WEIGHABLE,
    rollup_sql,
)
from models.schema import GPU_UTIL, Table

ROLLUP_NAMES = tuple(t.name for t in GPU_ROLLUPS)
TELEMETRY = TELEMETRY_MONTHLY.name


def _stage(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    source: str,
    folder: Path,
    only: str | None = None,
    weight: str | None = None,
) -> int:
    """COPY the rollup of `source` rows into `folder`, one x_PartMonth=... folder a month
    (`only`: the one month of every row; `weight`: see `rollup_sql`)."""
    cols = ", ".join(f'"{c}"' for c in (*table.names, PART_MONTH))
    select = f"SELECT {cols} FROM ({rollup_sql(table, source, weight)})"
    rows = _copy(con, select, folder, PART_MONTH, only=only)
    folder.mkdir(parents=True, exist_ok=True)  # no rows: the months are emptied
    return rows


def stage_weighted(
    staging: Path, con: duckdb.DuckDBPyConnection, source: str, only: str | None
) -> dict[str, Path]:
    """Stage the WEIGHABLE rollups from GPU-hours `source` whose rows carry the GPU-hours
    they stand for (`_n`), all in the month `only` if one; by table name."""
    out = {}
    for table in WEIGHABLE:
        folder = staging / f"{table.name}-{new_load_id()}"
        out[table.name] = folder
        _stage(con, table, source, folder, only, weight="_n")
    return out


def stage_gpu_rollups(
    con: duckdb.DuckDBPyConnection,
    hours: Path,
    staging: Path,
    done: dict[str, Path] | None = None,
) -> dict[str, Path]:
    """Stage every GPU rollup not `done` (staged already, by `stage_weighted`) from the
    staged gpu_hours folder `hours` (x_PartMonth=.../); all of them, by table name."""
    files = sorted(str(p) for p in hours.rglob("*.parquet"))
    # a rollup row's month is its hour's, as the gpu_hours row's: one month staged, one month
    months = {p.parent.name.removeprefix(f"{PART_MONTH}=") for p in hours.rglob("*.parquet")}
    only = next(iter(months)) if len(months) == 1 else None
    out = dict(done or {})
    for table in GPU_ROLLUPS:
        if table.name in out:
            continue
        folder = staging / f"{table.name}-{new_load_id()}"
        if files:
            rel = con.read_parquet(files, hive_partitioning=False)
            rel.create_view("_staged_hours", replace=True)
            _stage(con, table, "SELECT * FROM _staged_hours", folder, only)
        else:
            folder.mkdir(parents=True, exist_ok=True)
        out[table.name] = folder
    return out


def commit_gpu_rollups(
    store: Store,
    staged: dict[str, Path],
    replace: list[dict[str, str]] | None,
    record: dict,
) -> None:
    """Commit the staged rollups (the `replace` months, or whole), each with `record`."""
    for table in GPU_ROLLUPS:
        store.replace_derived(
            table.name, table, staged[table.name], replace, [PART_MONTH],
            metadata=lineage.metadata(record),
        )  # fmt: skip


def drop_staged(staged: dict[str, Path]) -> None:
    for folder in staged.values():
        shutil.rmtree(folder, ignore_errors=True)


def needs_whole(store: Store) -> bool:
    """A rollup without a record of GPU lines (not built yet, or by an older finops): build
    all months."""
    return any(lineage.gpu_record(store.table(name)) is None for name in ROLLUP_NAMES)


def refresh_telemetry(store: Store, months: list[str] | None = None) -> int:
    """Rebuild telemetry_monthly for `months` (None: all) from gpu_util; returns rows."""
    util = store.table("gpu_util")  # none yet: an empty table, so that nothing is stale
    before = lineage.recorded(store.table(TELEMETRY))
    if before is None:
        months = None
    now = lineage.partition_fingerprints(util, lineage.MONTH)
    record = lineage.carried(before, now, months)
    folder = store.staging_dir() / f"{TELEMETRY}-{new_load_id()}"
    try:
        with scratch.connect(store.staging_dir()) as con:
            if months is None:
                files = [] if util is None else month_inputs.all_files(util)
                source = files_select(con, "_util_all", files, GPU_UTIL, util)
            else:
                source = month_inputs.telemetry(con, store, months)
            rows = _stage(con, TELEMETRY_MONTHLY, source, folder)
        replace = None if months is None else [{PART_MONTH: m} for m in months]
        store.replace_derived(
            TELEMETRY, TELEMETRY_MONTHLY, folder, replace, [PART_MONTH],
            metadata=lineage.metadata(record),
        )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return int(rows)
