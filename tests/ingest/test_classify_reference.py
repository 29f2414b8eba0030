"""Acceptance 2: the real public samples, ingested through the readers, get the egress kind a
reviewer gives each data-transfer line; nothing in them is taken for a GPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from dashboard.cli.finops import main
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings

# samples/aws-cur-legacy-koku/test_cur.csv: identity/LineItemId -> kind. InterRegion Outbound
# (-AWS-Out-Bytes) is inter-region egress; InterRegion Inbound (-AWS-In-Bytes) is data
# arriving, not egress (class "other").
KOKU = {
    "e4b85fdd7363544ce3db8d86a8dbf150c7709761": "inter_region",
    "9a35c2bf6439a9c4dae0e1b8a2a0b9abc7b39a94": "inter_region",
    "e3331ad2aaa5a0ef0f7ad85da84b77df7f1f5eb6": None,
    "d2eb972def2064b51c0f49430095949bda4a7df0": None,
    "6fb05f7744ada159589943f2fcb270f6b4b72961": None,
    "c81665fcae021c093ba4785510f9798ed14414aa": None,
    "93680982c10ff7dd35302dd307bcfaf9a691b0ca": "inter_region",
    "7452dd6e5ae019b97b1d052603226284b815d3c9": None,
    "e79ffed7bdbf10318a903ba33f48475b7ee88b54": "inter_region",
    "447be5e753e2933b1b0c0b8d25bc09e9cd59f64e": None,
    "15524c7b49ef8d45a9cadedfdc38189f5802b4fa": "inter_region",
    "9cb77f8f757008a5e097bcb1feba5f1d791e0cdb": "inter_region",
    "46f285a462bc736fd7892b40854c110925624c23": "inter_region",
    "678a6a6df49d2ab4d5f546cdb9885075ebde5ec2": "inter_region",
    "6f84245946cd38872561a501019cefa653643faa": "inter_region",
    "bcc85426b5aafc3ebb4de3960fc38dc3e3ee8be5": "inter_region",
    "5309cf37f8fdaf11e09cd34fc08a1d0e9e21962e": None,
    "d9db4eff7ec2d0fdd9bfc4d21046f94cd69aac1f": "inter_region",
    "7bac7b6899a03b8e4deb5e63935f2755cc1883ae": None,
}
# samples/azure-ea-finops-toolkit/EA_AmortizedCost_Small.csv: 0-based data row -> kind, for
# every Bandwidth / Virtual Network / Load Balancer row.
AZURE = {
    6: None,  # Virtual Network / Basic IPv4 Static Public IP: an address, not traffic
    8: None,  # Virtual Network / Standard IPv4 Static Public IP
    9: "inter_region",  # Bandwidth / Inter-Region / Intra Continent Data Transfer Out
    11: "internet",  # Bandwidth / Standard Data Transfer Out
    12: "inter_region",
    13: "inter_region",
    14: None,  # Load Balancer / Standard Included LB Rules and Outbound Rules: rule hours
}


@pytest.fixture(scope="module")
def reference_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures.paths import REFERENCE

    root = tmp_path_factory.mktemp("ref")
    (root / "aws").mkdir()
    (root / "azure").mkdir()
    shutil.copy(REFERENCE / "aws-cur-legacy-koku" / "test_cur.csv", root / "aws")
    for name in ("EA_ActualCost_Small.csv", "EA_AmortizedCost_Small.csv"):
        shutil.copy(REFERENCE / "azure-ea-finops-toolkit" / name, root / "azure")
    wh = root / "warehouse"
    assert main(["--warehouse", str(wh), "ingest", "aws", str(root / "aws")]) == 0
    assert main(["--warehouse", str(wh), "ingest", "azure", str(root / "azure")]) == 0
    views.register_all(Settings())
    return wh


def _money(col: str) -> pl.Expr:
    return pl.col(col).str.to_decimal(scale=12)


def test_koku_data_transfer_lines_get_the_reviewers_egress_kind(
    reference_warehouse: Path, reference: Path
) -> None:
    src = pl.read_csv(reference / "aws-cur-legacy-koku" / "test_cur.csv", infer_schema=False)
    src = src.select(
        pl.col("identity/LineItemId").alias("id"),
        pl.col("lineItem/UsageType").alias("x_UsageType"),
        _money("lineItem/UnblendedCost").alias("BilledCost"),
    )
    got = pl.from_arrow(
        connect(reference_warehouse)
        .sql(
            "select x_UsageType, BilledCost, x_AiClass, x_EgressKind, x_AiClassRule "
            "from classified_costs where x_Source = 'aws-cur-legacy'"
        )
        .to_arrow_table()
    )
    joined = src.join(got, on=["x_UsageType", "BilledCost"], how="left")
    assert joined.height == len(KOKU) == 19
    for row in joined.iter_rows(named=True):
        expected = KOKU[row["id"]]
        assert row["x_EgressKind"] == expected, row
        assert row["x_AiClass"] == ("egress" if expected else "other"), row
        assert row["x_AiClassRule"] is not None
    print("\nkoku:", joined.group_by("x_AiClass", "x_EgressKind").len().sort("len").rows())


def test_azure_ea_bandwidth_lines_get_the_reviewers_egress_kind(
    reference_warehouse: Path, reference: Path
) -> None:
    src = pl.read_csv(
        reference / "azure-ea-finops-toolkit" / "EA_AmortizedCost_Small.csv", infer_schema=False
    ).with_row_index("row")
    got = pl.from_arrow(
        connect(reference_warehouse)
        .sql(
            "select SkuMeter, EffectiveCost, x_AiClass, x_EgressKind from classified_costs "
            "where ProviderName = 'Microsoft'"
        )
        .to_arrow_table()
    )
    for row, expected in AZURE.items():
        r = src.row(row, named=True)
        match = got.filter(
            (pl.col("SkuMeter") == r["MeterName"])
            & (pl.col("EffectiveCost") == pl.lit(r["Cost"]).str.to_decimal(scale=12))
        )
        assert match.height == 1, (row, r["MeterName"], r["Cost"])
        assert match["x_EgressKind"][0] == expected, (row, r["MeterName"])
        assert (match["x_AiClass"][0] == "egress") == (expected is not None)
    others = got.filter(pl.col("x_AiClass") == "egress").height
    assert others == sum(1 for v in AZURE.values() if v)


def test_nothing_in_the_real_samples_is_gpu(reference_warehouse: Path) -> None:
    con = connect(reference_warehouse)
    n_gpu, n_lines = con.execute(
        "select count(*) filter (where x_AiClass = 'gpu_compute'), count(*) from classified_costs"
    ).fetchone()
    assert (n_gpu, n_lines) == (0, 48)
