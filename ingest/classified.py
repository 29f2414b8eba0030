"""Materialised derived datasets: `classifications`, `gpu_hours`, `idle_episodes`.

- `classifications`: x_LineId + the class columns for every cost line, partitioned like
  cost_lines and replaced per partition in one commit, so it follows restatements. The
  `classified_costs` view joins it to cost_lines.
- `gpu_hours`: paid GPU-hours joined with telemetry, partitioned by month and refreshed for the
  months a load touched. `idle_episodes` is rebuilt whole from gpu_hours after that (runs may
  cross month boundaries).

Also the one place that reads the classification inputs (shipped rule files, user rule files,
accelerator and tool catalogues); models/ gets parsed dicts. All writes go through Store.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from deltalake.exceptions import TableNotFoundError

from ingest.store import CHUNK_ROWS, Store, new_load_id, safe_part
from models.classify import CLASSIFICATIONS, Catalogue, Tool, classify, parse_catalogue
from models.errors import ConfigError
from models.idle import (
    GPU_HOURS,
    IDLE_EPISODES,
    billed_gpu_hours,
    gpu_hours,
    idle_episodes,
    owned_rates,
)
from models.rules import ClassifySettings, Rule, RuleSet, build_ruleset, parse_classify_settings
from models.rules import parse_rules as parse_rule_doc
from models.settings import Settings
from models.sprawl import Family, parse_tool_catalogue

SHIPPED_RULE_FILES = ("classes.toml", "workloads.toml")
PART = ("x_PartSource", "x_PartAccount", "x_PartPeriod")
LINE_COLUMNS = (  # cost_lines columns gpu_hours needs beside the class columns
    "x_LineId",
    "ResourceId",
    "ResourceName",
    "ChargeCategory",
    "CommitmentDiscountStatus",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ConsumedQuantity",
    "ConsumedUnit",
    "EffectiveCost",
    "ProviderName",
    "x_Source",
)


@dataclass(frozen=True)
class Rulebook:
    """Everything classification needs, parsed and validated."""

    settings: ClassifySettings
    ruleset: RuleSet
    catalogue: Catalogue
    tools: list[Tool]
    families: dict[str, Family]


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("rule file not found", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None


def _packaged(*parts: str) -> dict:
    return tomllib.loads(resources.files("models").joinpath(*parts).read_text(encoding="utf-8"))


def shipped_rules() -> list[Rule]:
    out: list[Rule] = []
    for name in SHIPPED_RULE_FILES:
        out += parse_rule_doc(_packaged("rules", name), f"models/rules/{name}")
    return out


def read_rule_file(path: Path | str) -> list[Rule]:
    """Parse and validate one user rule file (reads no data)."""
    return parse_rule_doc(_read_toml(Path(path)), str(path))


def rulebook(settings: Settings, extra_files: Iterable[str] = ()) -> Rulebook:
    cs = parse_classify_settings(settings.classify)
    extra = [read_rule_file(p) for p in [*cs.rules, *extra_files]]
    ruleset = build_ruleset(shipped_rules(), extra, cs)
    catalogue = parse_catalogue(
        _packaged("rules", "accelerators.toml"), "models/rules/accelerators.toml"
    )
    tools, families = parse_tool_catalogue(
        _packaged("sprawl_catalogue.toml"), "models/sprawl_catalogue.toml"
    )
    return Rulebook(cs, ruleset, catalogue, tools, families)


# ---- reading the current snapshot ---------------------------------------------------------


def _scan(store: Store, name: str) -> pl.LazyFrame | None:
    if store.table(name) is None:
        return None
    try:
        return pl.scan_delta(str(store.table_path(name)))
    except TableNotFoundError:
        return None


def _part_filter(parts: list[tuple[str, str, str]] | None) -> pl.Expr:
    if parts is None:
        return pl.lit(True)
    cond = pl.lit(False)
    for src, acct, period in parts:
        cond = cond | (
            (pl.col("x_PartSource") == safe_part(src))
            & (pl.col("x_PartAccount") == safe_part(acct))
            & (pl.col("x_PartPeriod") == period)
        )
    return cond


# ---- refreshing ---------------------------------------------------------------------------


def refresh_classifications(
    store: Store, book: Rulebook, parts: list[tuple[str, str, str]] | None = None
) -> int:
    """Re-classify the given (source, account, period) partitions, or everything (None).

    One commit; returns the number of lines classified. The caller holds store.writer().
    """
    lines = _scan(store, "cost_lines")
    if lines is None:
        return 0
    lines = lines.filter(_part_filter(parts))
    staged = store.staging_dir() / f"classifications-{new_load_id()}.parquet"
    try:
        classify_lines = classify(
            lines,
            book.ruleset,
            book.settings,
            book.catalogue,
            book.tools,
            keep=("x_LineId", *PART),
            compact=True,
        )
        rows = write_classified(classify_lines.select([*CLASSIFICATIONS.names, *PART]), staged)
        if parts is None:
            predicate = None
        else:
            predicate = " OR ".join(
                "("
                + " AND ".join(
                    f"{k} = '{v}'"
                    for k, v in zip(PART, (safe_part(s), safe_part(a), p), strict=True)
                )
                + ")"
                for s, a, p in parts
            )
        store.replace_derived("classifications", CLASSIFICATIONS, staged, predicate, list(PART))
    finally:
        staged.unlink(missing_ok=True)
    return int(rows)


def write_classified(frame: pl.LazyFrame, path: Path) -> int:
    """Write classify(..., compact=True) output as plain-string Parquet; returns rows.

    The Enum class columns go out as Parquet dictionary pages straight from their codes; no
    Arrow schema is stored, so readers (and the Delta table) see ordinary string columns.
    """
    # Batch by batch, so memory follows the batch size rather than the period's size.
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for batch in frame.collect_batches(chunk_size=CHUNK_ROWS, engine="streaming"):
            table = batch.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, store_schema=False)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        empty = pl.DataFrame(schema=frame.collect_schema()).to_arrow()
        pq.write_table(empty, path, store_schema=False)
    return rows


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    y, m = (int(x) for x in month.split("-"))
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return start, end


def classified_gpu_lines(store: Store) -> pl.LazyFrame | None:
    lines, classes = _scan(store, "cost_lines"), _scan(store, "classifications")
    if lines is None or classes is None:
        return None
    gpu = classes.filter(pl.col("x_AiClass") == "gpu_compute").select(CLASSIFICATIONS.names)
    return lines.select(LINE_COLUMNS).join(gpu, on="x_LineId", how="inner")


def _util(store: Store) -> pl.LazyFrame:
    util = _scan(store, "gpu_util")
    if util is None:
        from models.schema import GPU_UTIL

        return GPU_UTIL.empty().lazy()
    return util


def refresh_gpu_hours(store: Store, settings: Settings, months: list[str] | None = None) -> int:
    """Rebuild gpu_hours for `months` (None: all) and idle_episodes whole. Returns rows."""
    lines = classified_gpu_lines(store)
    if lines is None:
        return 0
    util = _util(store)
    if months is not None:
        cond = pl.lit(False)
        ucond = pl.lit(False)
        for m in months:
            a, b = _month_bounds(m)
            cond = cond | ((pl.col("ChargePeriodStart") >= a) & (pl.col("ChargePeriodStart") < b))
            ucond = ucond | ((pl.col("hour") >= a) & (pl.col("hour") < b))
        lines, util = lines.filter(cond), util.filter(ucond)
    assets = _scan(store, "assets")
    owned = None if assets is None else owned_rates(assets.collect())
    billed = billed_gpu_hours(lines, owned)
    hours = gpu_hours(billed, util, settings.idle)
    if months is not None:  # a line's hours stay in the month it starts in, bar day overlaps
        hours = hours.filter(pl.col("month").is_in(months))
    staged = store.staging_dir() / f"gpu_hours-{new_load_id()}.parquet"
    try:
        # partitioned by a copy of `month`: Delta keeps partition values out of the data files
        hours.select(*GPU_HOURS.names, pl.col("month").alias("x_PartMonth")).sink_parquet(staged)
        rows = pl.scan_parquet(staged).select(pl.len()).collect().item()
        predicate = None
        if months is not None:
            predicate = " OR ".join(f"x_PartMonth = '{m}'" for m in months)
        store.replace_derived("gpu_hours", GPU_HOURS, staged, predicate, ["x_PartMonth"])
    finally:
        staged.unlink(missing_ok=True)
    refresh_episodes(store, settings)
    return int(rows)


def refresh_episodes(store: Store, settings: Settings) -> int:
    hours = _scan(store, "gpu_hours")
    if hours is None:
        return 0
    staged = store.staging_dir() / f"idle_episodes-{new_load_id()}.parquet"
    try:
        idle_episodes(hours, settings.idle).select(IDLE_EPISODES.names).sink_parquet(staged)
        store.replace_derived("idle_episodes", IDLE_EPISODES, staged, None)
        return int(pl.scan_parquet(staged).select(pl.len()).collect().item())
    finally:
        staged.unlink(missing_ok=True)


def reclassify_all(store: Store, settings: Settings, extra_files: Iterable[str] = ()) -> dict:
    """`finops classify`: everything, with the current rules; then GPU-hours and episodes."""
    book = rulebook(settings, extra_files)
    with store.writer():
        lines = refresh_classifications(store, book, None)
        hours = refresh_gpu_hours(store, settings, None)
    return {"lines": lines, "gpu_hours": hours}
