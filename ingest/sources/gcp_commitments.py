"""GCP resource-based committed use discounts as FOCUS 1.2 models them.

A resource CUD bills a monthly fee per resource (GPU, core, RAM) and credits the usage it
covers; each covered row gets its amortised share of the fee, and the part of a fee no usage
used becomes its own Unused line (as `ingest.sources.aws_commitments` does for AWS).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from ingest.sources.values import money_text
from models.schema import MONEY

RESOURCE_CUD_CREDIT = "COMMITTED_USAGE_DISCOUNT"


def with_cud_shares(base: pl.LazyFrame) -> pl.LazyFrame:
    """`base` (one invoice month) with each row's resource CUD credit (_cud_credit, _cud_id)
    and, where the CUD bills a fee for the row's resource that month, the amortised share of
    that fee its covered quantity used (_used); fee rows get their commitment id (_fee_id)."""
    credit = pl.element().struct.field
    is_cud = credit("type") == RESOURCE_CUD_CREDIT
    rows = base.with_columns(
        pl.col("credits")
        .list.eval(pl.when(is_cud).then(money_text(credit("amount"))))
        .list.sum()
        .fill_null(0)
        .cast(MONEY)
        .alias("_cud_credit"),
        pl.col("credits")
        .list.eval(pl.element().filter(is_cud).struct.field("id"))
        .list.first()
        .alias("_cud_id"),
        pl.when(pl.col("_resource_fee"))
        .then(pl.coalesce("resource.global_name", "sku.id"))
        .alias("_fee_id"),
    )
    rates = (
        rows.filter(pl.col("_resource_fee"))
        .group_by("_fee_id", "_res")
        .agg(
            pl.col("_cost").sum().cast(MONEY).alias("_fee"),
            pl.col("_qty").sum().cast(MONEY).alias("_fee_qty"),
        )
        .join(
            rows.filter(pl.col("_resource_fee"))
            .group_by("_fee_id")
            .agg(pl.col("sku.description").sort().first().alias("_cud_name")),
            on="_fee_id",
        )
        .select(
            pl.col("_fee_id").alias("_cud_id"),
            "_res",
            "_cud_name",
            pl.when(pl.col("_fee_qty") != 0)
            .then(pl.col("_fee") / pl.col("_fee_qty"))
            .cast(MONEY)
            .alias("_rate"),
        )
    )
    # covered quantity = quantity x the share of the cost the CUD credited
    share = (-pl.col("_cud_credit") * pl.col("_qty") / pl.col("_cost")).cast(MONEY)
    return rows.join(rates, on=["_cud_id", "_res"], how="left", maintain_order="left").with_columns(
        pl.when(
            pl.col("_rate").is_not_null() & (pl.col("_cud_credit") != 0) & (pl.col("_cost") != 0)
        )
        .then((share * pl.col("_rate")).cast(MONEY))
        .alias("_used")
    )


def unused_lines(base: pl.LazyFrame, usage: pl.LazyFrame) -> pl.LazyFrame:
    """One Unused line per resource CUD whose fees paid for more than its usage used, made
    from its first fee line; x_InstanceType is the machine type it covered."""
    fees = (
        base.filter(pl.col("_resource_fee"))
        .group_by("_fee_id")
        .agg(pl.col("_cost").sum().cast(MONEY).alias("_fee"))
    )
    used = (
        base.filter(pl.col("_used").is_not_null())
        .group_by("_cud_id")
        .agg(
            pl.col("_used").sum().cast(MONEY).alias("_used"),
            pl.col("_machine").drop_nulls().sort().first().alias("_covered_type"),
        )
    )
    unused = (
        fees.join(used, left_on="_fee_id", right_on="_cud_id", how="left")
        .with_columns((pl.col("_fee") - pl.col("_used").fill_null(0)).cast(MONEY).alias("_unused"))
        .filter(pl.col("_unused") > 0)
    )
    zero = pl.lit(Decimal(0), dtype=MONEY)
    columns = usage.collect_schema().names()
    first_fee = (
        usage.filter(
            (pl.col("ChargeCategory") == "Purchase")
            & (pl.col("CommitmentDiscountCategory") == "Usage")
        )
        .group_by("CommitmentDiscountId", maintain_order=True)
        .agg(pl.all().first())
    )
    return (
        first_fee.join(unused, left_on="CommitmentDiscountId", right_on="_fee_id", how="inner")
        .with_columns(
            zero.alias("BilledCost"),
            pl.lit("Usage").alias("ChargeCategory"),
            pl.concat_str(
                pl.lit("Unused Committed Use Discount commitment ("),
                pl.col("CommitmentDiscountId"),
                pl.lit(")"),
            ).alias("ChargeDescription"),
            pl.lit("Usage-Based").alias("ChargeFrequency"),
            pl.lit("Unused").alias("CommitmentDiscountStatus"),
            pl.lit(None, MONEY).alias("ConsumedQuantity"),
            pl.lit(None, pl.String).alias("ConsumedUnit"),
            zero.alias("ContractedCost"),
            pl.col("_unused").alias("EffectiveCost"),
            zero.alias("ListCost"),
            pl.lit("Committed").alias("PricingCategory"),
            pl.lit(None, MONEY).alias("PricingQuantity"),
            pl.lit(None, pl.String).alias("PricingUnit"),
            pl.col("CommitmentDiscountId").alias("ResourceId"),
            pl.col("_covered_type").alias("x_InstanceType"),
            pl.lit(None, pl.String).alias("x_GpuModel"),
            pl.lit(None, pl.Int64).alias("x_GpuCount"),
        )
        .select(columns)
    )
