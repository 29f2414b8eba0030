"""The shared money parse of ingest/sources/values.py at the edges of MONEY_LIMIT."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from ingest.sources.values import money, money_text

TEXT = {
    "999999999999999.999999999999": Decimal("999999999999999.999999999999"),
    "-999999999999999.999999999999": Decimal("-999999999999999.999999999999"),
    " 2.5 ": Decimal("2.5"),
    "0.0000000000015": Decimal("0.000000000002"),  # half-even at 12 decimals
    "1000000000000000": None,
    "-1000000000000000": None,
    "12345678901234567890123456": None,
    "abc": None,
    "": None,
}


def test_text_amounts_below_the_limit_parse_and_the_rest_are_null() -> None:
    got = pl.DataFrame({"x": list(TEXT)}).select(money_text(pl.col("x"))).to_series()
    assert got.dtype == pl.Decimal(38, 12)
    assert dict(zip(TEXT, got.to_list(), strict=True)) == TEXT


def test_float_and_decimal_amounts_are_bounded_alike() -> None:
    floats = pl.DataFrame({"x": [0.1, 123456.789, 1e15, -1e15, 9e25]})
    assert floats.select(money(pl.col("x"), pl.Float64)).to_series().to_list() == [
        Decimal("0.1"), Decimal("123456.789"), None, None, None,
    ]  # fmt: skip
    exact = pl.DataFrame(
        {"x": [Decimal("999999999999999.5"), Decimal("1e15"), Decimal("-1e20")]},
        schema={"x": pl.Decimal(38, 12)},
    )
    assert exact.select(money(pl.col("x"), pl.Decimal(38, 12))).to_series().to_list() == [
        Decimal("999999999999999.5"), None, None,
    ]  # fmt: skip


def test_amounts_inside_lists_are_bounded() -> None:
    credits = pl.DataFrame({"c": [["-1.25", "2000000000000000"], []]})
    got = credits.select(pl.col("c").list.eval(money_text(pl.element()))).to_series()
    assert got.to_list() == [[Decimal("-1.25"), None], []]
