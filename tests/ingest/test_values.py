"""The shared money parse of ingest/sources/values.py at the edges of MONEY_LIMIT, and rules
worked out once per distinct list."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from ingest.sources.values import money, money_text, per_list

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


def test_a_rule_per_distinct_list_gives_each_row_its_own_lists_result() -> None:
    """Equal lists share a result, lists with the same items in another order do not, and an
    empty list and a missing one keep theirs."""
    pair = pl.Struct({"key": pl.String, "value": pl.String})
    labels = [
        [{"key": "team", "value": "ml"}, {"key": "env", "value": "prod"}],
        [{"key": "env", "value": "prod"}, {"key": "team", "value": "ml"}],
        [{"key": "team", "value": "ml"}, {"key": "env", "value": "prod"}],
        [],
        None,
        [{"key": "team", "value": None}],
    ]
    frame = pl.DataFrame({"labels": labels}, schema={"labels": pl.List(pair)})
    rule = pl.col("labels").list.eval(
        pl.concat_str(pl.element().struct.field("key"), pl.element().struct.field("value"),
                      separator="=", ignore_nulls=True)
    ).list.join(",")  # fmt: skip
    got = frame.select(per_list("labels", rule, pl.String).alias("tags"))["tags"].to_list()
    assert got == ["team=ml,env=prod", "env=prod,team=ml", "team=ml,env=prod", "", None, "team"]
    assert got == frame.select(rule.alias("tags"))["tags"].to_list()
