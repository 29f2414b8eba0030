"""The per-line classification pass, in DuckDB: every cost line gets its class combination.

The rules are decided in models/ once per distinct combination of the columns they read
(`models.classify.classify_keys`). What grows with the number of lines, finding those
combinations and joining each line to its answer, runs here in DuckDB over the Parquet
files, streaming, so memory follows DuckDB's limit rather than the size of the period.

Two passes over the same immutable files:
1. group the lines by two 64-bit hashes of the key columns (DuckDB's `hash` over the columns
   in order and in reverse), then fetch the key values of each group from one of its lines;
2. once `decide` has classified those groups, hash every line again and write
   (x_LineId, x_ClassKey, keep...) to Parquet — two integers a line instead of thirteen
   strings, which is most of what a per-line write would cost.
Pass 2 joins on the first hash alone when it is unique among the groups (it practically
always is), otherwise on both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from ingest.warehouse.connection import files_view
from models.classify import CLASS_COLUMNS, with_class_keys
from models.errors import WarehouseError


@dataclass(frozen=True)
class ClassPass:
    rows: int  # lines written
    classes: pl.DataFrame  # x_ClassKey + CLASS_COLUMNS, one row per combination seen
    groups: pl.DataFrame  # _h0, _h1 (the key hashes) and x_ClassKey of every key group


def by_first_hash(groups: pl.DataFrame) -> bool:
    """Whether the first key hash (`_h0`) alone tells the key `groups` apart (it practically
    always does): then a line is hashed once to find its group."""
    return groups["_h0"].n_unique() == groups.height


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def files_source(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[tuple[Sequence[str], dict[str, str]]],
    columns: Sequence[str],
) -> str:
    """SELECT of `columns` over groups of Parquet files, each group with constant columns
    (the Delta partition values, which Delta keeps out of the data files). Each group is a
    view on `con` whose paths DuckDB gets as values, never as SQL text."""
    selects = []
    for n, (paths, constants) in enumerate(files):
        source = files_view(con, f"_files_{n}", list(paths))
        extra = "".join(f", {_sql_str(v)} AS {_q(k)}" for k, v in constants.items())
        selects.append(f"SELECT {', '.join(_q(c) for c in columns)}{extra} FROM {source}")
    return " UNION ALL ".join(selects)


def classify_lines(
    con: duckdb.DuckDBPyConnection,
    source: str,
    keys: Sequence[str],
    decide: Callable[[pl.DataFrame], pl.DataFrame],
    staged: Path,
    keep: Sequence[str] = (),
    partition_by: Sequence[str] = (),
) -> ClassPass:
    """Classify every line of `source` (a SELECT with x_LineId, `keys` and `keep`).

    Writes one Parquet file at `staged`, or with `partition_by` (some of `keep`) a folder of
    `col=value/` files without those columns, as a Delta table keeps them.

    `decide` takes the distinct key rows (plus helper columns it must pass through) and
    returns them with CLASS_COLUMNS.
    """
    if not keys:
        raise WarehouseError("classification has no key columns to read")
    cols = ", ".join(_q(k) for k in keys)
    hashes = f"hash({cols}) AS _h0, hash({', '.join(_q(k) for k in reversed(keys))}) AS _h1"
    # Grouping by the hashes alone is cheap; the key values of each group are then fetched
    # by one line id per group (first occurrences, so the scan skips most row groups).
    groups = con.sql(
        f"SELECT {hashes}, count(*) AS _n, min(x_LineId) AS _r FROM ({source}) GROUP BY _h0, _h1"
    ).pl()
    con.register("_class_rows", groups.select("_r").to_arrow())
    try:
        values = con.sql(
            f"SELECT {hashes}, {cols} FROM ({source}) s "
            "WHERE s.x_LineId IN (SELECT _r FROM _class_rows)"
        ).pl()
    finally:
        con.unregister("_class_rows")
    values = values.unique(["_h0", "_h1"], keep="any")  # ids repeat across partitions
    if groups.join(values, on=["_h0", "_h1"], how="anti").height:
        raise WarehouseError(
            "classification could not read back the lines it grouped",
            hint="nothing was committed; run `finops classify` again",
        )
    groups = groups.join(values, on=["_h0", "_h1"], how="inner")
    decided = with_class_keys(decide(groups))
    by_first = by_first_hash(decided)
    lookup = decided.select("_h0", "_h1", "x_ClassKey").to_arrow()
    con.register("_class_lookup", lookup)
    try:
        scols = ", ".join(f"s.{_q(k)}" for k in keys)
        on = f"hash({scols}) = l._h0"
        if not by_first:
            on += f" AND hash({', '.join(f's.{_q(k)}' for k in reversed(keys))}) = l._h1"
        kept = "".join(f", s.{_q(k)}" for k in keep)
        parts = f", PARTITION_BY ({', '.join(_q(k) for k in partition_by)})" if partition_by else ""
        written = con.execute(
            f"COPY (SELECT s.x_LineId, l.x_ClassKey{kept} FROM ({source}) s "
            f"JOIN _class_lookup l ON {on}) TO $staged (FORMAT parquet{parts})",
            {"staged": str(staged)},
        ).fetchall()[0][0]
    finally:
        con.unregister("_class_lookup")
    expected = int(groups["_n"].sum()) if groups.height else 0
    if written != expected:  # the files changed under us, or a hash was not reproducible
        raise WarehouseError(
            f"classification wrote {written} lines for {expected} read",
            hint="nothing was committed; run `finops classify` again",
        )
    classes = decided.select("x_ClassKey", *CLASS_COLUMNS).unique("x_ClassKey", keep="first")
    return ClassPass(int(written), classes, decided.select("_h0", "_h1", "x_ClassKey"))
