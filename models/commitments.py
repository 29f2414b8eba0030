"""Commitment cost, one definition for every provider, from FOCUS 1.2 columns.

A commitment (AWS Savings Plan or RI, Azure reservation or savings plan, GCP CUD) is the
CommitmentDiscountId of its lines. Per commitment, billing period and currency:

- purchase: BilledCost of its Purchase lines (what the invoice charged for it);
- used: EffectiveCost of its Usage lines with CommitmentDiscountStatus "Used" (the part
  amortised onto the usage it covered);
- unused: EffectiveCost of its lines with status "Unused" (paid for, not used: the waste);
- utilisation = used / (used + unused);
- coverage = used / (used + eligible on-demand), where eligible on-demand is the EffectiveCost
  of Usage lines of the same provider, currency and period with no commitment, ServiceCategory
  Compute and a PricingCategory other than Dynamic (spot); for a commitment of category Usage
  (RI, reservation, resource CUD) only lines of the instance families it covered count. A
  family is the part of x_InstanceType before its first '.' (p5.48xlarge -> p5), else the
  whole lower-cased type;
- savings = ListCost - EffectiveCost of its Used lines, minus the credits it gave (GCP CUD
  credits are negative Credit lines): what the covered usage would have cost on demand less
  what it cost; net_savings subtracts the unused part;
- gpu: whether any of its Used/Unused lines is gpu_compute (when lines carry x_AiClass).

Used and unused are amortised (EffectiveCost); purchase is billed. Sums stay Decimal and per
currency. `lines` may be pre-aggregated (any grouping that keeps these columns and sums the
money) — the result is the same, which is how the warehouse feeds it.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from models.rules import GPU_COMPUTE

MONEY = pl.Decimal(38, 12)
COLUMNS = (  # what `summarise` reads; x_AiClass and x_InstanceType are optional
    "ProviderName",
    "BillingCurrency",
    "BillingPeriodStart",
    "ChargeCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountType",
    "CommitmentDiscountCategory",
    "CommitmentDiscountStatus",
    "ServiceCategory",
    "PricingCategory",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
)
SUMMARY_SCHEMA = {
    "provider": pl.String,
    "commitment_id": pl.String,
    "name": pl.String,
    "type": pl.String,
    "category": pl.String,
    "period": pl.Date,
    "currency": pl.String,
    "gpu": pl.Boolean,
    "purchase": MONEY,
    "used": MONEY,
    "unused": MONEY,
    "utilisation": pl.Float64,
    "coverage": pl.Float64,
    "savings": MONEY,
    "net_savings": MONEY,
}
KEYS = ["ProviderName", "BillingCurrency", "BillingPeriodStart"]
# The columns a pre-aggregation groups by (besides what it sums, `MONEY_COLUMNS`).
GROUP_COLUMNS = (
    *(c for c in COLUMNS if c not in ("BilledCost", "EffectiveCost", "ListCost")),
    "x_InstanceType",
    "x_AiClass",
)
MONEY_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost")
# The lines `summarise` reads: a commitment's own, and the compute usage it could cover.
LINES_SQL = (
    "(CommitmentDiscountId IS NOT NULL "
    "OR (ChargeCategory = 'Usage' AND ServiceCategory = 'Compute'))"
)


def family(itype: pl.Expr) -> pl.Expr:
    """Instance family of an instance type: p5.48xlarge -> p5; other types whole."""
    low = itype.str.to_lowercase().str.strip_prefix("ml.")
    return pl.when(low.str.contains(r"\.")).then(low.str.split(".").list.first()).otherwise(low)


def _sum(value: str, where: pl.Expr) -> pl.Expr:
    return pl.col(value).filter(where).sum().cast(MONEY)


def _ratio(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    return pl.when(whole != 0).then(part.cast(pl.Float64) / whole.cast(pl.Float64))


def summarise(lines: pl.LazyFrame) -> pl.DataFrame:
    """One row per commitment, period and currency (SUMMARY_SCHEMA), most unused first."""
    schema = lines.collect_schema()
    extra = []
    if "x_InstanceType" not in schema:
        extra.append(pl.lit(None, dtype=pl.String).alias("x_InstanceType"))
    if "x_AiClass" not in schema:
        extra.append(pl.lit(None, dtype=pl.String).alias("x_AiClass"))
    frame = lines.with_columns(*extra, family(pl.col("x_InstanceType")).alias("_family"))
    committed = frame.filter(pl.col("CommitmentDiscountId").is_not_null())
    status = pl.col("CommitmentDiscountStatus")
    used = (pl.col("ChargeCategory") == "Usage") & (status == "Used")
    unused = status == "Unused"
    per = committed.group_by([*KEYS, "CommitmentDiscountId"]).agg(
        pl.col("CommitmentDiscountName").drop_nulls().first().alias("name"),
        pl.col("CommitmentDiscountType").drop_nulls().first().alias("type"),
        pl.col("CommitmentDiscountCategory").drop_nulls().first().alias("category"),
        (pl.col("x_AiClass").filter(used | unused) == GPU_COMPUTE).any().alias("gpu"),
        _sum("BilledCost", pl.col("ChargeCategory") == "Purchase").alias("purchase"),
        _sum("EffectiveCost", used).alias("used"),
        _sum("EffectiveCost", unused).alias("unused"),
        (
            _sum("ListCost", used)
            - _sum("EffectiveCost", used)
            - _sum("EffectiveCost", pl.col("ChargeCategory") == "Credit")
        ).alias("savings"),
    )
    families = (
        committed.filter(used & pl.col("_family").is_not_null())
        .select(*KEYS, "CommitmentDiscountId", "_family")
        .unique()
    )
    on_demand = frame.filter(
        pl.col("CommitmentDiscountId").is_null()
        & (pl.col("ChargeCategory") == "Usage")
        & (pl.col("ServiceCategory") == "Compute")
        & (pl.col("PricingCategory").fill_null("Standard") != "Dynamic")
    )
    by_family = on_demand.group_by([*KEYS, "_family"]).agg(
        pl.col("EffectiveCost").sum().cast(MONEY).alias("_od")
    )
    all_compute = on_demand.group_by(KEYS).agg(
        pl.col("EffectiveCost").sum().cast(MONEY).alias("_od_all")
    )
    family_od = (
        families.join(by_family, on=[*KEYS, "_family"], how="inner")
        .group_by([*KEYS, "CommitmentDiscountId"])
        .agg(pl.col("_od").sum().cast(MONEY).alias("_od_family"))
    )
    zero = pl.lit(Decimal(0), dtype=MONEY)
    eligible = (
        pl.when(pl.col("category") == "Usage")
        .then(pl.coalesce("_od_family", zero))
        .otherwise(pl.coalesce("_od_all", zero))
    )
    out = (
        per.join(all_compute, on=KEYS, how="left", nulls_equal=True)
        .join(family_od, on=[*KEYS, "CommitmentDiscountId"], how="left", nulls_equal=True)
        .with_columns(eligible.alias("_eligible"))
        .select(
            pl.col("ProviderName").alias("provider"),
            pl.col("CommitmentDiscountId").alias("commitment_id"),
            "name",
            "type",
            "category",
            pl.col("BillingPeriodStart").cast(pl.Date).alias("period"),
            pl.col("BillingCurrency").alias("currency"),
            pl.col("gpu").fill_null(False),
            "purchase",
            "used",
            "unused",
            _ratio(pl.col("used"), pl.col("used") + pl.col("unused")).alias("utilisation"),
            _ratio(pl.col("used"), pl.col("used") + pl.col("_eligible")).alias("coverage"),
            "savings",
            (pl.col("savings") - pl.col("unused")).cast(MONEY).alias("net_savings"),
        )
        .sort(["period", "unused", "commitment_id"], descending=[False, True, False])
        .collect()
    )
    return out.cast(SUMMARY_SCHEMA)  # type: ignore[arg-type]


def wasted(summary: pl.DataFrame) -> dict[str, tuple[Decimal, Decimal]]:
    """Per currency: (unused, used + unused) — how much of what was committed went unused."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for currency, group in summary.group_by("currency"):
        unused = Decimal(group["unused"].sum() or 0)
        total = unused + Decimal(group["used"].sum() or 0)
        out[str(currency[0])] = (unused, total)
    return dict(sorted(out.items()))
