"""Azure commitments (reservations and savings plans) on cost-details rows.

Which rows a commitment covers (a benefit id on a reservation or savings-plan row, or an
unused-commitment row), the VM size a row ran on, and per (billing account, period,
commitment) the one VM size its used hours ran on, so an unused commitment's line can carry
it: a GPU reservation's unused hours are GPU hours paid for.
"""

from __future__ import annotations

import polars as pl


def benefit() -> pl.Expr:
    return pl.coalesce("BenefitId", "ReservationId")


def vm_size() -> pl.Expr:
    size = pl.col("AdditionalInfo").str.json_path_match("$.ServiceType")
    return pl.when(size.str.contains(r"^(Standard|Basic)_[A-Za-z0-9_]+$")).then(size)


def has_benefit() -> pl.Expr:
    unused = pl.col("_ctype_key").str.starts_with("unused")
    return benefit().is_not_null() & (
        pl.col("_pm_key").is_in(["reservation", "savingsplan"]) | unused
    )


def covered_sizes(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Per (billing account, period, commitment): the one VM size its used hours ran on, if
    exactly one (an unused commitment's line carries it: a GPU reservation's unused hours are
    GPU hours paid for). Small: one row per commitment, joined back to every line."""
    unused = pl.col("_ctype_key").str.starts_with("unused")
    sizes = frame.filter(has_benefit() & ~unused).select(  # a null mask leaves the row out
        "_account", "_period", benefit().alias("_benefit_key"), vm_size().alias("_size")
    )
    return (
        sizes.drop_nulls("_size")
        .group_by("_account", "_period", "_benefit_key")
        .agg(pl.col("_size").n_unique().alias("_n"), pl.col("_size").min().alias("_covered"))
        .filter(pl.col("_n") == 1)
        .drop("_n")
    )
