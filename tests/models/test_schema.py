"""The cost_lines declaration against the FOCUS 1.2 column list, and validate()."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from models.schema import COST_LINES, SERVICE_SUBCATEGORIES, conform, validate

KIND = {"Decimal": "decimal", "Date/Time": "datetime", "JSON": "json", "String": "string"}
OMITTED = {"BillingAccountType"}  # not-null in FOCUS; no source of ours has more than one type


def _focus(reference: Path) -> dict[str, dict[str, str]]:
    path = reference / "focus" / "focus_1.2_cost_and_usage_columns.csv"
    with path.open(encoding="utf-8") as fh:
        return {row["ColumnId"]: row for row in csv.DictReader(fh)}


def test_every_mandatory_focus_column_is_declared(reference: Path) -> None:
    focus = _focus(reference)
    mandatory = {n for n, r in focus.items() if r["FeatureLevel"] == "Mandatory"}
    assert mandatory <= set(COST_LINES.names)
    assert set(focus) - set(COST_LINES.names) == OMITTED


def test_declared_focus_columns_match_the_spec(reference: Path) -> None:
    focus = _focus(reference)
    mismatches = []
    for col in COST_LINES.columns:
        if col.name.startswith("x_"):
            assert col.focus is None
            continue
        spec = focus[col.name]
        if col.kind != KIND[spec["DataType"]]:
            mismatches.append(f"{col.name}: type {col.kind} vs {spec['DataType']}")
        if col.focus != spec["FeatureLevel"]:
            mismatches.append(f"{col.name}: level {col.focus} vs {spec['FeatureLevel']}")
        # We may be stricter than FOCUS about nulls, never looser.
        if col.nullable and spec["AllowsNulls"] == "False":
            mismatches.append(f"{col.name}: nullable but FOCUS forbids nulls")
        allowed = tuple(v.strip() for v in spec["AllowedValues"].split(";") if v.strip())
        if allowed and set(col.allowed) != set(allowed):
            mismatches.append(f"{col.name}: allowed {sorted(col.allowed)} vs {sorted(allowed)}")
    assert not mismatches, "\n".join(mismatches)


def test_subcategory_pairs_match_the_spec(reference: Path) -> None:
    path = reference / "focus" / "focus_service_category_subcategory.csv"
    with path.open(encoding="utf-8") as fh:
        pairs = {(r["ServiceCategory"], r["ServiceSubcategory"]) for r in csv.DictReader(fh)}
    declared = {(c, s) for c, subs in SERVICE_SUBCATEGORIES.items() for s in subs}
    assert declared == pairs


def test_custom_columns_come_last_with_the_x_prefix() -> None:
    names = COST_LINES.names
    first_x = next(i for i, n in enumerate(names) if n.startswith("x_"))
    assert all(n.startswith("x_") for n in names[first_x:])
    assert not any(n.startswith("x_") for n in names[:first_x])


def _good_rows(n: int = 3) -> pl.LazyFrame:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    money = pl.Series(["1.5"] * n).str.to_decimal(scale=12)
    base = pl.LazyFrame(
        {
            "BilledCost": money,
            "EffectiveCost": money,
            "ListCost": money,
            "ContractedCost": money,
            "BillingAccountId": ["1"] * n,
            "BillingCurrency": ["USD"] * n,
            "BillingPeriodStart": [start] * n,
            "BillingPeriodEnd": [end] * n,
            "ChargePeriodStart": [start] * n,
            "ChargePeriodEnd": [end] * n,
            "ChargeCategory": ["Usage"] * n,
            "ChargeFrequency": ["Usage-Based"] * n,
            "InvoiceIssuerName": ["AWS"] * n,
            "ProviderName": ["AWS"] * n,
            "PublisherName": ["AWS"] * n,
            "ServiceCategory": ["Compute"] * n,
            "ServiceName": ["Amazon EC2"] * n,
            "ServiceSubcategory": ["Virtual Machines"] * n,
            "x_Source": ["aws-cur2"] * n,
            "x_LoadId": ["L1"] * n,
            "x_LineId": list(range(n)),
        }
    )
    return conform(base)


def test_valid_rows_have_no_violations() -> None:
    assert validate(_good_rows()) == []


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("ChargeCategory", "Usage-based", "value not in"),
        ("ServiceCategory", None, "null not allowed"),
        ("ServiceSubcategory", "Object Storage", "service_subcategory_parent"),
        ("Tags", '["a"]', "not a JSON object"),
        ("x_Source", "azure", "value not in"),
    ],
)
def test_each_violation_names_column_rule_and_row(column: str, value, rule: str) -> None:
    rows = _good_rows().with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit(value, dtype=COST_LINES.column(column).dtype))
        .otherwise(pl.col(column))
        .alias(column)
    )
    problems = validate(rows)
    assert len(problems) == 1
    (p,) = problems
    assert (p.column, p.count, p.row) == (column, 1, 1)
    assert rule in p.rule
    assert p.sample is not None and p.sample["x_LineId"] == 1


def test_missing_and_mistyped_columns_are_reported() -> None:
    rows = _good_rows().drop("ProviderName").with_columns(pl.col("BilledCost").cast(pl.Float64))
    problems = {(p.column, p.rule.split(",")[0]) for p in validate(rows)}
    assert ("ProviderName", "missing column") in problems
    assert any(c == "BilledCost" and r.startswith("type") for c, r in problems)


def test_money_parses_exactly_half_even_at_scale_12() -> None:
    parsed = pl.Series(["1E-7", "-5e-06", "0.0000000000015", "0.0000000000025"]).str.to_decimal(
        scale=12
    )
    assert parsed.to_list() == [
        Decimal("0.0000001"),
        Decimal("-0.000005"),
        Decimal("0.000000000002"),
        Decimal("0.000000000002"),
    ]
