"""SaaS invoices (CSV) -> `cost_lines`, beside the clouds' Marketplace tool spend.

Columns: vendor, product, team, month (YYYY-MM), amount, currency, and optionally seats,
active_seats, invoice_id. One invoice row is one line: ChargeCategory Purchase, ChargeFrequency
Recurring, for the whole month. The vendor is ProviderName, PublisherName and
InvoiceIssuerName (the sample enterprise's truth names SaaS providers by vendor); the billing
account is `saas:<currency>`, so one load is one (month, currency) and amounts in different
currencies are never summed together.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl

from ingest.sources.detect import check_rows
from ingest.sources.values import IN_RANGE, money_text, out_of_range
from ingest.warehouse.load_contract import PeriodLoad, SourceFile
from models.currency import ISO_4217
from models.errors import InputError, did_you_mean

REQUIRED = ("vendor", "product", "team", "month", "amount", "currency")
OPTIONAL = ("seats", "active_seats", "invoice_id")
NULLS = ["", "NULL", "null"]


def _bad(path: Path, row: int, column: str, expected: str, found: object) -> InputError:
    return InputError(
        f"bad value in column {column}",
        file=str(path),
        location=f"row {row + 1} (line {row + 2}), column {column}",
        expected=expected,
        found=repr(found),
        hint="fix the invoice row and run again; nothing was stored",
    )


def read_invoices(path: Path) -> pl.DataFrame:
    """The checked invoice rows (amount as Decimal(38,12), month as a UTC timestamp)."""
    if not path.is_file():
        raise InputError("invoice file not found", file=str(path))
    check_rows(path, str(path), final_newline=False)
    try:
        raw = pl.read_csv(path, infer_schema=False, null_values=NULLS)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise InputError(
            f"not a readable CSV: {str(exc).splitlines()[0]}", file=str(path)
        ) from None
    raw = raw.rename({c: c.strip().lstrip("\ufeff").lower() for c in raw.columns})
    missing = [c for c in REQUIRED if c not in raw.columns]
    unknown = [c for c in raw.columns if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise InputError(
            "invoice columns do not match"
            + "".join(did_you_mean(u, REQUIRED + OPTIONAL) for u in unknown[:1]),
            file=str(path),
            expected=f"{', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})",
            found=f"missing {missing or 'none'}, unknown {unknown or 'none'}",
        )
    if raw.height == 0:
        raise InputError("the invoice file has no rows", file=str(path))
    for c in OPTIONAL:
        if c not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(c))
    raw = raw.with_columns(pl.col(pl.String).str.strip_chars())
    for c in ("vendor", "product", "month", "amount", "currency"):
        nulls = raw[c].is_null()
        if nulls.any():
            raise _bad(path, int(nulls.arg_true()[0]), c, "a value", None)
    amount = raw.select(money_text(pl.col("amount"))).to_series()
    bad = amount.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        said = IN_RANGE if out_of_range(raw["amount"][i]) else "a plain number such as 1234.50"
        raise _bad(path, i, "amount", said, raw["amount"][i])
    month = (raw["month"] + "-01").str.to_date("%Y-%m-%d", strict=False)
    bad = month.is_null() | ~raw["month"].str.contains(r"^\d{4}-\d{2}$")
    if bad.any():
        i = int(bad.arg_true()[0])
        raise _bad(path, i, "month", "a month YYYY-MM", raw["month"][i])
    currency = raw["currency"].str.to_uppercase()
    bad = ~currency.is_in(sorted(ISO_4217))
    if bad.any():
        i = int(bad.arg_true()[0])
        raise _bad(path, i, "currency", "an ISO 4217 code such as USD or EUR", raw["currency"][i])
    seats = {}
    for c in ("seats", "active_seats"):
        value = raw[c].cast(pl.Int64, strict=False)
        bad = (value.is_null() & raw[c].is_not_null()) | (value < 0).fill_null(False)
        if bad.any():
            i = int(bad.arg_true()[0])
            raise _bad(path, i, c, "a whole number of seats >= 0", raw[c][i])
        seats[c] = value
    over = (seats["active_seats"] > seats["seats"]).fill_null(False)
    if over.any():
        i = int(over.arg_true()[0])
        raise _bad(
            path, i, "active_seats", f"at most seats ({seats['seats'][i]})", raw["active_seats"][i]
        )
    return raw.with_columns(
        amount=amount,
        month=month.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        currency=currency,
        seats=seats["seats"],
        active_seats=seats["active_seats"],
    ).with_row_index("row")


def period_loads(path: Path) -> Iterator[PeriodLoad]:
    """One PeriodLoad per (month, currency) of the invoice file."""
    rows = read_invoices(path)
    files = [SourceFile.of(path)]
    lines = _lines(rows, str(path))
    for (month, currency), part in lines.group_by(
        "BillingPeriodStart", "BillingCurrency", maintain_order=True
    ):
        assert isinstance(month, datetime)
        total = Decimal(0)
        for value in rows.filter((pl.col("month") == month) & (pl.col("currency") == currency))[
            "amount"
        ]:
            total += value
        yield PeriodLoad(
            source="saas",
            billing_account=f"saas:{currency}",
            billing_period=month.strftime("%Y-%m"),
            currency=str(currency),
            files=files,
            lines=part.lazy(),
            source_total=total,
            label=str(path),
        )


def _lines(rows: pl.DataFrame, source_file: str) -> pl.DataFrame:
    start = pl.col("month")
    end = start.dt.offset_by("1mo")
    quantity = pl.coalesce(pl.col("seats"), pl.lit(1)).cast(pl.Decimal(38, 12))
    return rows.select(
        pl.col("amount").alias("BilledCost"),
        pl.col("amount").alias("EffectiveCost"),
        pl.col("amount").alias("ListCost"),
        pl.col("amount").alias("ContractedCost"),
        ("saas:" + pl.col("currency")).alias("BillingAccountId"),
        ("SaaS invoices (" + pl.col("currency") + ")").alias("BillingAccountName"),
        pl.col("currency").alias("BillingCurrency"),
        start.alias("BillingPeriodStart"),
        end.alias("BillingPeriodEnd"),
        start.alias("ChargePeriodStart"),
        end.alias("ChargePeriodEnd"),
        pl.lit("Purchase").alias("ChargeCategory"),
        pl.lit("Recurring").alias("ChargeFrequency"),
        (pl.col("vendor") + " " + pl.col("product") + " subscription").alias("ChargeDescription"),
        pl.col("invoice_id").alias("InvoiceId"),
        pl.col("vendor").alias("InvoiceIssuerName"),
        pl.col("vendor").alias("ProviderName"),
        pl.col("vendor").alias("PublisherName"),
        quantity.alias("PricingQuantity"),
        pl.when(pl.col("seats").is_not_null()).then(pl.lit("Seats"))
        .otherwise(pl.lit("Subscriptions")).alias("PricingUnit"),
        pl.lit("Standard").alias("PricingCategory"),
        pl.lit("Business Applications").alias("ServiceCategory"),
        pl.col("product").alias("ServiceName"),
        pl.lit("Other (Business Applications)").alias("ServiceSubcategory"),
        pl.col("product").alias("SkuId"),
        pl.col("team").map_elements(
            lambda t: json.dumps({"team": t} if t else {}), return_dtype=pl.String, skip_nulls=False
        ).alias("Tags"),
        pl.lit(source_file).alias("x_SourceFile"),
        pl.col("seats").alias("x_Seats"),
        pl.col("active_seats").alias("x_ActiveSeats"),
    )  # fmt: skip
