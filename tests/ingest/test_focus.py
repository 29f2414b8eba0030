"""FOCUS ingest: the real FOCUS 1.0 sample, CSV/CSV.gz/Parquet, loose real-world text."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl
import pytest

from ingest.warehouse.connection import connect
from tests.fixtures.warehouse_state import ingest, state

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "focus-1.0-sample"
Q = Decimal("1e-12")


def sample_truth() -> dict[tuple[str, str, str], tuple[int, Decimal, Decimal]]:
    """(provider, account, period) -> rows, ΣBilledCost, ΣEffectiveCost, summed with Decimal."""
    out: dict = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    with (SAMPLE / "focus_sample.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            key = (row["ProviderName"], row["BillingAccountId"], row["BillingPeriodStart"][:7])
            acc = out[key]
            acc[0] += 1
            acc[1] += Decimal(row["BilledCost"]).quantize(Q, ROUND_HALF_EVEN)
            effective = row["EffectiveCost"]
            acc[2] += Decimal(row["BilledCost"] if effective == "NULL" else effective).quantize(Q)
    return {k: tuple(v) for k, v in out.items()}


def warehouse_totals(root: Path) -> dict[tuple[str, str, str], tuple[int, Decimal, Decimal]]:
    rows = connect(root).execute(
        "select ProviderName, BillingAccountId, strftime(BillingPeriodStart, '%Y-%m'), count(*), "
        "sum(BilledCost), sum(EffectiveCost) from cost_lines group by 1, 2, 3"
    )
    return {(p, a, m): (n, b, e) for p, a, m, n, b, e in rows.fetchall()}


def test_real_focus_sample_aws_rows_reconcile_exactly(warehouse: Path) -> None:
    truth = sample_truth()
    assert ingest(warehouse, "focus", str(SAMPLE)) == 0
    got = warehouse_totals(warehouse)
    aws = ("AWS", "1234567890123", "2024-09")
    assert got[aws] == truth[aws]
    assert got[aws][0] == 942
    assert got == truth  # every provider's rows, per account and period
    loads = (
        connect(warehouse)
        .execute(
            "select billing_account, billing_period, rows, source_total, warehouse_total "
            "from loads where billing_account = '1234567890123'"
        )
        .fetchall()
    )
    assert loads == [("1234567890123", "2024-09", 942, truth[aws][1], truth[aws][1])]


def test_real_world_looseness_is_normalised(warehouse: Path) -> None:
    assert ingest(warehouse, "focus", str(SAMPLE / "focus_sample.csv")) == 0
    con = connect(warehouse)
    frequencies = {
        r[0] for r in con.execute("select distinct ChargeFrequency from cost_lines").fetchall()
    }
    assert frequencies <= {"Usage-Based", "One-Time", "Recurring"}
    bad = con.execute(
        "select count(*) from cost_lines where ServiceSubcategory <> "
        "'Other (' || ServiceCategory || ')'"
    ).fetchone()
    assert bad == (0,)  # FOCUS 1.0 has no ServiceSubcategory: derived from the category
    nulls = con.execute(
        "select count(*) filter (where ChargeClass is null), "
        "count(*) filter (where Tags = 'NULL'), count(*) from cost_lines"
    ).fetchone()
    assert nulls == (1000, 0, 1000)
    (tags,) = con.execute(
        "select Tags from cost_lines where ChargeDescription like '$0.008 per used Application%' "
        "and Tags is not null limit 1"
    ).fetchone()
    assert json.loads(tags)["environment"] in {"dev", "prod"}


@pytest.mark.parametrize("form", ["csv.gz", "parquet"])
def test_gzip_and_parquet_forms_give_the_same_totals(
    warehouse: Path, tmp_path: Path, form: str
) -> None:
    truth = sample_truth()
    if form == "csv.gz":
        path = tmp_path / "focus.csv.gz"
        with (SAMPLE / "focus_sample.csv").open("rb") as src, gzip.open(path, "wb") as out:
            shutil.copyfileobj(src, out)
    else:
        path = tmp_path / "focus.parquet"
        raw = pl.read_csv(SAMPLE / "focus_sample.csv", infer_schema=False, null_values=["NULL"])
        raw.with_columns(
            pl.col("BilledCost").str.to_decimal(scale=12),
            pl.col("BillingPeriodStart").str.to_datetime(time_zone="UTC"),
        ).write_parquet(path)
    assert ingest(warehouse, "focus", str(path)) == 0
    assert warehouse_totals(warehouse) == truth


def test_iso_timestamps_tags_without_braces_and_focus_1_2_columns(
    warehouse: Path, tmp_path: Path
) -> None:
    path = tmp_path / "azure-focus.csv"
    path.write_text(
        "BilledCost,EffectiveCost,ListCost,ContractedCost,BillingAccountId,BillingCurrency,"
        "BillingPeriodStart,BillingPeriodEnd,ChargeCategory,ChargeFrequency,ChargePeriodStart,"
        "ChargePeriodEnd,ProviderName,PublisherName,InvoiceIssuerName,ServiceCategory,"
        "ServiceSubcategory,ServiceName,Tags,x_SkuMeterSubcategory\n"
        "12.3456789012345,10,13,12,acct-1,EUR,2026-09-01T00:00:00Z,2026-10-01T00:00:00Z,Usage,"
        "Usage-Based,2026-09-02T05:00:00+02:00,2026-09-02T04:00:00Z,Microsoft,Microsoft,"
        'Microsoft,Compute,Virtual Machines,Virtual Machines,"""team"": ""ml""",NCads H100 v5\n'
        "0.0000001,0,0,0,acct-1,EUR,2026-09-01 00:00:00,2026-10-01 00:00:00,Usage,usage-based,"
        "2026-09-03 00:00:00,2026-09-03 01:00:00,Microsoft,Microsoft,Microsoft,Compute,"
        "NULL,Virtual Machines,NULL,NULL\n",
        encoding="utf-8",
    )
    assert ingest(warehouse, "focus", str(path)) == 0
    rows = (
        connect(warehouse)
        .execute(
            "select BilledCost, ChargePeriodStart, Tags, ServiceSubcategory, "
            "x_SkuMeterSubcategory, ChargeFrequency from cost_lines order by BilledCost desc"
        )
        .fetchall()
    )
    first, second = rows
    assert first[0] == Decimal("12.345678901234")  # half-even at 12 decimals
    assert first[1].isoformat() == "2026-09-02T03:00:00+00:00"
    assert json.loads(first[2]) == {"team": "ml"}
    assert first[3:] == ("Virtual Machines", "NCads H100 v5", "Usage-Based")
    assert second[0] == Decimal("0.0000001") and second[2] is None
    assert second[3] == "Other (Compute)" and second[5] == "Usage-Based"


def test_restated_focus_month_replaces_only_its_account(warehouse: Path, tmp_path: Path) -> None:
    assert ingest(warehouse, "focus", str(SAMPLE)) == 0
    before = warehouse_totals(warehouse)
    raw = pl.read_csv(SAMPLE / "focus_sample.csv", infer_schema=False)
    oracle = raw.filter(pl.col("ProviderName") == "Oracle").with_columns(BilledCost=pl.lit("1.50"))
    oracle.write_csv(tmp_path / "oracle-restated.csv")
    assert ingest(warehouse, "focus", str(tmp_path / "oracle-restated.csv")) == 0
    after = warehouse_totals(warehouse)
    assert after[("Oracle", "20209880", "2024-09")][:2] == (6, Decimal("9"))
    assert after[("Oracle", "20209880", "2024-10")][:2] == (1, Decimal("1.5"))
    aws = ("AWS", "1234567890123", "2024-09")
    assert after[aws] == before[aws]
    assert state(warehouse)[0] == 5  # four first loads (v0-v3), then Oracle's two periods
