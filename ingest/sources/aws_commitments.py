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


def with_unused_lines(lines: pl.LazyFrame, covered: Mapping[str, str]) -> pl.LazyFrame:
    """`lines` (cost_lines columns plus UNUSED, UNUSED_QUANTITY) with an Unused line after
    every commitment fee line that has an unused part; helper columns dropped.

    `covered`: Savings Plan ARN -> the one instance type it covered in the period, carried by
    its Unused line so an unused GPU commitment is classified with its GPUs.
    Applied batch by batch (the result of a line depends on that line alone), so a streamed
    read stays streamed.
    """
    schema = lines.collect_schema()
    out = pl.Schema({k: v for k, v in schema.items() if k not in (UNUSED, UNUSED_QUANTITY)})
    return lines.map_batches(
        lambda batch: unused_after_fees(batch, covered),
        schema=out,
        streamable=True,
    )


def unused_after_fees(lines: pl.DataFrame, covered: Mapping[str, str]) -> pl.DataFrame:
    """`with_unused_lines` on one frame: the lines as they are, cut after each fee line with
    an unused part to put its Unused line there (fee lines are few, so this is a handful of
    zero-copy slices, not a pass over every column)."""
    amount = pl.col(UNUSED)
    unused = (amount.is_not_null() & (amount != 0)).fill_null(False)
    named = pl.col("CommitmentDiscountId").is_not_null()
    at = lines.select(pl.arg_where(unused & named)).to_series().to_list()
    # A fee line without its commitment's ARN cannot have an Unused line (FOCUS wants the
    # commitment's id on it): its unused part stays on the fee line, as the CUR amortises it,
    # rather than vanishing from the amortised cost.
    kept = lines.with_columns(
        pl.when(unused & ~named)
        .then(amount.cast(lines.schema["EffectiveCost"]))
        .otherwise(pl.col("EffectiveCost"))
        .alias("EffectiveCost")
    ).drop(UNUSED, UNUSED_QUANTITY)
    if not at:
        return kept
    unused = _as_unused(lines[at], covered).select(kept.columns)
    parts, prev = [], 0
    for j, i in enumerate(at):
        parts += [kept.slice(prev, i + 1 - prev), unused.slice(j, 1)]
        prev = i + 1
    parts.append(kept.slice(prev))
    return pl.concat(parts, how="vertical")


def _as_unused(fees: pl.DataFrame, covered: Mapping[str, str]) -> pl.DataFrame:
    """The Unused line of each fee line in `fees`."""
    zero = pl.lit(Decimal(0), dtype=pl.Decimal(38, 12))
    is_sp = pl.col("CommitmentDiscountType") == "Savings Plan"
    plan_type = (
        pl.col("CommitmentDiscountId").replace_strict(
            dict(covered), default=None, return_dtype=pl.String
        )
        if covered
        else pl.lit(None, dtype=pl.String)
    )
    description = pl.concat_str(
        pl.lit("Unused "),
        pl.col("CommitmentDiscountType"),
        pl.lit(" commitment"),
        pl.when(pl.col("ChargeDescription").is_not_null()).then(
            pl.concat_str(pl.lit(" ("), pl.col("ChargeDescription"), pl.lit(")"))
        ),
        ignore_nulls=True,
    )
    changes = {
        "BilledCost": zero,
        "ChargeCategory": pl.lit("Usage"),
        "ChargeDescription": description,
        "ChargeFrequency": pl.lit("Usage-Based"),
        "CommitmentDiscountStatus": pl.lit("Unused"),
        "ConsumedQuantity": pl.lit(None, dtype=pl.Decimal(38, 12)),
        "ConsumedUnit": pl.lit(None, dtype=pl.String),
        "ContractedCost": zero,
        "EffectiveCost": pl.col(UNUSED),
        "ListCost": zero,
        "PricingCategory": pl.lit("Committed"),
        "PricingQuantity": pl.col(UNUSED_QUANTITY),
        # A spend commitment's unused part is an amount of money, counted in its currency.
        "PricingUnit": pl.when(is_sp)
        .then(pl.col("BillingCurrency"))
        .otherwise(pl.col("PricingUnit")),
        "ResourceId": pl.col("CommitmentDiscountId"),
        "x_InstanceType": pl.when(is_sp).then(plan_type).otherwise(pl.col("x_InstanceType")),
        "x_GpuCount": pl.lit(None, dtype=pl.Int64),
    }
    schema = fees.schema
    return fees.with_columns(
        value.cast(schema[name]).alias(name) for name, value in changes.items() if name in schema
    )
