"""Source values to contract types: money as Decimal(38, 12), timestamps as UTC, with row reports.

Text that does not parse becomes null in polars; `first_bad` finds such rows (a value was
there, the parsed one is not) so a reader can name the file, line, column and value instead of
loading a silent null.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from models.errors import InputError
from models.schema import MONEY

UTC = "UTC"


# No billing line is a quadrillion (1e15 USD is ten times the world's yearly output; 1e15
# VND is 40 billion USD). Bounding every amount keeps the Decimal(38, 12) sums of up to 1e11
# lines exact instead of overflowing; an amount beyond it is a damaged or mis-scaled file.
MONEY_LIMIT = Decimal(10) ** 15
BOUNDED = pl.Decimal(12 + 15, 12)  # |x| < MONEY_LIMIT at MONEY's scale
OUT_OF_RANGE = "is out of range"
IN_RANGE = "an amount below 10^15 (1,000,000,000,000,000) either side of zero"


def money(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Decimal(38, 12); text and floats round half-even at 12 decimals (DESIGN §4); an amount
    beyond MONEY_LIMIT becomes null, so a reader's checks refuse it by row and column."""
    # A Decimal of 15 integer digits holds exactly the amounts below MONEY_LIMIT, so the
    # non-strict cast nulls the rest. Not a when/then on `parsed`: polars evaluated the
    # parse once per reference, which doubled the cost of every money column.
    return quantity(expr, dtype).cast(BOUNDED, strict=False).cast(MONEY)


def money_text(expr: pl.Expr) -> pl.Expr:
    """`money` of a text column (the readers that keep every column as text)."""
    return money(expr, pl.String)


def quantity(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Like money, unbounded, for numbers that are not summed as money (unit prices,
    quantities: a month of bytes may pass 1e15)."""
    if dtype == pl.String:
        return expr.str.strip_chars().str.to_decimal(scale=12)
    if dtype == MONEY:
        return expr
    if dtype.is_float():
        # Via the shortest round-trip text: exactly the decimal the exporter wrote. A direct
        # cast scales by 1e12 in binary and is off by up to 1e-11 above ~9,000.
        return expr.cast(pl.String).str.to_decimal(scale=12)
    return expr.cast(MONEY, strict=True)


def out_of_range(value: object) -> bool:
    """A number too large to be an amount (it parses, but beyond MONEY_LIMIT)."""
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        return False
    return number.is_finite() and abs(number) >= MONEY_LIMIT


def timestamp(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """UTC timestamps from ISO text with or without T/Z/offset/fraction, or from native types."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return expr.cast(pl.Datetime("us")).dt.replace_time_zone(UTC)
        return expr.cast(pl.Datetime("us", dtype.time_zone)).dt.convert_time_zone(UTC)
    if isinstance(dtype, pl.Date):
        return expr.cast(pl.Datetime("us")).dt.replace_time_zone(UTC)
    text = expr.str.strip_chars().str.replace("T", " ", literal=True).str.replace(r"Z$", "")

    def parse(fmt: str) -> pl.Expr:
        return text.str.to_datetime(fmt, strict=False, time_unit="us")

    return pl.coalesce(
        parse("%Y-%m-%d %H:%M:%S%.f%:z").dt.convert_time_zone(UTC),
        parse("%Y-%m-%d %H:%M:%S%.f").dt.replace_time_zone(UTC),
        parse("%Y-%m-%d %H:%M").dt.replace_time_zone(UTC),
        parse("%Y-%m-%d").dt.replace_time_zone(UTC),
    )


def present(expr: pl.Expr) -> pl.Expr:
    """Text with something in it, else null: an export's blank field means "no value"."""
    return pl.when(expr.str.strip_chars().str.len_chars() > 0).then(expr)


def pricing(quantity: pl.Expr, unit: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(PricingQuantity, PricingUnit): both or neither, as FOCUS 1.2 wants (PricingUnit-C-005-C,
    -C-006-C). A quantity without its unit says nothing, so it is dropped, not given a guess."""
    unit = present(unit)
    return pl.when(unit.is_not_null()).then(quantity), unit


@dataclass(frozen=True)
class Check:
    column: str  # the column in the frame
    expected: str  # "a decimal number", "a date-time"
    parsed: pl.Expr
    label: str | None = None  # the column as the file names it, when the reader renamed it
    problem: str = "cannot be read"

    @property
    def name(self) -> str:
        return self.label or self.column


def not_before(
    end: str, start: str, schema: pl.Schema, labels: dict[str, str] | None = None
) -> Check:
    """A charge or usage period that ends before it starts: no provider writes one (a damaged
    or hand-edited row). Rows where either end does not parse are left to the parse checks.
    `labels` maps a renamed column to the name the file gives it."""
    labels = labels or {}
    end_at = timestamp(pl.col(end), schema[end])
    start_at = timestamp(pl.col(start), schema[start])
    return Check(
        end,
        f"a date-time not before {labels.get(start, start)} on the same line",
        pl.when(end_at < start_at).then(None).otherwise(end_at),
        labels.get(end),
        problem="is before the start of the period",
    )


def first_bad(frame: pl.LazyFrame, checks: list[Check]) -> tuple[Check, int, str] | None:
    """The first check with an unparseable value: (check, 0-based row, raw value)."""
    if not checks:
        return None
    aggs = []
    for i, c in enumerate(checks):
        bad = pl.col(c.column).is_not_null() & c.parsed.is_null()
        aggs.append(pl.int_range(pl.len(), dtype=pl.Int64).filter(bad).first().alias(f"r{i}"))
    try:
        rows = frame.select(aggs).collect().row(0)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        return _wrong_type(frame, checks)
    for c, row in zip(checks, rows, strict=True):
        if row is not None:
            value = frame.select(pl.col(c.column)).slice(row, 1).collect().item()
            return c, int(row), str(value)
    return None


WHOLE_COLUMN = -1  # the row of a column whose type cannot hold the value at all


def _wrong_type(frame: pl.LazyFrame, checks: list[Check]) -> tuple[Check, int, str]:
    """The check whose column's type cannot be converted at all (a Parquet export with a
    boolean cost, an integer date): polars refuses the cast instead of giving nulls."""
    schema = frame.collect_schema()
    for c in checks:
        frame.select(pl.col(c.column)).collect()  # a page that does not decode is not a type
        try:
            frame.select(c.parsed).collect()
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
            return c, WHOLE_COLUMN, f"a column of type {schema.get(c.column)}"
    raise AssertionError("a check failed together but none alone")  # pragma: no cover


def wrong_type(display: str, column: str, expected: str, found: str) -> InputError:
    """A column whose type cannot hold what the format puts there (a Parquet boolean cost,
    an integer date, a list where text belongs)."""
    return InputError(
        f"column {column!r} has a type that cannot hold its values",
        file=display,
        location=f"column {column}",
        expected=expected,
        found=found,
        hint="re-export the file with the provider's column types; nothing was loaded",
    )


def raise_bad(display: str, found: tuple[Check, int, str] | None, header_lines: int = 1) -> None:
    """One InputError for the first unparseable value (line numbers count the header)."""
    if found is None:
        return
    check, row, value = found
    if row == WHOLE_COLUMN:
        raise wrong_type(display, check.name, check.expected, value)
    problem, expected = check.problem, check.expected
    if check.expected == "a decimal number" and out_of_range(value):
        problem, expected = OUT_OF_RANGE, IN_RANGE
    raise InputError(
        f"value in column {check.name!r} {problem}",
        file=display,
        location=(
            f"line {row + 1 + header_lines}, column {check.name}"
            if header_lines
            else f"row {row + 1}, column {check.name}"
        ),
        expected=expected,
        found=repr(value[:80]),
        hint="fix or re-export the file; nothing was loaded",
    )


def per_value(key: str, rules: list[pl.Expr], name: str) -> pl.Expr:
    """`rules` (expressions of the text column `key` alone) as one struct column `name`,
    computed once per distinct value of `key` and gathered back to the rows: a month of
    millions of rows has only hundreds of SKUs, machine types and services. Unnest it."""
    dtype = pl.Struct(pl.DataFrame(schema={key: pl.String}).select(rules).schema)

    def apply(values: pl.Series) -> pl.Series:
        found = values.unique().drop_nulls()
        keys = pl.concat([found, pl.Series([None], dtype=pl.String)])  # null last
        table = keys.to_frame(key).select(rules)
        codes = values.cast(pl.Enum(found)).to_physical().fill_null(len(found))
        return table[codes].to_struct(name)

    return pl.col(key).map_batches(apply, return_dtype=dtype, is_elementwise=True).alias(name)


def per_list(key: str, rule: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """`rule` (an expression of the column `key` alone, of type `dtype`) computed once per
    distinct value of `key`, a list or struct column `per_value` cannot encode: a month's
    millions of label lists hold a few dozen distinct ones. Joined back on the value itself,
    not a hash of it, so two lists never share a result by accident."""

    def apply(values: pl.Series) -> pl.Series:
        table = values.unique().to_frame(key).with_columns(rule.alias("_result"))
        return values.to_frame(key).join(
            table, on=key, how="left", nulls_equal=True, maintain_order="left"
        )["_result"]

    return pl.col(key).map_batches(apply, return_dtype=dtype, is_elementwise=True)
