"""The sample enterprise's AWS months, ingested by the demo, against its planted truth."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ingest.warehouse.connection import connect

pytestmark = pytest.mark.slow  # needs the built sample warehouse


def test_sample_enterprise_aws_months_match_the_planted_truth(
    sample_warehouse: Path, sample_truth: dict
) -> None:
    """Every month equals its truth; the restated month is its newest delivery (the second
    execution of the Data Export), never the first one or the sum of both."""
    deliveries = sorted(
        (r for r in sample_truth.get("restatements", []) if r["source"] == "aws-cur2"),
        key=lambda r: r["delivered_at"],
    )
    newest = {r["billing_period"]: Decimal(r["billed_cost"]) for r in deliveries}
    assert len(deliveries) == 2 and deliveries[0]["billed_cost"] != deliveries[1]["billed_cost"]
    want = {
        t["billing_period"]: (t["lines"], Decimal(t["billed_cost"]), Decimal(t["effective_cost"]))
        for t in sample_truth["totals"]
        if t["source"] == "aws-cur2"
    }
    rows = (
        connect(sample_warehouse)
        .execute(
            # truth counts the export's lines; the Unused lines are derived from fee lines
            "select strftime(BillingPeriodStart, '%Y-%m'), "
            "count(*) filter (where CommitmentDiscountStatus is distinct from 'Unused'), "
            "sum(BilledCost), sum(EffectiveCost) from cost_lines where x_Source = 'aws-cur2' "
            "group by 1"
        )
        .fetchall()
    )
    got = {p: (n, b, e) for p, n, b, e in rows}
    assert set(got) == set(want)
    for period, (lines, billed, effective) in want.items():
        assert got[period] == (lines, billed, effective), period
        if period in newest:
            assert billed == newest[period]
