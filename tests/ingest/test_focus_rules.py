"""FOCUS 1.2 rules the normalisers keep (focus-validator's rule ids in the test names' docs):
an AWS line's invoice issuer is named as its provider (BilledCost-C-005-C), a PricingQuantity
stands beside its PricingUnit (PricingUnit-C-005-C/-C-006-C), a line has a ChargeDescription
(ChargeDescription-C-003-O)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl

from ingest.sources import aws_columns
from ingest.warehouse.connection import connect
from tests.fixtures.gcp_export import export_rows, ingest, write_ndjson

CUR_LINES = [
    # line type, usage type, description, usage amount, pricing unit, invoicing entity
    ("Usage", "EUC1-BoxUsage:p5.48xlarge", "p5 on demand", "2", "Hrs",
     "Amazon Web Services EMEA SARL"),
    ("RIFee", "HeavyUsage:g6.12xlarge", "RI fee", "744", "", "Amazon Web Services, Inc."),
    ("SavingsPlanRecurringFee", "ComputeSP:1yrNoUpfront", "SP fee", "744", None,
     "Amazon Web Services, Inc."),
    ("Credit", "", "AWS Promotional Credit", "0", None, "Amazon Web Services, Inc."),
    ("Tax", "Tax", "Tax", "1", None, "Amazon Web Services, Inc."),
    ("Usage", "USE1-DataTransfer-Out-Bytes", None, "5", "GB", "AWS Marketplace"),
]  # fmt: skip


def _cur() -> pl.LazyFrame:
    n = len(CUR_LINES)
    kind, usage, description, amount, unit, entity = zip(*CUR_LINES, strict=True)
    return pl.LazyFrame(
        {
            "bill_payer_account_id": ["111111111111"] * n,
            "bill_invoice_id": ["2026100001"] * n,
            "bill_invoicing_entity": list(entity),
            "bill_billing_period_start_date": ["2026-10-01T00:00:00Z"] * n,
            "bill_billing_period_end_date": ["2026-11-01T00:00:00Z"] * n,
            "line_item_usage_start_date": ["2026-10-01T00:00:00Z"] * n,
            "line_item_usage_end_date": ["2026-11-01T00:00:00Z"] * n,
            "line_item_line_item_type": list(kind),
            "line_item_usage_type": list(usage),
            "line_item_line_item_description": list(description),
            "line_item_usage_amount": list(amount),
            "pricing_unit": list(unit),
            "line_item_unblended_cost": ["10"] * n,
            "line_item_currency_code": ["USD"] * n,
            "line_item_product_code": ["AmazonEC2"] * n,
        },
        schema_overrides={
            k: pl.String for k in ("pricing_unit", "line_item_line_item_description")
        },
    )


def _aws() -> list[dict]:
    return aws_columns.normalise(_cur(), {}, "cur.csv").collect().to_dicts()


def test_aws_invoice_issuer_is_named_as_the_provider() -> None:
    """BilledCost-C-005-C reads a differing issuer as a third party collecting the payment."""
    lines = _aws()
    assert {(r["ProviderName"], r["InvoiceIssuerName"]) for r in lines} == {("AWS", "AWS")}
    assert {r["InvoiceId"] for r in lines} == {"2026100001"}
    assert [r["BilledCost"] for r in lines] == [Decimal(10)] * len(CUR_LINES)


def test_aws_pricing_quantity_only_beside_its_unit() -> None:
    got = [(r["PricingQuantity"], r["PricingUnit"]) for r in _aws()]
    assert got == [
        (Decimal(2), "Hrs"),
        (Decimal(744), "Hrs"),  # commitment fees count their hours without naming the unit
        (Decimal(744), "Hrs"),
        (None, None),  # a credit prices no quantity
        (None, None),  # nor does tax
        (Decimal(5), "GB"),
    ]


def test_aws_line_without_a_description_is_described_by_its_usage_type() -> None:
    assert [r["ChargeDescription"] for r in _aws()] == [
        "p5 on demand", "RI fee", "SP fee", "AWS Promotional Credit", "Tax",
        "USE1-DataTransfer-Out-Bytes",
    ]  # fmt: skip


def test_gcp_adjustment_rows_are_described_and_priced_only_with_a_unit(
    tmp_path: Path, warehouse: Path
) -> None:
    base = export_rows()[0]
    rounding = {
        **base, "sku": {"id": "", "description": ""}, "cost": -0.0031, "credits": [],
        "cost_type": "rounding_error", "system_labels": [], "labels": [],
        "resource": {"name": None, "global_name": None},
        "usage": {"amount": 0.0, "unit": "", "amount_in_pricing_units": 0.0, "pricing_unit": ""},
    }  # fmt: skip
    write_ndjson(tmp_path / "gcp" / "202409.jsonl", [base, rounding])
    assert ingest(warehouse, str(tmp_path / "gcp")) == 0
    rows = (
        connect(warehouse)
        .execute(
            "select ChargeCategory, ChargeDescription, PricingQuantity, PricingUnit, "
            "InvoiceIssuerName, ProviderName from cost_lines "
            "where ChargeCategory <> 'Credit' order by BilledCost"
        )
        .fetchall()
    )
    assert rows == [
        ("Adjustment", "Compute Engine rounding error", None, None, "Google Cloud",
         "Google Cloud"),
        ("Usage", "Nvidia Tesla A100 GPU running in Americas", Decimal(1), "hour",
         "Google Cloud", "Google Cloud"),
    ]  # fmt: skip
