"""AWS CUR ingest: real legacy samples, CUR 2.0 amortisation rules, layouts, restatement."""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dashboard.cli.finops import main
from ingest.sources import aws, cur_layout
from ingest.sources import aws_columns as cols
from ingest.warehouse.connection import connect, versions
from tests.fixtures.cur import (
    KOKU,
    LINES,
    RI_ARN,
    SP_ARN,
    STORED_ROWS,
    cur2_table,
    expected_billed,
    koku_truth,
    write_cur2,
)
from tests.fixtures.warehouse_state import ingest, period_totals, state

# ---- a CUR 2.0 export built in code -------------------------------------------------------


# ---- the real legacy samples ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["test_cur.csv", "2023-06-01.csv", "2023-06-01-not-final.csv", "2022-07-01-alt-columns.csv"],
)
def test_real_legacy_cur_samples_reconcile_exactly(warehouse: Path, name: str) -> None:
    rows, total, month = koku_truth(KOKU / name)
    assert ingest(warehouse, "aws", str(KOKU / name)) == 0
    n, billed, _ = period_totals(warehouse)[month]
    assert (n, billed) == (rows, total)
    (source_total, wh_total, source) = (
        connect(warehouse)
        .execute("select source_total, warehouse_total, source from loads")
        .fetchone()
    )
    assert source_total == wh_total == total and source == "aws-cur-legacy"


def test_legacy_savings_plan_lines_amortise_to_the_plan_rate(warehouse: Path) -> None:
    assert ingest(warehouse, "aws", str(KOKU / "2023-06-01.csv")) == 0
    con = connect(warehouse)
    got = con.execute(
        "select sum(BilledCost), sum(EffectiveCost), any_value(BillingCurrency), "
        "any_value(CommitmentDiscountCategory), any_value(PricingCategory) from cost_lines"
    ).fetchone()
    # three SavingsPlanCoveredUsage lines: unblended 10 each, SavingsPlanEffectiveCost 0.1 each
    assert got == (Decimal("30"), Decimal("0.3"), "NOK", None, "Committed")


def test_gzip_and_manifest_layout_give_the_same_lines(warehouse: Path, tmp_path: Path) -> None:
    rows, total, _ = koku_truth(KOKU / "test_cur.csv")
    period = tmp_path / "cur" / "acme" / "20180601-20180701"
    (period / "assembly-1").mkdir(parents=True)
    with (
        (KOKU / "test_cur.csv").open("rb") as src,
        gzip.open(period / "assembly-1" / "acme-1.csv.gz", "wb") as out,
    ):
        shutil.copyfileobj(src, out)
    # a stale assembly the manifest does not name must be ignored
    (period / "assembly-0").mkdir()
    shutil.copy(KOKU / "test_cur.csv", period / "assembly-0" / "acme-1.csv")
    manifest = {"reportKeys": ["cur/acme/20180601-20180701/assembly-1/acme-1.csv.gz"]}
    (period / "acme-Manifest.json").write_text(json.dumps(manifest))
    assert ingest(warehouse, "aws", str(tmp_path / "cur")) == 0
    assert period_totals(warehouse)["2018-06"][:2] == (rows, total)
    (files,) = connect(warehouse).execute("select files from loads").fetchone()
    assert [Path(f["path"]).name for f in json.loads(files)] == ["acme-1.csv.gz"]


def test_a_file_two_legacy_manifests_name_is_read_once(warehouse: Path, tmp_path: Path) -> None:
    """A period folder with a manifest kept twice (a copy beside the original): each names the
    same assembly, which is still one file of the month, not two."""
    rows, total, _ = koku_truth(KOKU / "test_cur.csv")
    period = tmp_path / "cur" / "acme" / "20180601-20180701"
    (period / "assembly-1").mkdir(parents=True)
    shutil.copy(KOKU / "test_cur.csv", period / "assembly-1" / "acme-1.csv")
    key = "cur/acme/20180601-20180701/assembly-1/acme-1.csv"
    for name in ("acme-Manifest.json", "acme-copy-Manifest.json"):
        (period / name).write_text(json.dumps({"reportKeys": [key, key]}))
    assert ingest(warehouse, "aws", str(tmp_path / "cur")) == 0
    assert period_totals(warehouse)["2018-06"][:2] == (rows, total)


def test_legacy_parquet_is_read_by_its_snake_case_columns(warehouse: Path, tmp_path: Path) -> None:
    raw = pl.read_csv(KOKU / "2022-07-01-alt-columns.csv", infer_schema=False)
    rows, total, month = koku_truth(KOKU / "test_cur.csv")
    legacy = pl.read_csv(KOKU / "test_cur.csv", infer_schema=False)
    legacy = legacy.rename({c: aws.cols.snake(c) for c in legacy.columns})
    legacy = legacy.with_columns(pl.col("line_item_unblended_cost").cast(pl.Float64))
    legacy = legacy.with_columns(resource_tags_user_team=pl.lit("ml"))
    legacy.write_parquet(tmp_path / "legacy.parquet")
    assert "product" not in raw.columns
    assert ingest(warehouse, "aws", str(tmp_path / "legacy.parquet")) == 0
    n, billed, _ = period_totals(warehouse)[month]
    assert (n, billed) == (rows, total)
    tags, source = (
        connect(warehouse)
        .execute("select any_value(Tags), any_value(x_Source) from cost_lines")
        .fetchone()
    )
    assert json.loads(tags) == {"team": "ml"} and source == "aws-cur-legacy"


# ---- CUR 2.0 -----------------------------------------------------------------------------------


def test_cur2_effective_cost_follows_the_line_item_type_rules(
    warehouse: Path, tmp_path: Path
) -> None:
    folder = write_cur2(tmp_path / "cur2", parts=2)
    assert ingest(warehouse, "aws", str(folder)) == 0
    con = connect(warehouse)
    got = dict(
        con.execute(
            "select x_UsageType || '|' || ChargeCategory || '|' "
            "|| coalesce(CommitmentDiscountStatus, '-'), sum(EffectiveCost) from cost_lines "
            "group by 1"
        ).fetchall()
    )
    # As FOCUS 1.2: a fee line is a Purchase with EffectiveCost 0; its unused part (the
    # amortised cost the CUR leaves on the fee) is an Unused line of its own.
    fees = set(aws.cols.COMMITMENT_FEES)
    want: dict[str, Decimal] = {}
    for kind, utype, _, _, e, _ in LINES:
        category = aws.cols.LINE_ITEM_TYPES[kind][0]
        status = "Used" if kind in ("SavingsPlanCoveredUsage", "DiscountedUsage") else "-"
        key = f"{utype}|{category}|{status}"
        want[key] = want.get(key, Decimal(0)) + (Decimal(0) if kind in fees else Decimal(e))
        if kind in fees:
            want[f"{utype}|Usage|Unused"] = Decimal(e)
    assert got == want
    n, billed, effective = period_totals(warehouse)["2026-09"]
    assert n == STORED_ROWS  # one Unused line per fee line
    assert billed == expected_billed(cur2_table())
    assert effective == sum(Decimal(e) for *_, e, _ in LINES)


def test_cur2_columns_tags_and_instance_fields(warehouse: Path, tmp_path: Path) -> None:
    assert ingest(warehouse, "aws", str(write_cur2(tmp_path / "cur2"))) == 0
    row = (
        connect(warehouse)
        .execute(
            "select Tags, x_InstanceType, x_GpuCount, ServiceCategory, ServiceSubcategory, "
            "BillingAccountId, SubAccountId, ProviderName, x_Source, RegionId "
            "from cost_lines where x_UsageType = 'USE1-BoxUsage:p4d.24xlarge'"
        )
        .fetchone()
    )
    assert json.loads(row[0]) == {"team": "ml-research", "env": "prod"}
    assert row[1:] == (
        "p4d.24xlarge", 8, "Compute", "Virtual Machines", "111111111111", "222222222222",
        "AWS", "aws-cur2", "us-east-1",
    )  # fmt: skip
    commitments = (
        connect(warehouse)
        .execute(
            "select CommitmentDiscountCategory, CommitmentDiscountType, count(*) from cost_lines "
            "where CommitmentDiscountId is not null group by all order by 1"
        )
        .fetchall()
    )
    # covered usage, the fee and the fee's Unused line
    assert commitments == [("Spend", "Savings Plan", 3), ("Usage", "Reserved Instance", 3)]


def test_cur2_fee_is_a_purchase_at_zero_and_its_unused_part_a_line_of_its_own(
    warehouse: Path, tmp_path: Path
) -> None:
    assert ingest(warehouse, "aws", str(write_cur2(tmp_path / "cur2", parts=2))) == 0
    rows = (
        connect(warehouse)
        .execute(
            "select CommitmentDiscountId, ChargeCategory, CommitmentDiscountStatus, BilledCost, "
            "EffectiveCost, ListCost, ContractedCost, ResourceId, x_InstanceType, "
            "PricingQuantity, PricingUnit, ChargeDescription, PricingCategory "
            "from cost_lines where x_UsageType in ('ComputeSP:1yrNoUpfront', "
            "'HeavyUsage:p5.48xlarge') order by x_LineId"
        )
        .fetchall()
    )
    z = Decimal(0)
    assert [r[:11] for r in rows] == [
        (SP_ARN, "Purchase", None, Decimal("720"), z, Decimal("720"), Decimal("720"),
         "i-0003", None, Decimal("1"), "Hrs"),
        # the plan covered only g5.2xlarge this month: its unused part is that GPU's
        (SP_ARN, "Usage", "Unused", z, Decimal("719.2122"), z, z, SP_ARN, "g5.2xlarge",
         Decimal("719.2122"), "USD"),
        (RI_ARN, "Purchase", None, Decimal("39628.8"), z, Decimal("39628.8"),
         Decimal("39628.8"), "i-0005", "p5.48xlarge", Decimal("1"), "Hrs"),
        (RI_ARN, "Usage", "Unused", z, Decimal("39573.76"), z, z, RI_ARN, "p5.48xlarge",
         None, "Hrs"),
    ]  # fmt: skip
    # the fee's description (here its usage type, the CUR giving none) says which plan
    assert rows[1][11] == "Unused Savings Plan commitment (ComputeSP:1yrNoUpfront)"
    assert {r[12] for r in rows if r[2] == "Unused"} == {"Committed"}


def test_a_fee_line_without_its_commitment_arn_keeps_its_unused_part(
    warehouse: Path, tmp_path: Path
) -> None:
    """An RIFee line whose reservation ARN is empty (a trimmed query, a hand-made extract) has
    no Unused line of its own: its unused 39,573.76 stays on the fee line instead of vanishing
    from the amortised cost."""
    rows = cur2_table("2026-09").to_pylist()
    for row in rows:
        if row["line_item_line_item_type"] == "RIFee":
            row["reservation_reservation_a_r_n"] = None
    folder = tmp_path / "cur2" / "BILLING_PERIOD=2026-09"
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows, schema=cur2_table("2026-09").schema)
    pq.write_table(table, folder / "export-00001.snappy.parquet")
    assert ingest(warehouse, "aws", str(folder)) == 0
    effective = sum((Decimal(e) for *_, e, _ in LINES), Decimal(0))
    billed = expected_billed(table)
    assert period_totals(warehouse)["2026-09"] == (STORED_ROWS - 1, billed, effective)
    fee = connect(warehouse).execute(
        "select EffectiveCost, CommitmentDiscountId from cost_lines "
        "where x_UsageType = 'HeavyUsage:p5.48xlarge'"
    )
    assert fee.fetchall() == [(Decimal("39573.76"), None)]


def test_cur2_unused_lines_are_the_same_read_whole_or_in_pieces(tmp_path: Path) -> None:
    folder = write_cur2(tmp_path / "cur2", parts=1)
    (period,) = cur_layout.plan(folder)
    (load,) = aws.read_period(period, tmp_path / "work")
    whole = load.lines.collect()
    pieces = pl.concat(list(load.chunks()))
    assert whole.equals(pieces)
    unused = whole.filter(pl.col("CommitmentDiscountStatus") == "Unused")
    assert unused["EffectiveCost"].to_list() == [Decimal("719.2122"), Decimal("39573.76")]


def test_folder_of_periods_restatement_and_idempotence(warehouse: Path, tmp_path: Path) -> None:
    first = tmp_path / "cur2"
    write_cur2(first, "2026-09")
    write_cur2(first, "2026-10", scale=2.0)
    assert ingest(warehouse, "aws", str(first)) == 0
    before = period_totals(warehouse)
    assert set(before) == {"2026-09", "2026-10"}
    assert before["2026-10"][1] == expected_billed(cur2_table(scale=2.0))
    version = versions(warehouse)["cost_lines"]

    assert ingest(warehouse, "aws", str(first)) == 0  # same export again: nothing changes
    assert versions(warehouse)["cost_lines"] == version
    assert period_totals(warehouse) == before

    restated = tmp_path / "cur2-restated"
    write_cur2(restated, "2026-09", scale=3.0)
    assert ingest(warehouse, "aws", str(restated)) == 0
    after = period_totals(warehouse)
    assert after["2026-09"][1] == expected_billed(cur2_table(scale=3.0))
    assert after["2026-10"] == before["2026-10"]
    assert period_totals(warehouse, as_of=version) == before  # pre-restatement by version


def test_a_reader_bug_fails_reconciliation_and_commits_nothing(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert ingest(warehouse, "aws", str(write_cur2(tmp_path / "a", "2026-08"))) == 0
    before = state(warehouse)
    real = aws.normalise
    monkeypatch.setattr(aws, "normalise", lambda *a: real(*a).filter(pl.col("BilledCost") != 0.09))
    code = ingest(warehouse, "aws", str(write_cur2(tmp_path / "b", "2026-09")))
    err = capsys.readouterr().err
    assert code == 3 and "Reconciliation failed" in err and "-0.09" in err
    assert state(warehouse) == before
    (error,) = connect(warehouse).execute("select error from load_errors").fetchone()
    assert error == "ReconciliationError"


def test_warehouse_option_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_cur2(tmp_path / "cur2")
    explicit = tmp_path / "explicit"
    assert main(["ingest", "aws", str(folder), "--warehouse", str(explicit)]) == 0
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(tmp_path / "from-env"))
    assert main(["ingest", "aws", str(folder)]) == 0
    want = expected_billed(cur2_table())
    assert period_totals(explicit)["2026-09"][1] == want
    assert period_totals(tmp_path / "from-env")["2026-09"][1] == want


def test_a_savings_plan_unused_part_goes_to_the_type_it_covered_most() -> None:
    """A plan bought for p5 GPUs that also covered a little m5 stays a GPU commitment (its
    Unused line carries p5.48xlarge); an equal split is settled by name, the same every run."""
    from ingest.sources import aws_columns as cols

    def covered(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
        return cols.covered_instance_types(
            pl.LazyFrame(
                {
                    "line_item_line_item_type": ["SavingsPlanCoveredUsage"] * len(rows),
                    "savings_plan_savings_plan_a_r_n": [arn for arn, _, _ in rows],
                    "line_item_usage_type": [f"USE1-BoxUsage:{t}" for _, t, _ in rows],
                    "line_item_unblended_cost": [cost for _, _, cost in rows],
                }
            )
        )

    first = covered([("sp-1", "p5.48xlarge", "98.32"), ("sp-1", "m5.large", "0.096")])
    second = covered([("sp-1", "m5.large", "50"), ("sp-2", "c5.xlarge", "1"),
                      ("sp-2", "a1.large", "1")])  # fmt: skip
    assert cols.plan_instance_types([first, second]) == {"sp-1": "p5.48xlarge", "sp-2": "a1.large"}
    assert cols.plan_instance_types([first]) == {"sp-1": "p5.48xlarge"}


def test_cur2_tag_maps_are_encoded_once_per_distinct_map_and_stay_on_their_lines() -> None:
    maps = [
        [("user_team", "ml"), ("user_env", "prod")],
        [("user_team", 'say "hi"\\'), ("user_empty", ""), ("user_none", None)],
        [("user_env", "prod"), ("user_team", "ml")],  # same tags, other order: its own text
        None,
        [],
        [("user_team", "ml"), ("user_env", "prod")],
    ]
    column = pa.array(maps * 3, pa.map_(pa.string(), pa.string()))
    frame = pl.DataFrame(pl.from_arrow(pa.table({"resource_tags": column}))).lazy()
    schema = frame.collect_schema()
    joined, text = cols._with_map_tags(frame, schema)
    assert text is not None
    got = joined.select(text).collect().to_series().to_list()
    assert got == frame.select(cols.tags_from_map("resource_tags")).collect().to_series().to_list()
    assert got[:5] == [
        '{"team":"ml","env":"prod"}',
        '{"team":"say \\"hi\\"\\\\"}',
        '{"env":"prod","team":"ml"}',
        None,
        None,
    ]
