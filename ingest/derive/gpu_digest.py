"""The GPU lines of a cost_lines partition, digested: what its months' GPU data is built from.

The one rule: the lines a month's GPU data (gpu_hours, idle_episodes, the GPU rollups) reads
are the gpu_compute lines starting in that month (`month_inputs.gpu_lines`), with the
cost_lines columns gpu_hours reads (`classified.LINE_COLUMNS`) and their class combination
(`x_ClassKey`, content-addressed: it names x_Team, x_GpuPerInstance, x_GpuModelName).

A partition's digest of them, per month they start in, is their count and two sums of 64-bit
hashes of every line's values: the same lines give the same digest in any order or file
layout, and adding, removing or changing any value of one line changes it. It is computed
while the partition is classified, over the lines of GPU classes only (a partition with none,
the usual Azure, GCP or SaaS one, reads nothing more), and line_classes' commit records it
(`lineage.GPU_LINES`), so a load that changed no GPU line rebuilds no GPU month.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from ingest.derive import lineage
from ingest.derive.line_classes import files_source
from models.rules import GPU_COMPUTE

GPU_KEYS = "_gpu_lookup"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def gpu_groups(groups: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """The key groups (`_h0`, `_h1`, `x_ClassKey`) a classification pass found whose class
    is gpu_compute."""
    keys = classes.filter(pl.col("x_AiClass") == GPU_COMPUTE)["x_ClassKey"]
    return groups.filter(pl.col("x_ClassKey").is_in(keys.implode()))


def digests(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[tuple[Sequence[str], dict[str, str]]],
    keys: Sequence[str],
    gpu: pl.DataFrame,
    by_first: bool = False,
) -> dict[str, dict[str, str]]:
    """{partition: {month: digest}} of the GPU lines of `files` (groups of one partition's
    data files with its stored values), whose key groups are `gpu` (`gpu_groups`; hashed over
    `keys` in order and reversed, as the classification pass did). Partitions without GPU
    lines are left out. `by_first`: the first hash alone tells the pass's key groups apart
    (`line_classes.by_first_hash`), so a line is hashed once to find its group."""
    if not gpu.height or not files:
        return {}
    on = f"hash({', '.join(f's.{_q(k)}' for k in keys)}) = g._h0"
    if not by_first:
        on += f" AND hash({', '.join(f's.{_q(k)}' for k in reversed(keys))}) = g._h1"
    con.register(GPU_KEYS, gpu.select("_h0", "_h1", "x_ClassKey").to_arrow())
    try:
        return _digest(con, files, keys, f"JOIN {GPU_KEYS} g ON {on}")
    finally:
        con.unregister(GPU_KEYS)


def digests_of_classified(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[tuple[Sequence[str], dict[str, str]]],
    staged: Path,
    classes: pl.DataFrame,
) -> dict[str, dict[str, str]]:
    """`digests` when the lines' classes were written by another engine (Spark): each line
    finds its x_ClassKey in the staged line_classes files by its line id. The same lines and
    classes give the same digest either way."""
    keys = classes.filter(pl.col("x_AiClass") == GPU_COMPUTE).select("x_ClassKey")
    if not keys.height or not files:
        return {}
    con.register(GPU_KEYS, keys.to_arrow())
    try:
        written = str(staged / "**" / "*.parquet")
        return _digest(
            con,
            files,
            [],
            "JOIN (SELECT c.x_LineId, c.x_ClassKey FROM read_parquet($staged) c "
            f"SEMI JOIN {GPU_KEYS} k ON c.x_ClassKey = k.x_ClassKey) g "
            "ON s.x_LineId = g.x_LineId",
            {"staged": written},
        )
    finally:
        con.unregister(GPU_KEYS)


def _digest(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[tuple[Sequence[str], dict[str, str]]],
    keys: Sequence[str],
    join: str,
    params: dict | None = None,
) -> dict[str, dict[str, str]]:
    """The digest of the lines of `files` that `join` (to `g`, with x_ClassKey) keeps."""
    from ingest.derive.classified import LINE_COLUMNS, PART

    columns = list(dict.fromkeys(["x_LineId", *LINE_COLUMNS, *keys]))
    source = files_source(con, files, columns)
    cols = ", ".join(f"s.{_q(c)}" for c in LINE_COLUMNS)
    parts = ", ".join(f"s.{_q(p)}" for p in PART)
    names = ", ".join(_q(p) for p in PART)
    # summed by start first, the month formatted per start rather than per line (formatting
    # a TIMESTAMPTZ cost more than the hashes); sums of sums are exact
    rows = con.sql(
        f"""SELECT {names}, strftime(_start, '%Y-%m') AS _month, sum(_n), sum(_a), sum(_b)
        FROM (SELECT {parts}, s.ChargePeriodStart AS _start, count(*) AS _n,
                     sum(hash({cols}, g.x_ClassKey)) AS _a, sum(hash(g.x_ClassKey, {cols}, 1)) AS _b
              FROM ({source}) s {join}
              GROUP BY ALL)
        GROUP BY ALL""",
        params=params,
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for *values, month, n, a, b in rows:
        part = lineage.part_key([str(v) for v in values])
        out.setdefault(part, {})[str(month)] = f"{n}:{lineage.fingerprint([f'{n}:{a}:{b}'])}"
    return out
