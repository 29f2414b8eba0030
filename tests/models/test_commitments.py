"""Commitment cost on hand-built FOCUS lines: purchase, used, unused, utilisation, coverage,
savings — one definition for AWS, Azure and GCP commitments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest

from models.commitments import SUMMARY_SCHEMA, summarise, wasted

OCT = datetime(2026, 10, 1, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)
SP = "arn:aws:savingsplans::1:savingsplan/sp"
RI = "arn:aws:ec2:us-east-1:1:reserved-instances/ri"
AZ_RES = "/providers/Microsoft.Capacity/reservationOrders/o/reservations/r"
AZ_SP = "/providers/Microsoft.BillingBenefits/savingsPlanOrders/o/savingsPlans/s"
CUD = "commitments/1-year-l4-g2"


def line(
    cost: str,
    *,
    category: str = "Usage",
    commitment: str | None = None,
    ctype: str | None = None,
    ccat: str | None = None,
    status: str | None = None,
    billed: str = "0",
    list_cost: str | None = None,
    provider: str = "AWS",
    itype: str | None = None,
    service: str = "Compute",
    pricing: str = "Standard",
    period: datetime = OCT,
    currency: str = "USD",
    ai: str | None = None,
) -> dict:
    return {
        "ProviderName": provider,
        "BillingCurrency": currency,
        "BillingPeriodStart": period,
        "ChargeCategory": category,
        "CommitmentDiscountId": commitment,
        "CommitmentDiscountName": None,
        "CommitmentDiscountType": ctype,
        "CommitmentDiscountCategory": ccat,
        "CommitmentDiscountStatus": status,
        "ServiceCategory": service,
        "PricingCategory": pricing,
        "BilledCost": Decimal(billed),
        "EffectiveCost": Decimal(cost),
        "ListCost": Decimal(list_cost if list_cost is not None else cost),
        "x_InstanceType": itype,
        "x_AiClass": ai,
    }


def frame(*rows: dict) -> pl.LazyFrame:
    money = pl.Decimal(38, 12)
    return pl.DataFrame(
        list(rows),
        schema={
            **{k: pl.String for k in rows[0]},
            "BillingPeriodStart": pl.Datetime("us", "UTC"),
            "BilledCost": money,
            "EffectiveCost": money,
            "ListCost": money,
        },
    ).lazy()


def sp(**kw) -> dict:
    return {"commitment": SP, "ctype": "Savings Plan", "ccat": "Spend", **kw}


def ri(**kw) -> dict:
    return {"commitment": RI, "ctype": "Reserved Instance", "ccat": "Usage", **kw}


def by_id(summary: pl.DataFrame) -> dict[str, dict]:
    return {r["commitment_id"]: r for r in summary.iter_rows(named=True)}


def test_aws_savings_plan_partly_used_with_on_demand_beside_it() -> None:
    got = by_id(
        summarise(
            frame(
                line("0", category="Purchase", billed="100", **sp()),  # the fee, as FOCUS
                line(
                    "45",
                    status="Used",
                    list_cost="60",
                    itype="p5.48xlarge",
                    ai="gpu_compute",
                    **sp(),
                ),
                line(
                    "25",
                    status="Used",
                    list_cost="40",
                    itype="g5.2xlarge",
                    ai="gpu_compute",
                    **sp(),
                ),
                line("30", status="Unused", itype="p5.48xlarge", ai="gpu_compute", **sp()),
                line("0", billed="-100", list_cost="0"),  # SavingsPlanNegation: no commitment
                line("30", itype="m5.large"),  # on-demand compute: eligible for a spend plan
                line("8", itype="m5.large", pricing="Dynamic"),  # spot: not eligible
                line("99", service="Storage"),  # not compute
            )
        )
    )[SP]
    assert (got["purchase"], got["used"], got["unused"]) == (
        Decimal("100"), Decimal("70"), Decimal("30"),
    )  # fmt: skip
    assert got["utilisation"] == pytest.approx(0.7)
    assert got["coverage"] == pytest.approx(70 / 100)
    assert got["savings"] == Decimal("30")  # on demand 100, cost 70
    assert got["net_savings"] == Decimal("0")  # and 30 of the commitment wasted
    assert got["gpu"] is True
    assert (got["type"], got["category"], got["provider"]) == ("Savings Plan", "Spend", "AWS")


def test_reserved_instance_coverage_counts_only_its_instance_family() -> None:
    got = by_id(
        summarise(
            frame(
                line("0", category="Purchase", billed="48", itype="p5.48xlarge", **ri()),
                line("36", status="Used", list_cost="90", itype="p5.48xlarge", **ri()),
                line("12", status="Unused", itype="p5.48xlarge", **ri()),
                line("54", itype="p5.4xlarge"),  # same family on demand: eligible
                line("500", itype="m5.large"),  # another family: not the RI's to cover
            )
        )
    )[RI]
    assert (got["used"], got["unused"], got["purchase"]) == (
        Decimal("36"), Decimal("12"), Decimal("48"),
    )  # fmt: skip
    assert got["utilisation"] == pytest.approx(0.75)
    assert got["coverage"] == pytest.approx(36 / 90)
    assert got["savings"] == Decimal("54")
    assert got["gpu"] is False  # no x_AiClass said so


def test_zero_use_is_all_unused_and_no_coverage() -> None:
    got = by_id(
        summarise(
            frame(
                line("0", category="Purchase", billed="720", **ri()),
                line("720", status="Unused", itype="p4d.24xlarge", **ri()),
            )
        )
    )[RI]
    assert (got["used"], got["unused"]) == (Decimal("0"), Decimal("720"))
    assert got["utilisation"] == 0.0
    assert got["coverage"] is None  # nothing used and nothing eligible: undefined, not 0
    assert got["net_savings"] == Decimal("-720")


def test_azure_reservation_and_savings_plan_daily_unused_rows() -> None:
    res = {"commitment": AZ_RES, "ctype": "Reservation", "ccat": "Usage", "provider": "Microsoft"}
    plan = {"commitment": AZ_SP, "ctype": "Savings Plan", "ccat": "Spend", "provider": "Microsoft"}
    vm = "Standard_ND96isr_H100_v5"
    rows = [line("0", category="Purchase", billed="300", **res)]
    rows += [line("80", status="Used", list_cost="120", itype=vm, **res) for _ in range(3)]
    rows += [line("20", status="Unused", itype=vm, **res) for _ in range(3)]
    rows += [line("0", category="Purchase", billed="50", **plan)]
    rows += [line("50", status="Used", list_cost="70", itype="Standard_NC24ads_A100_v4", **plan)]
    rows += [line("10", provider="Microsoft", itype=vm)]  # on demand, same size
    summary = summarise(frame(*rows))
    got = by_id(summary)
    assert (got[AZ_RES]["purchase"], got[AZ_RES]["used"], got[AZ_RES]["unused"]) == (
        Decimal("300"), Decimal("240"), Decimal("60"),
    )  # fmt: skip
    assert got[AZ_RES]["utilisation"] == pytest.approx(0.8)
    assert got[AZ_RES]["coverage"] == pytest.approx(240 / 250)
    assert got[AZ_SP]["utilisation"] == 1.0
    assert got[AZ_SP]["unused"] == Decimal("0")
    assert got[AZ_SP]["coverage"] == pytest.approx(50 / 60)
    assert list(summary["commitment_id"]) == [AZ_RES, AZ_SP]  # most unused first
    assert wasted(summary) == {"USD": (Decimal("60"), Decimal("350"))}


def test_gcp_cud_fee_credits_and_unused() -> None:
    cud = {"commitment": CUD, "ctype": "Committed Use Discount", "ccat": "Usage",
           "provider": "Google Cloud"}  # fmt: skip
    got = by_id(
        summarise(
            frame(
                line("0", category="Purchase", billed="100", **cud),
                line("-40", category="Credit", billed="-40", **cud),  # CUD credits on usage
                line("80", status="Used", itype="g2-standard-8", **cud),
                line("20", status="Unused", itype="g2-standard-8", **cud),
            )
        )
    )[CUD]
    assert (got["purchase"], got["used"], got["unused"]) == (
        Decimal("100"), Decimal("80"), Decimal("20"),
    )  # fmt: skip
    assert got["savings"] == Decimal("40")  # the credits it gave
    assert got["utilisation"] == pytest.approx(0.8)


def test_months_and_currencies_are_kept_apart() -> None:
    rows = [
        line("0", category="Purchase", billed="10", **sp()),
        line("6", status="Used", **sp()),
        line("4", status="Unused", **sp()),
        line("0", category="Purchase", billed="10", period=NOV, **sp()),
        line("10", status="Used", period=NOV, **sp()),
        line("9", status="Unused", currency="EUR", **ri()),
    ]
    summary = summarise(frame(*rows))
    assert summary.schema == pl.Schema(SUMMARY_SCHEMA)
    rows_got = [
        (str(r["period"]), r["currency"], r["unused"]) for r in summary.iter_rows(named=True)
    ]
    assert rows_got == [
        ("2026-10-01", "EUR", Decimal("9")),
        ("2026-10-01", "USD", Decimal("4")),
        ("2026-11-01", "USD", Decimal("0")),
    ]  # fmt: skip
    assert wasted(summary) == {
        "EUR": (Decimal("9"), Decimal("9")),
        "USD": (Decimal("4"), Decimal("20")),
    }


def test_aggregated_lines_give_the_same_summary() -> None:
    rows = [
        line("0", category="Purchase", billed="100", **sp()),
        line("45", status="Used", list_cost="60", itype="p5.48xlarge", **sp()),
        line("25", status="Used", list_cost="40", itype="p5.48xlarge", **sp()),
        line("30", status="Unused", **sp()),
        line("10", itype="m5.large"),
        line("20", itype="m5.large"),
    ]
    lines = frame(*rows)
    keys = [c for c in lines.collect_schema().names() if not c.endswith("Cost")]
    grouped = lines.group_by(keys).agg(pl.col("BilledCost", "EffectiveCost", "ListCost").sum())
    assert summarise(grouped).equals(summarise(lines))
