"""GCP resource-based committed use discounts as FOCUS 1.2 models them.

A resource CUD bills a monthly fee per resource (GPU, core, RAM) and credits the usage it
covers; each covered row gets its amortised share of the fee, and the part of a fee no usage
used becomes its own Unused line (as `ingest.sources.aws_commitments` does for AWS).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from ingest.sources.gcp_checks import credit_sum
from ingest.sources.values import money_text
from models.schema import MONEY

RESOURCE_CUD_CREDIT = "COMMITTED_USAGE_DISCOUNT"


def with_cud_credit(rows: pl.LazyFrame) -> pl.LazyFrame:
    """`rows` with each row's resource CUD credit (_cud_credit, _cud_id); fee rows get their
    commitment id (_fee_id)."""
    credit = pl.element().struct.field
    is_cud = credit("type") == RESOURCE_CUD_CREDIT
    return rows.with_columns(
        credit_sum(pl.col("credits").list.eval(pl.when(is_cud).then(money_text(credit("amount")))))
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


def cud_rates(fees: pl.LazyFrame) -> pl.LazyFrame:
    """Per commitment and resource, from its fee rows of the month (`with_cud_credit` rows
    with _resource_fee): the CUD's name and the rate, fee cost / fee quantity."""
    return (
        fees.group_by("_fee_id", "_res")
        .agg(
            pl.col("_cost").sum().cast(MONEY).alias("_fee"),
            pl.col("_qty").sum().cast(MONEY).alias("_fee_qty"),
        )
        .join(
            fees.group_by("_fee_id").agg(
                pl.col("sku.description").sort().first().alias("_cud_name")
            ),
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


def with_cud_shares(rows: pl.LazyFrame, rates: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """`with_cud_credit` rows of one invoice month and, where the CUD bills a fee for the
    row's resource that month (`rates`), the amortised share of that fee its covered quantity
    used (_used). Row by row, so a month can be converted a chunk at a time; `rates` known
    beforehand as a DataFrame skips the join when the month has no fee."""
    # covered quantity = quantity x the share of the cost the CUD credited
    share = (-pl.col("_cud_credit") * pl.col("_qty") / pl.col("_cost")).cast(MONEY)
    if isinstance(rates, pl.DataFrame):
        if not rates.height:  # no fee this month: nothing to join (most months)
            return rows.with_columns(
                pl.lit(None, pl.String).alias("_cud_name"),
                pl.lit(None, MONEY).alias("_rate"),
                pl.lit(None, MONEY).alias("_used"),
            )
        rates = rates.lazy()
    return rows.join(rates, on=["_cud_id", "_res"], how="left", maintain_order="left").with_columns(
        pl.when(
            pl.col("_rate").is_not_null() & (pl.col("_cud_credit") != 0) & (pl.col("_cost") != 0)
        )
        .then((share * pl.col("_rate")).cast(MONEY))
        .alias("_used")
    )


def used_by_commitment(base: pl.LazyFrame) -> pl.LazyFrame:
    """What each CUD's usage used (_used) and the machine type it covered; the sums of
    several chunks of a month combine with `combine_used`."""
    return (
        base.filter(pl.col("_used").is_not_null())
        .group_by("_cud_id")
        .agg(
            pl.col("_used").sum().cast(MONEY).alias("_used"),
            pl.col("_machine").drop_nulls().min().alias("_covered_type"),
        )
    )


def combine_used(parts: list[pl.DataFrame]) -> pl.LazyFrame:
    """`used_by_commitment` of a whole month from those of its chunks."""
    if not parts:
        return pl.LazyFrame(
            schema={"_cud_id": pl.String, "_used": MONEY, "_covered_type": pl.String}
        )
    return (
        pl.concat(parts, how="vertical_relaxed")
        .lazy()
        .group_by("_cud_id")
        .agg(
            pl.col("_used").sum().cast(MONEY),
            pl.col("_covered_type").drop_nulls().min(),
        )
    )


def unused_lines(
    fee_base: pl.LazyFrame, fee_usage: pl.LazyFrame, used: pl.LazyFrame
) -> pl.LazyFrame:
    """One Unused line per resource CUD whose fees paid for more than its usage used, made
    from its first fee line (`fee_usage`: the cost lines of the month's fee rows `fee_base`,
    in file order); x_InstanceType is the machine type it covered (`used_by_commitment`)."""
    fees = (
        fee_base.filter(pl.col("_resource_fee"))
        .group_by("_fee_id")
        .agg(pl.col("_cost").sum().cast(MONEY).alias("_fee"))
    )
    unused = (
        fees.join(used, left_on="_fee_id", right_on="_cud_id", how="left")
        .with_columns((pl.col("_fee") - pl.col("_used").fill_null(0)).cast(MONEY).alias("_unused"))
        .filter(pl.col("_unused") > 0)
    )
    zero = pl.lit(Decimal(0), dtype=MONEY)
    columns = fee_usage.collect_schema().names()
    first_fee = (
        fee_usage.filter(
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
