"""AWS commitments as FOCUS 1.2 models them: the unused part of a fee is its own line.

In a CUR the unused part of a Savings Plan or Reserved Instance stays on its fee line
(SavingsPlanRecurringFee, RIFee) and the used part is amortised onto the covered usage.
FOCUS wants the fee as a Purchase with EffectiveCost 0 and the unused part as a line of its
own: ChargeCategory Usage, CommitmentDiscountStatus Unused, BilledCost 0, EffectiveCost the
unused amount. So sum(BilledCost) stays the invoice and sum(EffectiveCost) the amortised cost.

The Unused line is derived from its fee line alone and placed right after it, so normalising
a file whole or one batch at a time gives the same lines in the same order (the store numbers
lines by position).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import polars as pl

UNUSED = "_unused"  # unused amount of a fee line (helper column, dropped)
UNUSED_QUANTITY = "_unused_quantity"  # unused reserved hours (RI) or amount (Savings Plan)
_COPY = "_copy"  # 0: the line as billed, 1: its derived Unused line


def with_unused_lines(lines: pl.LazyFrame, covered: Mapping[str, str]) -> pl.LazyFrame:
    """`lines` (cost_lines columns plus UNUSED, UNUSED_QUANTITY) with an Unused line after
    every commitment fee line that has an unused part; helper columns dropped.

    `covered`: Savings Plan ARN -> the one instance type it covered in the period, carried by
    its Unused line so an unused GPU commitment is classified with its GPUs.
    """
    amount = pl.col(UNUSED)
    has_unused = (
        amount.is_not_null() & (amount != 0) & pl.col("CommitmentDiscountId").is_not_null()
    ).fill_null(False)
    copies = lines.with_columns(
        pl.int_ranges(0, pl.when(has_unused).then(2).otherwise(1), dtype=pl.Int8).alias(_COPY)
    ).explode(_COPY)
    unused = pl.col(_COPY) == 1
    zero = pl.lit(Decimal(0), dtype=pl.Decimal(38, 12))
    is_sp = pl.col("CommitmentDiscountType") == "Savings Plan"
    plan_type = (
        pl.col("CommitmentDiscountId").replace_strict(
            dict(covered), default=None, return_dtype=pl.String
        )
        if covered
        else pl.lit(None, dtype=pl.String)
    )

    def on_unused(name: str, value: pl.Expr) -> pl.Expr:
        return pl.when(unused).then(value).otherwise(pl.col(name)).alias(name)

    names = lines.collect_schema().names()
    changes = [
        on_unused("BilledCost", zero),
        on_unused("ChargeCategory", pl.lit("Usage")),
        on_unused(
            "ChargeDescription",
            pl.concat_str(
                pl.lit("Unused "),
                pl.col("CommitmentDiscountType"),
                pl.lit(" commitment"),
                pl.when(pl.col("ChargeDescription").is_not_null()).then(
                    pl.concat_str(pl.lit(" ("), pl.col("ChargeDescription"), pl.lit(")"))
                ),
                ignore_nulls=True,
            ),
        ),
        on_unused("ChargeFrequency", pl.lit("Usage-Based")),
        on_unused("CommitmentDiscountStatus", pl.lit("Unused")),
        on_unused("ConsumedQuantity", pl.lit(None, dtype=pl.Decimal(38, 12))),
        on_unused("ConsumedUnit", pl.lit(None, dtype=pl.String)),
        on_unused("ContractedCost", zero),
        on_unused("EffectiveCost", amount),
        on_unused("ListCost", zero),
        on_unused("PricingCategory", pl.lit("Committed")),
        on_unused("PricingQuantity", pl.col(UNUSED_QUANTITY)),
        # A spend commitment's unused part is an amount of money, counted in its currency.
        on_unused(
            "PricingUnit",
            pl.when(is_sp).then(pl.col("BillingCurrency")).otherwise(pl.col("PricingUnit")),
        ),
        on_unused("ResourceId", pl.col("CommitmentDiscountId")),
        on_unused(
            "x_InstanceType",
            pl.when(is_sp).then(plan_type).otherwise(pl.col("x_InstanceType")),
        ),
        on_unused("x_GpuCount", pl.lit(None, dtype=pl.Int64)),
    ]
    changes = [c for c in changes if c.meta.output_name() in names]
    return copies.with_columns(changes).drop(UNUSED, UNUSED_QUANTITY, _COPY)
