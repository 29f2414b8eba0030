"""The Overview's untagged spend on the sample enterprise equals a direct query over its lines,
to the cent, per currency and cost basis, and lies between zero and the period's spend."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings
from tests.fixtures.app_pages import app, helps, metrics, no_errors
from tests.fixtures.warehouse_state import serve

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.mark.parametrize(
    ("basis", "column", "cur"),
    [
        ("amortised", "EffectiveCost", "USD"),
        ("billed", "BilledCost", "USD"),
        ("amortised", "EffectiveCost", "EUR"),
        ("billed", "BilledCost", "EUR"),
    ],
)
def test_sample_untagged_spend_equals_the_lines(
    sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch, basis: str, column: str, cur: str
) -> None:
    serve(monkeypatch, sample_warehouse)
    views.register_all(Settings())
    untagged, total = (
        connect(sample_warehouse)
        .execute(
            # no untagged line is zero spend, not unknown (the sample's EUR lines all have a team)
            f"""SELECT coalesce(sum({column}) FILTER (
                       WHERE coalesce(json_extract_string(Tags, '$.team'), '') = ''), 0),
                   sum({column})
            FROM cost_lines WHERE BillingCurrency = $cur""",
            {"cur": cur},
        )
        .fetchall()[0]
    )
    assert Decimal(0) <= untagged <= total
    if (basis, cur) == ("amortised", "USD"):
        assert f"{untagged:,.2f}" == "58,690.38"
    at = app(basis=basis, cur=cur)
    no_errors(at)
    assert helps(at)["Untagged spend"].startswith(f"{cur} {untagged:,.2f} exactly. ")
    assert helps(at)["Spend in the period"] == f"{cur} {total:,.2f} exactly"
    assert metrics(at)["Untagged spend"] != "net credit"
