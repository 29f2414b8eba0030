"""The Overview's "Untagged spend": the cost of the lines whose tags give `team` no value,
credits included, per currency and cost basis, equal to a direct query over the lines; credits
that outweigh the untagged charges are said in words, never shown as a negative spend.

October 2026, AWS in USD (account 412395078111), amortised / billed:
  tagged:   nlp 100.00/100.00 (four tags), vision 60.25/80.00 (three tags),
            an nlp credit -5.00/-5.00                          -> 155.25 / 175.00
  untagged: env only 40.10/30.00, no tags 25.004/25.004, team "" 10.00/10.00,
            a credit -15.50/-15.50, an unused commitment 12.34/0,
            a commitment purchase 0/50.00                      -> 71.944 / 99.504
AWS in EUR (account 999900001111): nlp 70, untagged 20, an untagged credit -45
  -> untagged EUR -25 on both bases: a net credit.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from dashboard.queries import lines as queries_lines
from dashboard.queries.filters import Filters
from ingest.derive import refresh as derived
from ingest.warehouse import connection as warehouse
from ingest.warehouse import views
from ingest.warehouse.load_contract import PeriodLoad, SourceFile
from ingest.warehouse.store import Store
from models.cost_basis import CostBasis
from models.settings import Settings
from tests.fixtures.app_pages import app, helps, metrics, no_errors
from tests.fixtures.small_warehouse import OCT, cost_frame
from tests.fixtures.warehouse_state import serve

# (effective, billed, tags, charge category)
USD_LINES = [
    ("100.00", "100.00", '{"team": "nlp", "env": "prod", "project": "chat", "workload": "t"}',
     "Usage"),
    ("60.25", "80.00", '{"team": "vision", "env": "dev", "workload": "train"}', "Usage"),
    ("-5.00", "-5.00", '{"team": "nlp"}', "Credit"),
    ("40.10", "30.00", '{"env": "prod"}', "Usage"),
    ("25.004", "25.004", None, "Usage"),
    ("10.00", "10.00", '{"team": "", "env": "prod"}', "Usage"),
    ("-15.50", "-15.50", None, "Credit"),
    ("12.34", "0", None, "Usage"),
    ("0", "50.00", None, "Purchase"),
]  # fmt: skip
FREQUENCY = {"Purchase": "Recurring"}
EUR_LINES = [
    ("70", "70", '{"team": "nlp", "env": "prod"}', "Usage"),
    ("20", "20", '{"env": "prod"}', "Usage"),
    ("-45", "-45", None, "Credit"),
]


def _batch(account: str, currency: str, lines: list[tuple]) -> PeriodLoad:
    rows = [
        {"start": OCT, "hours": 24, "cost": e, "usage": "USE1-BoxUsage:m5.large",
         "resource": f"i-{account}-{k}", "tags": tags, "service": "Amazon Elastic Compute Cloud"}
        for k, (e, _, tags, _) in enumerate(lines)
    ]  # fmt: skip
    billed = pl.Series([b for _, b, _, _ in lines]).str.to_decimal(scale=12)
    frame = cost_frame(OCT, rows, "AWS").with_columns(
        pl.lit(billed).alias("BilledCost"),
        pl.Series("ChargeCategory", [c for *_, c in lines]),
        pl.Series(
            "ChargeFrequency",
            ["Recurring" if c == "Purchase" else "Usage-Based" for *_, c in lines],
        ),
        BillingCurrency=pl.lit(currency),
        BillingAccountId=pl.lit(account),
    )
    total = sum((Decimal(b) for _, b, _, _ in lines), Decimal(0))
    files = [SourceFile(f"cur-{account}-2026-10", account[0] * 64, 1)]
    return PeriodLoad("aws-cur2", account, "2026-10", currency, files, frame, total)


@pytest.fixture(scope="module")
def tagged_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("untagged") / "warehouse"
    store = Store(root)
    loads = [_batch("412395078111", "USD", USD_LINES), _batch("999900001111", "EUR", EUR_LINES)]
    derived.refresh(store, Settings(), store.load_cost_lines(loads))
    return root


@pytest.fixture
def served(tagged_world: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    serve(monkeypatch, tagged_world)
    return tagged_world


def direct(root: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(currency, basis column) -> (untagged, total), straight from the lines: a line is
    untagged when its tags give `team` no value."""
    views.register_all(Settings())
    con = warehouse.connect(root)
    out = {}
    for column in ("EffectiveCost", "BilledCost"):
        rows = con.execute(
            f"""SELECT BillingCurrency,
                       sum({column}) FILTER (
                           WHERE coalesce(json_extract_string(Tags, '$.team'), '') = ''),
                       sum({column})
                FROM cost_lines GROUP BY 1"""
        ).fetchall()
        out.update({(cur, column): (Decimal(u), Decimal(t)) for cur, u, t in rows})
    return out


def test_the_lines_hold_what_the_docstring_says(tagged_world: Path) -> None:
    sums = direct(tagged_world)
    assert sums[("USD", "EffectiveCost")] == (Decimal("71.944"), Decimal("227.194"))
    assert sums[("USD", "BilledCost")] == (Decimal("99.504"), Decimal("274.504"))
    assert sums[("EUR", "EffectiveCost")] == (Decimal(-25), Decimal(45))


@pytest.mark.parametrize(
    ("basis", "column", "shown", "coverage"),
    [
        ("amortised", "EffectiveCost", "USD 71.94", "Tag coverage 68.3%"),
        ("billed", "BilledCost", "USD 99.50", "Tag coverage 63.8%"),
    ],
)
def test_overview_untagged_equals_the_lines(
    served: Path, basis: str, column: str, shown: str, coverage: str
) -> None:
    untagged, total = direct(served)[("USD", column)]
    at = app(basis=basis, cur="USD")
    no_errors(at)
    tile = next(m for m in at.metric if m.label == "Untagged spend")
    assert tile.value == shown == f"USD {untagged:,.2f}"
    # a share is no change: said under the tile, with no arrow
    assert tile.proto.delta == ""
    assert coverage in [c.value for c in at.caption]
    assert helps(at)["Untagged spend"].startswith(f"USD {untagged:,.2f} exactly. ")
    assert "tags give no value to `team`, credits and refunds included" in tile.help
    assert metrics(at)["Spend in the period"] == f"USD {total:,.2f}"


@pytest.mark.parametrize("basis", ["amortised", "billed"])
def test_credits_outweighing_untagged_charges_are_said_in_words(served: Path, basis: str) -> None:
    at = app(basis=basis, cur="EUR")
    no_errors(at)
    tile = next(m for m in at.metric if m.label == "Untagged spend")
    assert tile.value == "net credit"
    assert tile.proto.delta == "credits exceed charges by EUR 25.00"
    assert tile.help.startswith("EUR -25.00 exactly. Untagged spend: the cost of the lines")
    assert metrics(at)["Spend in the period"] == "EUR 45.00"


def test_an_empty_team_tag_is_not_set_in_the_tag_breakdown(tagged_world: Path) -> None:
    """The Explorer's breakdown by team agrees with untagged spend: a line tagged `team: ""`
    is under "(not set)", never a row of its own with an empty name."""
    views.register_all(Settings())
    con = warehouse.connect(tagged_world)
    for basis in CostBasis:
        shown = queries_lines.tag_breakdown(con, Filters(basis=basis), "team", "USD")
        keys = dict(zip(shown["key"], shown["cost"], strict=True))
        column = basis.column
        assert "" not in keys
        assert keys["(not set)"] == direct(tagged_world)[("USD", column)][0]
