"""The inputs of a monthly refresh, read from the files of those months only.

A refresh of some months must cost those months, not the history: the files are picked
from the Delta logs (partition values, and the ChargePeriodStart range of each cost_lines
file: its statistics in the log, else its Parquet footer) and only they are handed to
DuckDB, which then reads nothing of the other months. Without that range every cost_lines
file, and the line classes of every partition, would be read for one month.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import duckdb
import polars as pl
import pyarrow.parquet as pq
from deltalake import DeltaTable

from ingest.warehouse.connection import files_select, local_path
from ingest.warehouse.location import is_remote
from ingest.warehouse.store import Store
from models.classify import CLASS_KEYS, LINE_CLASSES
from models.rules import GPU_COMPUTE
from models.schema import COST_LINES, GPU_UTIL, Table

MONTH = "x_PartMonth"
PART = ("x_PartSource", "x_PartAccount", "x_PartPeriod")
START = "ChargePeriodStart"


def next_month(month: str) -> str:
    y, m = (int(x) for x in month.split("-"))
    return f"{y + (m == 12):04d}-{m % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    out, month = [], first
    while month <= last:
        out.append(month)
        month = next_month(month)
    return out


def month_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m")


def start_of(month: str) -> datetime:
    y, m = (int(x) for x in month.split("-"))
    return datetime(y, m, 1, tzinfo=UTC)


def _paths(store: Store, name: str, actions: pl.DataFrame) -> list[str]:
    root = store.table_path(name)
    return [local_path(str(root / p)) for p in actions["path"].to_list()] if actions.height else []


def all_files(table: DeltaTable) -> list[str]:
    """Every data file of the table's current version, as DuckDB opens them."""
    return [local_path(u) for u in table.file_uris()]


def month_files(store: Store, name: str, months: list[str]) -> tuple[DeltaTable | None, list[str]]:
    """The table (None: none yet) and its data files in the `months` partitions."""
    table = store.table(name)
    if table is None:
        return None, []
    actions = store.partition_files(table, [MONTH], [{MONTH: m} for m in months])
    return table, _paths(store, name, actions)


def month_select(
    con: duckdb.DuckDBPyConnection, store: Store, name: str, decl: Table, months: list[str]
) -> str | None:
    """SELECT of `decl`'s columns over the table's `months` partitions (None: no table)."""
    table, files = month_files(store, name, months)
    if table is None:
        return None
    return files_select(con, f"_month_{name}", files, decl, table)


def _footer_range(path: str) -> tuple[datetime, datetime] | None:
    """The ChargePeriodStart range a Parquet file's footer records over its row groups
    (None: a row group records none). A footer is a small read; the lines are not read."""
    meta = pq.read_metadata(path)
    column = next((j for j in range(meta.num_columns) if meta.schema.column(j).path == START), None)
    if column is None or meta.num_row_groups == 0:
        return None
    lows, highs = [], []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        lows.append(_utc(stats.min))
        highs.append(_utc(stats.max))
    return min(lows), max(highs)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def line_files(store: Store, table: DeltaTable, months: list[str]) -> pl.DataFrame:
    """cost_lines' files whose lines may start in `months`, by the ChargePeriodStart range
    the Delta log records for each file or, where it records none (a load commits row
    counts only), its Parquet footer's; a file with neither (or on object storage, where a
    footer is a download) is taken."""
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    if not actions.height:
        return actions
    spans = [(start_of(m), start_of(next_month(m))) for m in months]
    lo, hi = f"min.{START}", f"max.{START}"
    logged = zip(
        actions[lo].to_list() if lo in actions.columns else [None] * actions.height,
        actions[hi].to_list() if hi in actions.columns else [None] * actions.height,
        strict=True,
    )
    root = store.table_path("cost_lines")
    keep = []
    for path, (low, high) in zip(actions["path"].to_list(), logged, strict=True):
        found = None if low is None or high is None else (_utc(low), _utc(high))
        uri = str(root / path)
        if found is None and not is_remote(uri):
            found = _footer_range(local_path(uri))
        keep.append(found is None or any(found[0] < b and found[1] >= a for a, b in spans))
    return actions.filter(pl.Series(keep, dtype=pl.Boolean))


# the class columns gpu_hours reads beside the cost_lines columns (classified.LINE_COLUMNS)
GPU_CLASS_COLUMNS = ("x_AiClass", "x_Team", "x_GpuPerInstance", "x_GpuModelName")


def whole_gpu_lines(cost_lines: DeltaTable) -> tuple[str, str | None]:
    """For a whole rebuild, SQL (over the warehouse views) of every gpu_compute line with what
    gpu_hours needs: of the sources that bill a period in one line, and of `GROUPED_SOURCES`
    (None: none loaded), as the `cost_lines` table's partitions hold them. A side with no
    source loaded is not read: a query reading none would still hash every line's class to
    join them."""
    from ingest.derive.billed_hours import GROUPED_SOURCES
    from ingest.derive.classified import LINE_COLUMNS

    actions = pl.DataFrame(cost_lines.get_add_actions(flatten=True))
    column = f"partition.{PART[0]}"
    loaded = set(actions[column]) if column in actions.columns else set()
    cols = ", ".join(f'"{c}"' for c in (*LINE_COLUMNS, *GPU_CLASS_COLUMNS))
    lines = f"SELECT {cols} FROM classified_costs WHERE x_AiClass = '{GPU_COMPUTE}'"
    several = "x_Source IN (" + ", ".join(f"'{s}'" for s in GROUPED_SOURCES) + ")"
    grouped = set(GROUPED_SOURCES)  # partition values: the source names are safe as they are
    by_line = f"{lines} AND " + (f"NOT {several}" if loaded - grouped else "false")
    return by_line, f"{lines} AND {several}" if loaded & grouped else None


def gpu_lines(
    con: duckdb.DuckDBPyConnection, store: Store, months: list[str]
) -> tuple[str, str | None] | None:
    """SQL of the gpu_compute lines starting in `months`, with the columns and classes
    gpu_hours needs (as `classified_costs` has them), over those months' files only: those
    of the sources that bill a period in one line, and those of `GROUPED_SOURCES` (None:
    none loaded), which `billed_hours.stage_inputs` groups per period as it reads them."""
    from ingest.derive.billed_hours import GROUPED_SOURCES

    lines = store.table("cost_lines")
    classes_table = store.table("line_classes")
    keys_table = store.table("class_keys")
    if lines is None or classes_table is None or keys_table is None:
        return None  # nothing classified yet: no GPU lines
    picked = line_files(store, lines, months)
    keys = files_select(con, "_month_class_keys", [local_path(u) for u in keys_table.file_uris()],
                        CLASS_KEYS, keys_table)  # fmt: skip
    of = functools.partial(_classified, con, store, lines, classes_table, keys=keys, months=months)
    if not picked.height:
        return of(picked, tag=""), None
    several = picked[f"partition.{PART[0]}"].is_in(GROUPED_SOURCES)
    grouped = picked.filter(several)
    return of(picked.filter(~several), tag=""), of(grouped, tag="_g") if grouped.height else None


def _classified(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    lines: DeltaTable,
    classes_table: DeltaTable,
    picked: pl.DataFrame,
    keys: str,
    months: list[str],
    tag: str,
) -> str:
    """SQL of the gpu_compute lines of the `picked` cost_lines files starting in `months`,
    joined to their classes (views named with `tag`)."""
    from ingest.derive.billed_hours import months_sql
    from ingest.derive.classified import LINE_COLUMNS

    cost = files_select(con, f"_month_cost_lines{tag}", _paths(store, "cost_lines", picked),
                        COST_LINES, lines)  # fmt: skip
    parts = picked.select([f"partition.{k}" for k in PART]).unique().rows() if picked.height else []
    class_files: list[str] = []
    if parts:
        wanted = [dict(zip(PART, (str(v) for v in p), strict=True)) for p in parts]
        class_files = _paths(
            store, "line_classes", store.partition_files(classes_table, list(PART), wanted)
        )
    classes = files_select(con, f"_month_line_classes{tag}", class_files, LINE_CLASSES,
                           classes_table)  # fmt: skip
    cols = ", ".join(f'c."{c}"' for c in LINE_COLUMNS)
    klass = ", ".join(f'k."{c}"' for c in GPU_CLASS_COLUMNS)
    return f"""SELECT {cols}, {klass}
    FROM ({cost}) c
    JOIN ({classes}) l ON l.x_LineId = c.x_LineId
    JOIN ({keys}) k ON k.x_ClassKey = l.x_ClassKey
    WHERE k.x_AiClass = '{GPU_COMPUTE}' AND {months_sql("c.ChargePeriodStart", months)}"""


def telemetry(con: duckdb.DuckDBPyConnection, store: Store, months: list[str]) -> str:
    """SQL of gpu_util's rows in `months` (an empty relation when there is none)."""
    found = month_select(con, store, "gpu_util", GPU_UTIL, months)
    if found is None:
        return files_select(con, "_month_gpu_util", [], GPU_UTIL, None)  # type: ignore[arg-type]
    return found
