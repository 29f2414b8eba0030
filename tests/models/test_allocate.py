"""Allocation: tag coverage, shared costs split evenly or proportionally, exact reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest

from models.allocate import allocate, coverage, parse_allocation
from models.errors import ConfigError
from models.schema import MONEY, UTC_TS

SEP = datetime(2026, 9, 1, tzinfo=UTC)


def classified(rows: list[tuple[str, str, str]]) -> pl.LazyFrame:
    """(team, team rule, cost)"""
    return pl.LazyFrame(
        [(SEP, "USD", t, r, c, "gpu_compute") for t, r, c in rows],
        schema={"BillingPeriodStart": UTC_TS, "BillingCurrency": pl.String, "x_Team": pl.String,
                "x_TeamRule": pl.String, "cost": pl.String, "x_AiClass": pl.String},
        orient="row",
    ).with_columns(
        pl.col("cost").str.to_decimal(scale=12).cast(MONEY).alias("EffectiveCost")
    )  # fmt: skip


ROWS = [
    ("research", "tag:team", "600"),
    ("search", "tag:team", "300"),
    ("vision", "account:123", "100"),
    ("platform", "tag:team", "100"),
    ("unallocated", "unallocated", "0.000000000001"),
    ("unallocated", "unallocated", "49.999999999999"),
]


@pytest.mark.parametrize(
    ("method", "shares"),
    [
        ("proportional", {"research": Decimal("60"), "search": Decimal("30"),
                          "vision": Decimal("10")}),
        ("even", {"research": Decimal("33.333333333334"), "search": Decimal("33.333333333333"),
                  "vision": Decimal("33.333333333333")}),
    ],
)  # fmt: skip
def test_shared_costs_split_and_reconcile_to_the_cent(method: str, shares: dict) -> None:
    settings = parse_allocation(
        {"shared": [{"id": "shared.platform", "match": {"x_Team": "platform"}, "method": method}]}
    )
    out = allocate(classified(ROWS), settings)
    got = {r["team"]: r["shared"] for r in out.iter_rows(named=True) if r["shared"]}
    assert got == shares
    assert "platform" not in out["team"].to_list()
    total = sum((Decimal(c) for _, _, c in ROWS), Decimal(0))
    assert sum(out["total"].to_list(), Decimal(0)) == total == Decimal("1150")
    un = out.filter(pl.col("team") == "unallocated")["total"][0]
    assert un == Decimal("50")


def test_tag_coverage_is_share_of_spend_with_a_team() -> None:
    cov = coverage(classified(ROWS)).row(0, named=True)
    assert cov["total"] == Decimal("1150")
    assert cov["with_team"] == Decimal("1100")
    assert cov["tagged"] == Decimal("1000")
    assert cov["team_coverage_pct"] == pytest.approx(95.652, abs=1e-3)
    assert cov["tag_coverage_pct"] == pytest.approx(86.957, abs=1e-3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"shared": [{"id": "s", "match": {"x_Team": "p"}, "method": "evenly"}]},
         'did you mean "even"'),
        ({"shared": [{"id": "s", "match": {"x_Tem": "p"}}]}, 'did you mean "x_Team"'),
        ({"shared": [{"id": "s"}]}, "match must name"),
        ({"share": []}, 'did you mean "shared"'),
        ({"shared": [{"id": "s", "match": {"x_Team": "p"}, "metod": "even"}]},
         'did you mean "method"'),
    ],
)  # fmt: skip
def test_bad_allocation_settings(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_allocation(data)
