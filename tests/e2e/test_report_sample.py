"""Acceptance 1 on the sample enterprise: the pack's totals equal the warehouse to the cent."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from dashboard.report.model import cents, money_text
from dashboard.report.pack import build_pack
from ingest.warehouse.connection import connect
from tests.fixtures.pack_sheets import sheet_rows

pytestmark = pytest.mark.slow  # needs the built sample warehouse


def _month(root: Path) -> str:
    """The latest month that has a month before it (so month over month is real)."""
    periods = [
        r[0]
        for r in connect(root)
        .execute(
            "select distinct strftime(BillingPeriodStart, '%Y-%m') from cost_lines "
            "where BillingCurrency = 'USD' order by 1"
        )
        .fetchall()
    ]
    assert len(periods) >= 2, periods
    return periods[-1]


@pytest.fixture(scope="module")
def sample_pack(sample_warehouse: Path, tmp_path_factory: pytest.TempPathFactory):
    month = _month(sample_warehouse)
    out = tmp_path_factory.mktemp("sample-pack")  # billed: these totals reconcile to invoices
    return build_pack(sample_warehouse, month, out_dir=out, basis="billed")


def _truth(root: Path, month: str) -> dict[str, Decimal]:
    con = connect(root)
    rows = con.execute(
        "select ProviderName, sum(BilledCost) from cost_lines "
        "where strftime(BillingPeriodStart, '%Y-%m') = $m and BillingCurrency = 'USD' "
        "group by 1",
        {"m": month},
    ).fetchall()
    return {p: Decimal(t) for p, t in rows}


@pytest.mark.slow
def test_sample_pack_totals_equal_the_warehouse(sample_warehouse: Path, sample_pack) -> None:
    month = str(sample_pack.month)
    by_provider = _truth(sample_warehouse, month)
    total = sum(by_provider.values(), Decimal(0))
    assert total > 0
    _, rows = sheet_rows(sample_pack.files["xlsx"][0], "Summary", sample_pack)
    xlsx_total = next(r for r in rows if r["dimension"] == "total")
    assert cents(Decimal(str(xlsx_total["billed_cost"]))) == cents(total)
    csv_path = next(p for p in sample_pack.files["csv"] if p.name.endswith("-summary.csv"))
    with csv_path.open(encoding="utf-8", newline="") as fh:
        csv_total = next(r for r in csv.DictReader(fh) if r["dimension"] == "total")
    assert Decimal(csv_total["billed_cost"]) == cents(total)
    rec = sample_pack.sections["reconciliation"].frame
    usd = rec.filter(rec["currency"] == "USD")
    assert sum((Decimal(v) for v in usd["warehouse_total"]), Decimal(0)) == total
    assert set(rec["status"]) == {"ok"}, rec.filter(rec["status"] != "ok").to_dicts()
    text = "\n".join(p.extract_text() for p in PdfReader(sample_pack.files["pdf"][0]).pages)
    assert money_text(total, "USD") in text


def test_idle_gpu_waste_is_in_the_pack_of_the_gpus_currency(
    sample_warehouse: Path, sample_pack, tmp_path: Path
) -> None:
    month = str(sample_pack.month)
    (usd_idle,) = (
        connect(sample_warehouse)
        .execute(
            "select sum(idle_cost) from gpu_hours where strftime(hour, '%Y-%m') = $m", {"m": month}
        )
        .fetchall()[0]
    )
    assert sample_pack.headline["Idle GPU waste"] == usd_idle > 0  # the sample's GPUs bill USD
    # the EUR pack (one SaaS vendor) used to carry the USD idle waste as if it were euros
    eur = build_pack(sample_warehouse, month, formats=("csv",), out_dir=tmp_path, currency="EUR")
    assert eur.headline["Idle GPU waste"] == 0
    assert eur.sections["idle_gpu"].frame.height == 0
    notes = " ".join(str(v) for v in eur.sections["notes"].frame.to_dicts())
    assert "billed in USD, not EUR" in notes
