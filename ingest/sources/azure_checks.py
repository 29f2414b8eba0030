"""Azure cost-details checks: the codes an export may carry and the checks on its typed rows.

The charge type, frequency and pricing model codes Cost Management writes, with the FOCUS
values they map to (the reader converts with the same tables), and one check per column that
totals, periods and keys depend on: a bad value stops the load with the file, line, column,
what was expected and what was found, before anything is written.
"""

from __future__ import annotations

import polars as pl

from ingest.sources.azure_export import ExportFile
from ingest.sources.azure_headers import Header
from ingest.sources.values import IN_RANGE, out_of_range
from models.errors import InputError

CHARGE_TYPES = {
    "usage": "Usage",
    "unusedreservation": "Usage",
    "unusedsavingsplan": "Usage",
    "purchase": "Purchase",
    "refund": "Purchase",
    "tax": "Tax",
    "roundingadjustment": "Adjustment",
    "adjustment": "Adjustment",
}
FREQUENCIES = {"usagebased": "Usage-Based", "onetime": "One-Time", "recurring": "Recurring"}
PRICING_MODELS = {
    "ondemand": "Standard",
    "reservation": "Committed",
    "savingsplan": "Committed",
    "spot": "Dynamic",
}

CHECKS: tuple[tuple[str, str, str, str], ...] = (
    # (canonical column, failure mask name, expected, hint)
    ("Cost", "cost", "a decimal number", "fix or re-export the file"),
    ("Cost", "cost_missing", "a cost on every charge row", "re-export the file"),
    ("Date", "date", "a date as MM/DD/YYYY or YYYY-MM-DD", "re-export the file"),
    ("Quantity", "qty", "a decimal number", "fix or re-export the file"),
    ("PayGPrice", "payg", "a decimal number", "fix or re-export the file"),
    ("BillingCurrency", "currency", "a currency code such as USD", "re-export the file"),
    (
        "ChargeType",
        "ctype",
        "one of " + ", ".join(sorted({"Usage", "Purchase", "UnusedReservation",
                                       "UnusedSavingsPlan", "Refund", "Tax",
                                       "RoundingAdjustment", "Adjustment"})),
        "the export has a charge type this version does not know; report it with the file",
    ),
    ("Frequency", "freq", "UsageBased, OneTime or Recurring", "re-export the file"),
    ("PricingModel", "pmodel", "OnDemand, Reservation, SavingsPlan or Spot", "re-export the file"),
)  # fmt: skip


def masks() -> dict[str, pl.Expr]:
    def bad_number(text: str, parsed: str) -> pl.Expr:
        return pl.col(text).is_not_null() & pl.col(parsed).is_null()

    return {
        "cost": bad_number("Cost", "_cost"),
        # (the text is null wherever the number is: as `pl.col("Cost").is_null()`, and
        # still true of the staged rows, which keep the text only where a check fails)
        "cost_missing": pl.col("_cost").is_null() & pl.col("Cost").is_null(),
        "date": pl.col("_date").is_null(),
        "qty": bad_number("Quantity", "_qtyd"),
        "payg": bad_number("PayGPrice", "_payg_price"),
        "currency": ~pl.col("_currency").fill_null("").str.contains(r"^[A-Z]{3}$"),
        "ctype": pl.col("_ctype_key").is_not_null()
        & ~pl.col("_ctype_key").is_in(list(CHARGE_TYPES)),
        "freq": pl.col("_freq_key").is_not_null() & ~pl.col("_freq_key").is_in(list(FREQUENCIES)),
        "pmodel": pl.col("_pm_key").is_not_null() & ~pl.col("_pm_key").is_in(list(PRICING_MODELS)),
    }


def kept_for_messages() -> list[pl.Expr]:
    """Each checked text column, kept only on the rows where one of its checks fails: a
    message quotes it there, the typed column says all the rest, and the staging file writes
    a column of nulls for next to nothing (a text column of every row cost more to write
    than to parse). `masks()` give the same answers on the rows so kept."""
    bad = masks()
    checks: dict[str, list[str]] = {}
    for column, key, _, _ in CHECKS:
        checks.setdefault(column, []).append(key)
    return [
        pl.when(pl.any_horizontal(bad[k] for k in keys)).then(pl.col(column)).alias(column)
        for column, keys in checks.items()
    ]


def check(frame: pl.LazyFrame, exports: list[ExportFile], headers: list[Header]) -> None:
    """Raise InputError for the first bad value: file, line, column, expected and found."""
    masks_of = masks()
    counts = frame.select([m.sum().alias(k) for k, m in masks_of.items()]).collect()
    counts = counts.row(0, named=True)
    for column, key, expected, hint in CHECKS:
        n = counts[key]
        if not n:
            continue
        first = frame.filter(masks_of[key]).head(1).collect().row(0, named=True)
        export, header = exports[first["_file"]], headers[first["_file"]]
        raise InputError(
            f"{n} row(s) with a bad {column}",
            file=export.display,
            location=f"{export.row_word} {first['_line']}, column {header.source_name(column)}",
            expected=IN_RANGE if key == "cost" and out_of_range(first[column]) else expected,
            found=repr(first[column]) if first[column] is not None else "an empty value",
            hint=hint,
        )
