"""SaaS invoices -> Purchase/Recurring cost lines, reconciled per (month, currency)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect, versions

INVOICES = """vendor,product,team,month,amount,currency,seats,active_seats,invoice_id
GitHub,Copilot Business,platform,2026-09,1900.00,USD,100,71,GH-2026-09
OpenAI,ChatGPT Team,research,2026-09,1500.5,USD,50,50,OAI-991
Weights & Biases,Teams,research,2026-09,4000.123456789012345,USD,,,WB-0917
GitHub,Copilot Business,platform,2026-10,1919.00,USD,101,80,GH-2026-10
Mistral AI,Le Chat Team,research,2026-10,899.99,EUR,30,12,MI-10
"""


def ingest(root: Path, path: Path) -> int:
    return main(["--warehouse", str(root), "ingest", "saas", str(path)])


def test_invoices_become_purchase_lines_reconciled_to_the_cent(
    warehouse: Path, tmp_path: Path
) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(INVOICES, encoding="utf-8")
    assert ingest(warehouse, path) == 0
    con = connect(warehouse)
    totals = con.execute(
        "select strftime(BillingPeriodStart, '%Y-%m'), BillingCurrency, BillingAccountId, "
        "count(*), sum(BilledCost) from cost_lines group by all order by 1, 2"
    ).fetchall()
    assert totals == [
        ("2026-09", "USD", "saas:USD", 3, Decimal("7400.623456789012")),  # half-even at 12
        ("2026-10", "EUR", "saas:EUR", 1, Decimal("899.990000000000")),
        ("2026-10", "USD", "saas:USD", 1, Decimal("1919.000000000000")),
    ]
    row = con.execute(
        "select ChargeCategory, ChargeFrequency, ProviderName, PublisherName, InvoiceIssuerName, "
        "ServiceName, PricingQuantity, PricingUnit, x_Seats, x_ActiveSeats, InvoiceId, Tags, "
        "x_Source, ChargePeriodStart, ChargePeriodEnd from cost_lines "
        "where InvoiceId = 'GH-2026-09'"
    ).fetchall()[0]
    assert row[:11] == (
        "Purchase", "Recurring", "GitHub", "GitHub", "GitHub", "Copilot Business",
        Decimal(100), "Seats", 100, 71, "GH-2026-09",
    )  # fmt: skip
    assert json.loads(row[11]) == {"team": "platform"} and row[12] == "saas"
    assert (row[14] - row[13]).days == 30
    (unit,) = con.execute(
        "select PricingUnit from cost_lines where InvoiceId = 'WB-0917'"
    ).fetchall()[0]
    assert unit == "Subscriptions"
    # the same file again commits nothing
    before = versions(warehouse)
    assert ingest(warehouse, path) == 0
    assert versions(warehouse)["cost_lines"] == before["cost_lines"]


HEAD = "vendor,product,team,month,amount,currency,seats,active_seats,invoice_id\n"
BAD = [
    ("GitHub,Copilot,platform,2026-09,19.00,USX,1,1,A\n", "currency", "ISO 4217"),
    ("GitHub,Copilot,platform,2026-09,19.00,,1,1,A\n", "currency", "a value"),
    ("GitHub,Copilot,platform,2026-09,$19.00,USD,1,1,A\n", "amount", "a plain number"),
    ("GitHub,Copilot,platform,2026-9,19.00,USD,1,1,A\n", "month", "a month YYYY-MM"),
    ("GitHub,Copilot,platform,Sept 2026,19.00,USD,1,1,A\n", "month", "a month YYYY-MM"),
    ("GitHub,Copilot,platform,2026-09,19.00,USD,ten,1,A\n", "seats", "a whole number"),
    ("GitHub,Copilot,platform,2026-09,19.00,USD,-3,,A\n", "seats", "a whole number"),
    ("GitHub,Copilot,platform,2026-09,19.00,USD,5,9,A\n", "active_seats", "at most seats (5)"),
    (",Copilot,platform,2026-09,19.00,USD,5,1,A\n", "vendor", "a value"),
]


@pytest.mark.parametrize(("row", "column", "expected"), BAD)
def test_bad_invoice_rows_give_one_message_and_store_nothing(
    row: str, column: str, expected: str, warehouse: Path, tmp_path: Path, capsys
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(INVOICES, encoding="utf-8")
    assert ingest(warehouse, good) == 0
    before = versions(warehouse)["cost_lines"]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEAD + "OpenAI,API,research,2026-09,10,USD,,,B\n" + row, encoding="utf-8")
    capsys.readouterr()
    assert ingest(warehouse, bad) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and f"row 2 (line 3), column {column}" in err and expected in err
    assert versions(warehouse)["cost_lines"] == before


def test_wrong_columns_are_named(warehouse: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("vendor,product,team,mnth,amount,currency\nA,B,C,2026-09,1,USD\n")
    assert ingest(warehouse, bad) == 2
    err = capsys.readouterr().err
    assert 'did you mean "month"' in err and "missing ['month']" in err
