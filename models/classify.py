"""Classification of cost lines: AI class, egress kind, workload, team/project/environment.

The rules read a few columns of a line (the key columns) and nothing else, so they are
decided once per *distinct* combination of those columns (a few thousand even on 10M lines):
`classify_keys` is that decision, a pure polars pipeline, and the one definition of the
rules. Applying it to every line is a join, which the warehouse does in one DuckDB pass
(ingest/derive/line_classes.py), storing each line's class combination as an id (`class_key`) into
a small table of combinations. The tests hold that pass equal to a per-line polars oracle
(tests/oracles/classify.py).

GPU detection uses the shipped accelerator catalogue keyed by instance type / VM size /
machine type, never substrings of SkuId or other ids.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from models.errors import ConfigError
from models.rules import (
    MANAGED_AI,
    OTHER,
    SAAS_TOOL,
    UNKNOWN_WORKLOAD,
    ClassifySettings,
    Rule,
    RuleSet,
)
from models.schema import COST_LINES, Column, Table

CLASS_COLUMNS: dict[str, pl.DataType] = {
    "x_AiClass": pl.String(),
    "x_Workload": pl.String(),
    "x_EgressKind": pl.String(),
    "x_ToolFamily": pl.String(),
    "x_Team": pl.String(),
    "x_Project": pl.String(),
    "x_Environment": pl.String(),
    "x_AiClassRule": pl.String(),
    # further columns (explain and gpu_hours use them)
    "x_WorkloadRule": pl.String(),
    "x_TeamRule": pl.String(),
    "x_Tool": pl.String(),
    "x_GpuPerInstance": pl.Float64(),
    "x_GpuModelName": pl.String(),
}

TOOL_CLASSES = (SAAS_TOOL, MANAGED_AI)  # classes whose lines carry a tool family
_ITYPE_FROM_USAGE = r":(?:ml\.)?([a-z][a-z0-9-]*\.[0-9a-z]+)$"


# ---- accelerator catalogue ---------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    families: dict[str, str]  # family -> GPU model
    types: dict[str, tuple[float, str]]  # instance type -> (GPUs, model)

    def family_of(self, itype: str) -> str:
        """p5.48xlarge -> p5; nd96isr_h100_v5 -> nd; a3-highgpu-8g -> a3-highgpu."""
        if "." in itype:
            return itype.split(".", 1)[0]
        if re.match(r"^[a-z]\d+-[a-z]+-\d+", itype):
            return itype.rsplit("-", 1)[0]
        m = re.match(r"^([a-z]+)\d", itype)
        return m.group(1) if m else itype

    def lookup(self, itype: str) -> tuple[str, bool, float | None, str | None]:
        family = self.family_of(itype)
        if itype in self.types:
            gpus, model = self.types[itype]
            return family, True, gpus, model
        if family in self.families and _azure_ok(family, itype):
            return family, True, None, self.families[family]
        return family, False, None, None


def _azure_ok(family: str, itype: str) -> bool:
    # Azure family letters are short (nc, nd, nv, ng): require an Azure-looking size with a
    # version suffix, so an unrelated type starting with "nc" is not taken for a GPU VM.
    if family in ("nc", "nd", "nv", "ng"):
        return bool(re.match(r"^n[cdvg]\d+[a-z]*(_[a-z0-9]+)*_v\d+$", itype))
    return True


def parse_catalogue(doc: dict[str, Any], origin: str = "accelerators.toml") -> Catalogue:
    unknown = set(doc) - {"families", "types"}
    if unknown:
        raise ConfigError(
            f"unknown section(s) {sorted(unknown)}", file=origin, expected="families, types"
        )
    fams = {str(k).lower(): str(v) for k, v in doc.get("families", {}).items()}
    types: dict[str, tuple[float, str]] = {}
    for k, v in doc.get("types", {}).items():
        if not isinstance(v, dict) or set(v) != {"gpus", "model"}:
            raise ConfigError(
                f"instance type {k!r} needs exactly gpus and model", file=origin, found=repr(v)
            )
        types[str(k).lower()] = (float(v["gpus"]), str(v["model"]))
    return Catalogue(fams, types)


# ---- tool catalogue (for x_ToolFamily) ---------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    family: str
    pattern: str  # regex over publisher / service / description


# ---- derived fields ----------------------------------------------------------------------


def _first_tag(keys: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """(value, key) of the first of `keys` present in Tags."""
    value: pl.Expr = pl.lit(None, dtype=pl.String)
    which: pl.Expr = pl.lit(None, dtype=pl.String)
    for key in reversed(keys):
        got = _tag(key)
        value = pl.when(got.is_not_null() & (got != "")).then(got).otherwise(value)
        which = pl.when(got.is_not_null() & (got != "")).then(pl.lit(key)).otherwise(which)
    return value, which


def _tag(key: str) -> pl.Expr:
    return pl.col("Tags").str.json_path_match('$["' + key.replace('"', '\\"') + '"]')


def _price(key: str) -> pl.Expr:
    return pl.col("SkuPriceDetails").str.json_path_match('$["' + key.replace('"', '\\"') + '"]')


def _instance_type() -> pl.Expr:
    """Normalised instance type: lower case, no `ml.` / `Standard_` prefix."""
    azure_meter = (
        pl.when(pl.col("x_SkuMeterCategory") == "Virtual Machines")
        .then(
            pl.col("SkuMeter")
            .str.replace(r"(?i)\s+(spot|low priority)$", "")
            .str.replace_all(r"\s+", "_")
        )
        .otherwise(None)
    )
    raw = pl.coalesce(
        pl.col("x_InstanceType"),
        _price("InstanceType"),
        pl.col("x_UsageType").str.extract(_ITYPE_FROM_USAGE, 1),
        azure_meter,
    )
    return (
        raw.str.to_lowercase()
        .str.strip_chars()
        .str.replace(r"^ml\.", "")
        .str.replace(r"^standard_", "")
    )


# Raw columns every classification reads besides those the rules name.
_BASE_KEYS = (
    "Tags",
    "SkuPriceDetails",
    "x_InstanceType",
    "x_UsageType",
    "x_SkuMeterCategory",
    "SkuMeter",
    "ChargeDescription",
    "x_GpuCount",
    "x_GpuModel",
    "BillingAccountId",
    "SubAccountId",
    "PublisherName",
    "ServiceName",
    "ProviderName",
    "ChargeCategory",
)


def key_columns(ruleset: RuleSet, available: list[str]) -> list[str]:
    keys = list(_BASE_KEYS)
    for f in sorted(ruleset.fields):
        if f in available and f not in keys:
            keys.append(f)
    return [k for k in keys if k in available]


def derived_values(
    line: pl.DataFrame, fields: set[str], settings: ClassifySettings, catalogue: Catalogue
) -> dict[str, object]:
    """The derived fields (FIELDS_DERIVED, tag.<key>, price.<key>) in `fields` of one cost
    line, as the rules saw them: what `finops explain` shows beside a rule's conditions."""
    row = _with_derived(line.lazy(), fields, settings, catalogue).collect().row(0, named=True)
    return {f: row.get(f) for f in sorted(fields) if f in row}


def _with_derived(
    frame: pl.LazyFrame, fields: set[str], settings: ClassifySettings, catalogue: Catalogue
) -> pl.LazyFrame:
    wl_value, _ = _first_tag(settings.workload_tags)
    extra = [
        _instance_type().alias("instance_type"),
        pl.coalesce(pl.col("SkuMeter"), pl.col("ChargeDescription")).alias("sku_description"),
        wl_value.alias("workload_tag"),
    ]
    for f in sorted(fields):
        if f.startswith("tag."):
            extra.append(_tag(f[4:]).alias(f))
        elif f.startswith("price."):
            extra.append(_price(f[6:]).alias(f))
    frame = frame.with_columns(extra)
    types = frame.select("instance_type").unique().collect()["instance_type"].drop_nulls()
    rows = [(t, *catalogue.lookup(t)) for t in types.to_list()]
    mapping = pl.LazyFrame(
        {
            "instance_type": [r[0] for r in rows],
            "instance_family": [r[1] for r in rows],
            "accelerator": ["yes" if r[2] else "no" for r in rows],
            "gpu_count": [r[3] for r in rows],
            "_cat_model": [r[4] for r in rows],
        },
        schema={
            "instance_type": pl.String,
            "instance_family": pl.String,
            "accelerator": pl.String,
            "gpu_count": pl.Float64,
            "_cat_model": pl.String,
        },
    )
    return frame.join(mapping, on="instance_type", how="left")


def _decide(rules: list[Rule], target: str) -> tuple[pl.Expr, pl.Expr]:
    """(value, rule id) of the strongest matching rule for `target`."""
    value: pl.Expr = pl.lit(None, dtype=pl.String)
    rid: pl.Expr = pl.lit(None, dtype=pl.String)
    for rule in reversed(rules):  # weakest first, so the strongest ends outermost
        cond = pl.lit(True)
        for c in rule.conditions:
            cond = cond & c.expr(pl.col(c.field))
        value = pl.when(cond).then(pl.lit(rule.sets[target])).otherwise(value)
        rid = pl.when(cond).then(pl.lit(rule.id)).otherwise(rid)
    return value, rid


def _team_exprs(settings: ClassifySettings) -> list[pl.Expr]:
    team_tag, team_key = _first_tag(settings.team_tags)
    if settings.team_aliases:
        team_tag = team_tag.replace(settings.team_aliases)
    by_account = (
        pl.coalesce(
            pl.col("SubAccountId").replace_strict(settings.account_teams, default=None),
            pl.col("BillingAccountId").replace_strict(settings.account_teams, default=None),
        )
        if settings.account_teams
        else pl.lit(None, dtype=pl.String)
    )
    acct = pl.coalesce(pl.col("SubAccountId"), pl.col("BillingAccountId"))
    team = pl.coalesce(team_tag, by_account, pl.lit(settings.unallocated))
    rule = (
        pl.when(team_tag.is_not_null())
        .then(pl.lit("tag:") + team_key)
        .when(by_account.is_not_null())
        .then(pl.lit("account:") + acct)
        .otherwise(pl.lit("unallocated"))
    )

    def dim(tags: list[str], amap: dict[str, str]) -> pl.Expr:
        value, _ = _first_tag(tags)
        if amap:
            value = pl.coalesce(
                value,
                pl.col("SubAccountId").replace_strict(amap, default=None),
                pl.col("BillingAccountId").replace_strict(amap, default=None),
            )
        return pl.coalesce(value, pl.lit(settings.unallocated))

    return [
        team.alias("x_Team"),
        rule.alias("x_TeamRule"),
        dim(settings.project_tags, settings.account_projects).alias("x_Project"),
        dim(settings.environment_tags, settings.account_environments).alias("x_Environment"),
    ]


def _on_distinct(frame: pl.LazyFrame, inputs: list[str], exprs: list[pl.Expr]) -> pl.LazyFrame:
    """`frame` with `exprs` (reading only `inputs`) evaluated once per distinct input row."""
    decided = frame.select(inputs).unique().with_columns(exprs)
    return frame.join(decided, on=inputs, how="left", nulls_equal=True)


def _tool_exprs(tools: list[Tool]) -> list[pl.Expr]:
    """Tool family and name by catalogue pattern (whatever the line's AI class)."""
    text = pl.concat_str(
        [
            pl.col("PublisherName").fill_null(""),
            pl.col("ServiceName").fill_null(""),
            pl.col("ChargeDescription").fill_null(""),
        ],
        separator=" | ",
    )
    family: pl.Expr = pl.lit(None, dtype=pl.String)
    name: pl.Expr = pl.lit(None, dtype=pl.String)
    for t in reversed(tools):
        hit = text.str.contains(t.pattern)
        family = pl.when(hit).then(pl.lit(t.family)).otherwise(family)
        name = pl.when(hit).then(pl.lit(t.name)).otherwise(name)
    return [family.alias("x_ToolFamily"), name.alias("x_Tool")]


def classify_keys(
    keys: pl.LazyFrame,
    ruleset: RuleSet,
    settings: ClassifySettings,
    catalogue: Catalogue,
    tools: list[Tool] | None = None,
) -> pl.LazyFrame:
    """Classify distinct key rows: the key columns plus CLASS_COLUMNS."""
    schema = keys.collect_schema()
    frame = _with_derived(keys, ruleset.fields, settings, catalogue)
    for f in ruleset.fields:
        if f not in schema and f not in frame.collect_schema():
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(f))
    cls, cls_rule = _decide(ruleset.for_target("ai_class"), "ai_class")
    wl, wl_rule = _decide(ruleset.for_target("workload"), "workload")
    frame = frame.with_columns(
        cls.fill_null(OTHER).alias("x_AiClass"),
        cls_rule.fill_null("none").alias("x_AiClassRule"),
        wl.fill_null(UNKNOWN_WORKLOAD).alias("x_Workload"),
        wl_rule.fill_null("none").alias("x_WorkloadRule"),
    )
    kinds = {r.id: r.sets.get("egress_kind") for r in ruleset.rules if "ai_class" in r.sets}
    frame = frame.with_columns(
        pl.col("x_AiClassRule")
        .replace_strict(kinds, default=None, return_dtype=pl.String)
        .alias("x_EgressKind"),
        pl.coalesce(
            pl.col("gpu_count"),
            pl.col("x_GpuCount").cast(pl.Float64),
            _price("GpuCount").cast(pl.Float64, strict=False),
        ).alias("x_GpuPerInstance"),
        pl.coalesce(pl.col("x_GpuModel"), pl.col("_cat_model"), _price("x_GpuModel")).alias(
            "x_GpuModelName"
        ),
    )
    # Team and tool depend on three columns each: decided once per distinct value of those
    # (JSON paths and regexes are the costly part), then joined on.
    frame = _on_distinct(frame, ["Tags", "SubAccountId", "BillingAccountId"], _team_exprs(settings))
    frame = _on_distinct(
        frame, ["PublisherName", "ServiceName", "ChargeDescription"], _tool_exprs(tools or [])
    )
    eligible = pl.col("x_AiClass").is_in(TOOL_CLASSES)
    frame = frame.with_columns(
        pl.when(eligible).then(pl.col("x_ToolFamily")).alias("x_ToolFamily"),
        pl.when(eligible).then(pl.col("x_Tool")).alias("x_Tool"),
    )
    out = [c for c in schema.names()] + [c for c in CLASS_COLUMNS]
    return frame.select(out).with_columns([pl.col(c).cast(t) for c, t in CLASS_COLUMNS.items()])


def conform_keys(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Cost-line columns cast to their declared types, absent ones added as nulls."""
    schema = frame.collect_schema()
    names = schema.names()
    wrong = [c for c in COST_LINES.columns if c.name in names and schema[c.name] != c.dtype]
    if wrong:  # e.g. an all-null column of a hand-built frame
        frame = frame.with_columns(pl.col(c.name).cast(c.dtype) for c in wrong)
    missing = [c for c in COST_LINES.columns if c.name not in names]
    if missing:  # partial frames (tests, previews): absent columns are null
        frame = frame.with_columns(pl.lit(None, dtype=c.dtype).alias(c.name) for c in missing)
    return frame


def class_key(values: tuple[object, ...]) -> int:
    """Stable signed 64-bit id of one combination of class values (CLASS_COLUMNS order).

    Content-addressed, so partitions classified at different times share ids and the
    `class_keys` table only ever needs the combinations it has not seen."""
    text = "\x1f".join("\x00" if v is None else repr(v) for v in values)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def with_class_keys(decided: pl.DataFrame) -> pl.DataFrame:
    """`decided` (classify_keys output) with `x_ClassKey` for its class values."""
    combos = decided.select(list(CLASS_COLUMNS)).unique()
    ids = pl.Series("x_ClassKey", [class_key(r) for r in combos.rows()], dtype=pl.Int64)
    return decided.join(
        combos.with_columns(ids), on=list(CLASS_COLUMNS), how="left", nulls_equal=True
    )


def _class_table() -> Table:
    from models.rules import AI_CLASSES, EGRESS_KINDS, WORKLOADS

    allowed = {"x_AiClass": AI_CLASSES, "x_EgressKind": EGRESS_KINDS, "x_Workload": WORKLOADS}
    cols = [Column("x_LineId", "int", False, doc="the cost_lines line classified")]
    for name, dtype in CLASS_COLUMNS.items():
        kind = "float" if dtype == pl.Float64() else "string"
        required = name in ("x_AiClass", "x_Workload", "x_Team", "x_AiClassRule")
        cols.append(Column(name, kind, not required, allowed=allowed.get(name, ())))
    return Table("classifications", tuple(cols))


# What readers see: one row per cost line (a view joining the two stored tables below).
CLASSIFICATIONS = _class_table()
# Stored: each line's class combination, and each combination's values once.
LINE_CLASSES = Table(
    "line_classes",
    (
        Column("x_LineId", "int", False, doc="the cost_lines line classified"),
        Column("x_ClassKey", "int", False, doc="its class combination in class_keys"),
    ),
)
CLASS_KEYS = Table(
    "class_keys",
    (
        Column("x_ClassKey", "int", False, doc="class_key() of the values"),
        *(c for c in CLASSIFICATIONS.columns if c.name != "x_LineId"),
    ),
)
