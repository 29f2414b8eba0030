"""The typing and checks of GCP billing export rows, before ingest/sources/gcp.py converts them.

`typed` gives one file's flat rows the typed values the rules read (_cost, _qty, _start, _end,
_period, _ctype, _credit_amounts); `survey` makes one pass over the typed rows per (billing
account, invoice month): currencies, files, sums and how many rows break each of MASKS; `check`
refuses the first broken rule, naming its first such row, and a usage that ends before it starts.
The amounts are parsed by the conversion pass anyway, so a read surveys without them
(`survey(money=False)`) and the conversion counts and sums them a chunk at a time
(`money_sums`); whatever breaks a rule is then refused by `check` over the whole export.
"""

from __future__ import annotations

import polars as pl

from ingest.sources.gcp_catalog import COST_TYPES, CUD_FEE
from ingest.sources.gcp_export import ExportFile
from ingest.sources.values import IN_RANGE, money_text, out_of_range, quantity
from models.errors import InputError


def _money(expr: pl.Expr) -> pl.Expr:
    return money_text(expr)


def _ts(name: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):  # Parquet and BigQuery: already a UTC timestamp
        return pl.col(name)
    text = pl.col(name).str.strip_chars().str.replace(" UTC$", "+00:00").str.replace("Z$", "+00:00")
    return pl.coalesce(
        text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us"),
    ).dt.convert_time_zone("UTC")


TIMES = ("usage_start_time", "usage_end_time")


def typed(frame: pl.LazyFrame) -> pl.LazyFrame:
    """One file's `flat` frame with the typed values the rules read (_cost, _start ...).

    A native timestamp is typed as it is and its text column left empty: writing a
    timestamp as text only to parse it back cost more than the rest of the typing.
    """
    types = frame.collect_schema()
    return frame.with_columns(
        _money(pl.col("cost")).alias("_cost"),
        quantity(pl.col("usage.amount_in_pricing_units"), pl.String).alias("_qty"),
        _money(pl.col("cost_at_list")).alias("_list"),
        _ts("usage_start_time", types["usage_start_time"]).alias("_start"),
        _ts("usage_end_time", types["usage_end_time"]).alias("_end"),
        pl.col("invoice.month")
        .str.strip_chars()
        .str.to_date("%Y%m", strict=False)
        .alias("_period"),
        pl.col("cost_type").fill_null("regular").str.to_lowercase().alias("_ctype"),
        pl.col("credits")
        .list.eval(_money(pl.element().struct.field("amount")))
        .alias("_credit_amounts"),
    ).with_columns(
        pl.lit(None, pl.String).alias(name)
        for name in TIMES
        if isinstance(types[name], pl.Datetime)
    )


def credit_sum(amounts: pl.Expr) -> pl.Expr:
    """Each row's sum of a list of Decimal amounts (0 for an empty list). Not `list.sum()`:
    on Decimal lists polars takes a slow path, ~50x the time of this aggregation."""
    return amounts.list.agg(pl.element().sum())


CURRENCY = "a currency code such as USD"
TIMESTAMP = "a timestamp such as 2022-08-01 03:00:00+00:00"


# What each typed row must hold: (column, mask of bad rows, what was expected).
MASKS = (
    ("cost", pl.col("cost").is_null() | pl.col("_cost").is_null(), "a decimal number"),
    ("credits.amount", pl.col("_credit_amounts").list.eval(pl.element().is_null()).list.any(),
     "every credit with a decimal amount"),
    ("invoice.month", pl.col("_period").is_null(), "a month as YYYYMM"),
    ("usage_start_time", pl.col("_start").is_null(), TIMESTAMP),
    ("usage_end_time", pl.col("_end").is_null(), TIMESTAMP),
    ("currency", ~pl.col("currency").fill_null("").str.contains(r"^[A-Z]{3}$"), CURRENCY),
    ("billing_account_id", pl.col("billing_account_id").is_null(), "the billing account id"),
    ("cost_type", ~pl.col("_ctype").is_in(list(COST_TYPES)), "one of " + ", ".join(COST_TYPES)),
)  # fmt: skip
BACKWARDS = pl.col("_end") < pl.col("_start")
MONEY_RULES = ("cost", "credits.amount")  # the rules of MASKS that parse the amounts


def _sums() -> list[pl.Expr]:
    return [
        pl.col("_cost").sum().alias("cost"),
        credit_sum(pl.col("_credit_amounts")).sum().alias("credits"),
    ]


def survey(frame: pl.LazyFrame, money: bool = True) -> pl.DataFrame:
    """One pass over the typed rows: per (billing account, invoice month) its currencies,
    files, sum(cost) and sum(credits), and how many rows break each of MASKS. Without
    `money` the amounts are not parsed: no sums, and the rules of MONEY_RULES not counted
    (the conversion pass, which parses them anyway, does: `money_sums`)."""
    masks = [(c, m) for c, m, _ in MASKS if money or c not in MONEY_RULES]
    return (
        frame.group_by("billing_account_id", "_period")
        .agg(
            pl.col("currency").unique().alias("currencies"),
            pl.col("_file").unique().alias("files"),
            *(_sums() if money else []),
            *[mask.sum().alias(f"bad {column}") for column, mask in masks],
            BACKWARDS.sum().alias("backwards"),
            pl.col("sku.description").str.contains(CUD_FEE).sum().alias("fee rows"),
        )
        .sort("_period", "billing_account_id")
        .collect(engine="streaming")
    )


def money_sums(rows: pl.DataFrame) -> pl.DataFrame:
    """One row: how many of the typed `rows` break a rule of MONEY_RULES (`bad`), their
    sum(cost) and sum(credits), as `survey` counts and sums them; a month's chunks add up."""
    bad = [mask.sum() for column, mask, _ in MASKS if column in MONEY_RULES]
    return rows.select(pl.sum_horizontal(bad).alias("bad"), *_sums())


def broken(keys: pl.DataFrame) -> bool:
    """Whether a `survey` counted any row breaking a rule."""
    counts = [c for c in keys.columns if c.startswith("bad ") or c == "backwards"]
    return any(keys[c].sum() for c in counts)


def check(frame: pl.LazyFrame, exports: list[ExportFile], keys: pl.DataFrame | None = None) -> None:
    """Refuse the first rule of MASKS any row breaks, naming its first such row; `keys` is
    the `survey` of `frame` (made here when not given)."""
    keys = survey(frame) if keys is None else keys
    for column, mask, expected in MASKS:
        if f"bad {column}" not in keys.columns:  # not surveyed (`money=False`)
            continue
        count = keys[f"bad {column}"].sum()
        if not count:
            continue
        row = frame.filter(mask).head(1).collect().row(0, named=True)
        value = row.get(column.split(".")[0]) if column != "credits.amount" else row["credits"]
        raise InputError(
            f"{count} row(s) with a bad {column}",
            file=exports[row["_file"]].display,
            location=f"line {row['_line']}, column {column}",
            expected=IN_RANGE if column == "cost" and out_of_range(value) else expected,
            found="an empty value" if value is None else repr(value)[:120],
            hint="re-export the billing table",
        )
    backwards = frame.filter(BACKWARDS).head(1).collect() if keys["backwards"].sum() else None
    if (
        backwards is not None and backwards.height
    ):  # no export writes one: a damaged or hand-edited row
        row = backwards.row(0, named=True)
        raise InputError(
            "usage ends before it starts",
            file=exports[row["_file"]].display,
            location=f"line {row['_line']}, column usage_end_time",
            expected=f"a timestamp not before usage_start_time ({_shown(row, 'start')})",
            found=repr(_shown(row, "end")),
            hint="re-export the billing table",
        )


def _shown(row: dict, which: str) -> str:
    """A row's usage_{start,end}_time as the file wrote it (native ones in ISO 8601)."""
    text = row[f"usage_{which}_time"]
    return text if text is not None else row[f"_{which}"].isoformat()
