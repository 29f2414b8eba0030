"""Materialised derived datasets: `classifications`, `gpu_hours`, `idle_episodes`.

- `classifications`: the class columns of every cost line. Stored as `line_classes`
  (x_LineId, x_ClassKey), partitioned like cost_lines and replaced per partition in one
  commit, so it follows restatements, and `class_keys` (each class combination once); the
  `classifications` view joins the two and `classified_costs` joins that to cost_lines.
- `gpu_hours`: paid GPU-hours joined with telemetry, partitioned by month and refreshed for the
  months a load touched. `idle_episodes` follows: only the runs that touch those months are
  derived again (runs may cross month boundaries), when its commit says it came from the
  gpu_hours just replaced with the same idle settings; else it is rebuilt whole.

Also the one place that reads the classification inputs (shipped rule files, user rule files,
accelerator and tool catalogues); models/ gets parsed dicts. All writes go through Store.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from ingest.derive import line_classes, lineage, scratch
from ingest.warehouse.cost_line_load import safe_part
from ingest.warehouse.load_contract import Progress, new_load_id
from ingest.warehouse.store import Store
from models.classify import (
    CLASS_KEYS,
    LINE_CLASSES,
    Catalogue,
    Tool,
    classify_keys,
    conform_keys,
    key_columns,
    parse_catalogue,
)
from models.errors import ConfigError
from models.idle import (
    GPU_HOURS,
    IDLE_EPISODES,
    owned_rates,
)
from models.rules import (
    ClassifySettings,
    Rule,
    RuleSet,
    build_ruleset,
    parse_classify_settings,
)
from models.rules import parse_rules as parse_rule_doc
from models.schema import COST_LINES, Table
from models.settings import EngineSettings, Settings
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
    "BillingCurrency",
)


@dataclass(frozen=True)
class Rulebook:
    """Everything classification needs, parsed and validated."""

    settings: ClassifySettings
    ruleset: RuleSet
    catalogue: Catalogue
    tools: list[Tool]
    families: dict[str, Family]
    engine: EngineSettings = field(default_factory=EngineSettings)  # runs the per-line pass


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
    return Rulebook(cs, ruleset, catalogue, tools, families, settings.engine)


# ---- reading the current snapshot ---------------------------------------------------------


def _scan(store: Store, name: str) -> pl.LazyFrame | None:
    """The current rows of a small table (class_keys, assets), read by deltalake itself:
    polars' scan_delta takes deltalake's percent-encoded paths literally (a space in the
    warehouse folder's name would be looked for as %20)."""
    table = store.table(name)
    if table is None:
        return None
    return pl.from_arrow(table.to_pyarrow_table()).lazy()


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

    Commits class_keys (the class combinations, whole: small) and then line_classes (each
    line's combination, the partitions replaced); returns the number of lines classified.
    A crash between the two leaves unused combinations, never lines without one. The caller
    holds store.writer().
    """
    return refresh_partitions(store, book, _part_values(parts))


def refresh_partitions(
    store: Store, book: Rulebook, wanted: list[dict[str, str]] | None = None
) -> int:
    """`refresh_classifications` of partitions given by their stored values (None: all).

    line_classes' commit records the cost_lines fingerprint of every partition it holds and
    the digest of each one's GPU lines (ingest.derive.lineage, ingest.derive.gpu_digest); a
    line_classes that recorded either not is classified whole."""
    from ingest.derive import gpu_digest

    table = store.table("cost_lines")
    if table is None:
        return 0
    old = store.table("line_classes")
    before, gpu_before = lineage.recorded(old), lineage.recorded(old, lineage.GPU_LINES)
    if before is None or gpu_before is None:
        wanted = None  # first built, or by an older finops: whole, all recorded
    rebuilt = None if wanted is None else [lineage.part_key([w[k] for k in PART]) for w in wanted]
    built_from = lineage.carried(before, lineage.partition_fingerprints(table, PART), rebuilt)
    gpu_lines: dict[str, dict[str, str]] = {}
    files = _partition_files(store, table, wanted)
    staging = store.staging_dir()
    staged = staging / f"line_classes-{new_load_id()}"  # a folder of partition files
    staged_keys = staging / f"class_keys-{new_load_id()}.parquet"
    try:
        keys = key_columns(book.ruleset, COST_LINES.names)
        rows, classes = 0, _empty(CLASS_KEYS)
        if files and book.engine.name == "spark":  # the per-line pass on a Spark session
            from ingest.engines import spark_classify

            schema = pa.schema(table.schema().to_arrow())
            done = spark_classify.classify_lines(
                book.engine, files, schema, keys, functools.partial(_decide, book), staged,
                keep=PART, partition_by=PART,
            )  # fmt: skip
            rows, classes = done.rows, done.classes
            with scratch.connect(staging) as con:
                gpu_lines = gpu_digest.digests_of_classified(con, files, staged, classes)
        elif files:  # else nothing is left in these partitions (all restated away)
            with scratch.connect(staging) as con:
                source = line_classes.files_source(con, files, ["x_LineId", *keys])
                done = line_classes.classify_lines(
                    con,
                    source,
                    keys,
                    functools.partial(_decide, book),
                    staged,
                    keep=PART,
                    partition_by=PART,
                )
                gpu = gpu_digest.gpu_groups(done.groups, done.classes)
                by_first = line_classes.by_first_hash(done.groups)
                gpu_lines = gpu_digest.digests(con, files, keys, gpu, by_first)
            rows, classes = done.rows, done.classes
        known = _scan(store, "class_keys")
        if wanted is not None and known is not None:  # keep the combinations other parts use
            classes = pl.concat([known.select(CLASS_KEYS.names).collect(), classes])
        classes.select(CLASS_KEYS.names).unique("x_ClassKey", keep="first").write_parquet(
            staged_keys
        )
        store.replace_derived("class_keys", CLASS_KEYS, staged_keys, None)
        staged.mkdir(exist_ok=True)
        store.replace_derived(
            "line_classes", LINE_CLASSES, staged, wanted, list(PART),
            metadata={
                **lineage.metadata(built_from),
                lineage.GPU_LINES: lineage.json_record(
                    lineage.carried(gpu_before, gpu_lines, rebuilt)
                ),
            },
        )  # fmt: skip
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        staged_keys.unlink(missing_ok=True)
    return int(rows)


def _part_values(parts: list[tuple[str, str, str]] | None) -> list[dict[str, str]] | None:
    """(source, account, period) as the partition values stored in the tables."""
    if parts is None:
        return None
    return [dict(zip(PART, (safe_part(s), safe_part(a), p), strict=True)) for s, a, p in parts]


def _decide(book: Rulebook, groups: pl.DataFrame) -> pl.DataFrame:
    keys = conform_keys(groups.lazy())
    return classify_keys(keys, book.ruleset, book.settings, book.catalogue, book.tools).collect()


def _empty(table: Table, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    return pl.DataFrame(schema={**table.polars_schema, **{c: pl.String for c in extra}})


def _partition_files(
    store: Store, table: DeltaTable, wanted: list[dict[str, str]] | None
) -> list[tuple[list[str], dict[str, str]]]:
    """The data files of the wanted cost_lines partitions, grouped with their values."""
    actions = store.partition_files(table, list(PART), wanted)
    if not actions.height:
        return []
    cols = [f"partition.{p}" for p in PART]
    root = store.table_path("cost_lines")
    out = []
    for values, group in actions.group_by(cols, maintain_order=True):
        paths = [str(root / p) for p in group["path"].to_list()]
        out.append((paths, dict(zip(PART, (str(v) for v in values), strict=True))))
    return out


def refresh_gpu_hours(store: Store, settings: Settings, months: list[str] | None = None) -> int:
    """Rebuild gpu_hours and the GPU rollups for `months` (None: all), then idle_episodes
    (the runs near those months, or whole); telemetry_monthly too. Returns gpu_hours rows.

    The per-row work runs in DuckDB (ingest.derive.gpu_hours) with the definitions of models.idle;
    a line's hours stay in the month it starts in, bar day overlaps. With `months` only those
    months' files are read (ingest.derive.month_inputs): a month costs a month.
    """
    from ingest.derive import gpu_hours as db
    from ingest.derive import gpu_rollups, month_inputs
    from ingest.warehouse import views

    gpu_rollups.refresh_telemetry(store, months)
    cost_lines = store.table("cost_lines")
    if cost_lines is None:
        return 0
    if months is not None and (_outdated(store) or gpu_rollups.needs_whole(store)):
        months = None  # written before a column or a rollup was added: rebuilt whole
    before = lineage.gpu_record(store.table("gpu_hours"))
    if before is None:
        months = None  # first built, or before records were kept: whole, all recorded
    built_from = lineage.carried(before, lineage.gpu_inputs(store.table, settings.idle), months)
    assets = _scan(store, "assets")
    owned = None if assets is None else owned_rates(assets.collect())
    views.register_all(settings)  # classified_costs and what it reads
    staging = store.staging_dir()
    staged = staging / f"gpu_hours-{new_load_id()}"  # a folder of month files
    episodes = staging / f"idle_episodes-{new_load_id()}.parquet"
    by_month = staging / f"idle_episodes-{new_load_id()}"
    rollups: dict[str, Path] = {}
    reach: dict[str, str] | None = None
    try:
        with scratch.connect(staging) as con:
            month_lines = None if months is None else month_inputs.gpu_lines(con, store, months)
            if month_lines is None:
                db.warehouse_views(con, store.root)
                lines, grouped = month_inputs.whole_gpu_lines(cost_lines)
                util = "SELECT * FROM gpu_util"
            else:  # those months' files only
                lines, grouped = month_lines
                util = month_inputs.telemetry(con, store, months or [])
            write = db.writer(settings.engine)
            weighted = functools.partial(gpu_rollups.stage_weighted, staging)
            done = write(
                con, lines, util, owned, settings.idle, staged, months, episodes, weighted, grouped
            )
            rollups = done.rollups or {}  # staged already: dropped below whatever happens
            staged.mkdir(exist_ok=True)
            rollups = gpu_rollups.stage_gpu_rollups(con, staged, staging, done.rollups)
            reach = None if done.episodes is None else db.split_by_month(con, episodes, by_month)
        replace = None if months is None else [{"x_PartMonth": m} for m in months]
        basis = _episodes_basis(store)  # read before gpu_hours moves on
        before_version = _version(store, "gpu_hours")
        version = store.replace_derived(
            "gpu_hours", GPU_HOURS, staged, replace, ["x_PartMonth"],
            metadata=lineage.metadata(built_from),
        )  # fmt: skip
        gpu_rollups.commit_gpu_rollups(store, rollups, replace, built_from)
        if reach is not None:  # staged with the hours (all months)
            by_month.mkdir(exist_ok=True)
            store.replace_derived(
                "idle_episodes", IDLE_EPISODES, by_month, None, ["x_PartMonth"],
                metadata=_episodes_metadata(version, settings, reach),
            )  # fmt: skip
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(by_month, ignore_errors=True)
        episodes.unlink(missing_ok=True)
        gpu_rollups.drop_staged(rollups)
    if reach is None:
        # only the months' runs change when the episodes are those of the table just replaced
        current = (
            basis is not None
            and basis.get("gpu_hours") == before_version
            and basis.get("idle") == lineage.idle_record(settings.idle)
        )
        refresh_episodes(store, settings, months if current else None)
    return int(done.rows)


def _outdated(store: Store) -> bool:
    """gpu_hours or idle_episodes lack a column their contract now declares."""
    from ingest.warehouse.connection import missing_columns

    for name, decl in (("gpu_hours", GPU_HOURS), ("idle_episodes", IDLE_EPISODES)):
        table = store.table(name)
        if table is not None and missing_columns(table, decl):
            return True
    return False


EPISODES_OF = lineage.EPISODES_OF


def _version(store: Store, dataset: str) -> int | None:
    """The version of the table's last data commit (a vacuum's commits do not count)."""
    return lineage.data_version(store.table(dataset))


def _episodes_metadata(
    hours_version: int, settings: Settings, reach: dict[str, str]
) -> dict[str, str]:
    """What idle_episodes were derived from (the gpu_hours version, the idle settings) and,
    per month of their start, the latest end of that month's episodes (`reach`): which
    months a later refresh must look at, read from the log."""
    idle = lineage.idle_record(settings.idle)
    record = {"gpu_hours": hours_version, "idle": idle, "reach": reach}
    return {EPISODES_OF: json.dumps(record, sort_keys=True)}


def _episodes_basis(store: Store) -> dict | None:
    """What the current idle_episodes were derived from (None: not recorded)."""
    return lineage.recorded(store.table("idle_episodes"), EPISODES_OF)


def _episode_months(reach: dict[str, str], months: list[str], settings: Settings) -> list[str]:
    """The months of episode starts a refresh of `months` rewrites: from the earliest month
    whose episodes may reach the window (or the hours before it that can join a run) to the
    month after the window (a run may start in its last hour)."""
    from ingest.derive.month_inputs import month_of, months_between, next_month, start_of

    ws, last = start_of(min(months)), next_month(max(months))
    lead = ws - timedelta(hours=math.ceil(settings.idle.episode_min_hours))
    near = [
        m for m, end in reach.items()
        if m <= last and datetime.fromisoformat(end) + timedelta(hours=1) > ws
    ]  # fmt: skip
    return months_between(min([*near, *months, month_of(lead)]), last)


def _episodes_near(
    con, store: Store, parts: list[str], months: list[str], settings: Settings, staged: Path
) -> int:
    """Stage the episodes of the start months `parts` after gpu_hours was replaced for
    `months`: the runs near `months` derived again from the gpu_hours months they can reach,
    the rest of those start months' episodes kept. Reads those months' files only."""
    from ingest.derive import gpu_hours as db
    from ingest.derive.month_inputs import month_of, month_select, months_between

    old = month_select(con, store, "idle_episodes", IDLE_EPISODES, parts)
    assert old is not None, "called only when idle_episodes is stored by month"
    lo, hi = db.episode_window(con, old, months, settings.idle)
    reach = months_between(month_of(lo), month_of(hi - timedelta(hours=1)))
    hours = month_select(con, store, "gpu_hours", GPU_HOURS, reach)
    assert hours is not None, "called only when gpu_hours exists"
    return db.write_idle_episodes_window(con, hours, old, months, settings.idle, staged)


def refresh_episodes(store: Store, settings: Settings, months: list[str] | None = None) -> int:
    """Rebuild idle_episodes from gpu_hours: whole, or with `months` only the runs that touch
    those months (right when the current episodes are those of gpu_hours before its rows for
    `months` were replaced). Episodes are stored by the month they start in, and a monthly
    refresh reads and rewrites only the months its runs can reach (`_episode_months`)."""
    from ingest.derive import gpu_hours as db
    from ingest.warehouse.connection import table_select

    if store.table("gpu_hours") is None:
        return 0
    version = _version(store, "gpu_hours")
    table, basis = store.table("idle_episodes"), _episodes_basis(store)
    known = None if basis is None else basis.get("reach")
    by_month = table is not None and table.metadata().partition_columns == ["x_PartMonth"]
    if not (by_month and isinstance(known, dict)):
        months = None  # stored before episodes were kept by month: rebuilt whole
    staging = store.staging_dir()
    staged = staging / f"idle_episodes-{new_load_id()}.parquet"
    folder = staging / f"idle_episodes-{new_load_id()}"
    try:
        with scratch.connect(staging) as con:
            if months and known is not None:
                parts = _episode_months(known, months, settings)
                rows = _episodes_near(con, store, parts, months, settings, staged)
                replace = [{"x_PartMonth": m} for m in parts]
                kept = {m: end for m, end in known.items() if m not in parts}
            else:
                hours = table_select(con, store.table_path("gpu_hours"), GPU_HOURS)
                if hours is None:
                    return 0
                rows = db.write_idle_episodes(con, hours, settings.idle, staged)
                replace, kept = None, {}
            reach = {**kept, **db.split_by_month(con, staged, folder)}
        folder.mkdir(exist_ok=True)
        store.replace_derived(
            "idle_episodes", IDLE_EPISODES, folder, replace, ["x_PartMonth"],
            metadata=_episodes_metadata(int(version or 0), settings, reach),
        )  # fmt: skip
        return rows
    finally:
        staged.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)


def reclassify_all(
    store: Store,
    settings: Settings,
    extra_files: Iterable[str] = (),
    progress: Progress | None = None,
) -> dict:
    """`finops classify`: everything, with the current rules; then GPU-hours and episodes.
    `progress(stage, done, total)` hears of each of the two steps as it starts."""
    book = rulebook(settings, extra_files)  # a bad rule file fails before the lock is taken
    say = progress or (lambda stage, done, total: None)
    with store.writer():
        say("classifying every cost line", 0, 2)
        lines = refresh_classifications(store, book, None)
        say("joining GPU-hours to telemetry, finding idle episodes", 1, 2)
        hours = refresh_gpu_hours(store, settings, None)
        say("done", 2, 2)
    return {"lines": lines, "gpu_hours": hours}
