"""The per-line polars oracle of classification.

Production decides the rules once per distinct key combination (`models.classify.
classify_keys`) and joins every line to its answer in DuckDB (ingest/derive/line_classes.py). This
applies the same decision to every line of a frame in memory, grouping by a 128-bit hash of
the key columns in polars: an independent path for the join, which the tests compare with
the warehouse's line by line.
"""

from __future__ import annotations

import functools
import operator

import polars as pl

from models.classify import (
    CLASS_COLUMNS,
    Catalogue,
    Tool,
    classify_keys,
    conform_keys,
    key_columns,
)
from models.rules import ClassifySettings, RuleSet

_HASH_SEED = 20_26_11_28


def _key_hash(keys: list[str], salt: int) -> pl.Expr:
    return functools.reduce(
        operator.xor,
        [pl.col(k).hash(seed=_HASH_SEED + 1000 * salt + i) for i, k in enumerate(keys)],
    ).alias(f"_h{salt}")


def classify(
    lines: pl.LazyFrame,
    ruleset: RuleSet,
    settings: ClassifySettings,
    catalogue: Catalogue,
    tools: list[Tool] | None = None,
    keep: tuple[str, ...] = ("x_LineId",),
) -> pl.LazyFrame:
    """`keep` columns of every line plus CLASS_COLUMNS (row order not kept)."""
    lines = conform_keys(lines)
    keys = key_columns(ruleset, lines.collect_schema().names())
    # Distinct rule inputs by a 128-bit key (two independently seeded 64-bit hashes of the
    # key columns): grouping two integers is cheaper than a unique over ~20 string columns,
    # and a collision among even 100k distinct keys has probability below 1e-28.
    hashes = (_key_hash(keys, 0), _key_hash(keys, 1))
    hashed = lines.select(*keep, *keys, *hashes).collect()
    distinct = hashed.select(*keys, "_h0", "_h1").unique(subset=["_h0", "_h1"], keep="any")
    decided = classify_keys(distinct.lazy(), ruleset, settings, catalogue, tools)
    return (
        hashed.lazy()
        .join(decided.select("_h0", "_h1", *CLASS_COLUMNS), on=["_h0", "_h1"], how="left")
        .select([*keep, *CLASS_COLUMNS])
    )
