"""Azure cost details from files: the real samples to the cent, actual + amortized, bad input."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect, versions
from tests.fixtures.azure_runs import BAD_RUNS
from tests.fixtures.paths import SAMPLE_DATA

EA = "azure-ea-finops-toolkit"
VARIANTS = "azure-header-variants"


def ingest(warehouse: Path, *args: str) -> int:
    return main(["--warehouse", str(warehouse), "ingest", "azure", *args])


def stored(warehouse: Path) -> tuple[int | None, int | None]:
    v = versions(warehouse)
    return v["cost_lines"], v["loads"]


def test_ea_actual_and_amortized_reconcile_and_do_not_double_count(
    reference: Path, warehouse: Path
) -> None:
    assert ingest(warehouse, str(reference / EA)) == 0
    con = connect(warehouse)
    n, billed, effective = con.execute(
        "select count(*), sum(BilledCost), sum(EffectiveCost) from cost_lines"
    ).fetchone()
    # sum(Cost) of EA_ActualCost_Small.csv and of EA_AmortizedCost_Small.csv at scale 12
    assert billed == Decimal("8.545007786742")
    assert effective == Decimal("16.296932136637")
    assert n == 29  # 11 actual rows + 28 amortized rows - 10 matched pairs
    purchase = con.execute(
        "select BilledCost, EffectiveCost, ChargeCategory, ChargeFrequency, PricingCategory, "
        "CommitmentDiscountCategory, CommitmentDiscountType from cost_lines "
        "where ChargeCategory = 'Purchase'"
    ).fetchall()
    assert purchase == [
        (Decimal("3.25"), Decimal("0"), "Purchase", "Recurring", "Standard", "Usage", "Reservation")
    ]
    covered = con.execute(
        "select BilledCost, EffectiveCost, PricingCategory, CommitmentDiscountStatus, "
        "CommitmentDiscountCategory, x_InstanceType from cost_lines "
        "where CommitmentDiscountId is not null and ChargeCategory = 'Usage' order by 2 desc"
    ).fetchall()
    assert covered == [
        (Decimal("0"), Decimal("0.493152"), "Committed", "Used", "Usage", "Standard_DS2_v2"),
        (Decimal("0"), Decimal("0.006000000468"), "Committed", "Used", "Spend", "Standard_B2s"),
    ]
    (loads,) = con.execute("select source, billing_account, billing_period, rows, "
                           "source_total, warehouse_total from loads").fetchall()  # fmt: skip
    assert loads == ("azure-cost-details", "8611537", "2023-09", 29,
                     Decimal("8.545007786742"), Decimal("8.545007786742"))  # fmt: skip


def test_ea_brace_less_tags_become_a_json_object(reference: Path, warehouse: Path) -> None:
    ingest(warehouse, str(reference / EA / "EA_ActualCost_Small.csv"))
    tags = (
        connect(warehouse)
        .execute(
            "select Tags from cost_lines "
            "where SkuMeter = 'GRS List and Create Container Operations'"
        )
        .fetchone()[0]
    )
    assert json.loads(tags) == {
        "CostCenter": "1234", "env": "prod", "org": "trey", "application": "databricks",
        "databricks-environment": "true",
    }  # fmt: skip


def test_a_capacity_reservation_in_additional_info_is_named_on_its_line_only(
    reference: Path, warehouse: Path
) -> None:
    assert ingest(warehouse, str(reference / EA / "EA_ActualCost_Small.csv")) == 0
    rows = (
        connect(warehouse)
        .execute(
            "select CapacityReservationId, CapacityReservationStatus, x_InstanceType, count(*) "
            "from cost_lines group by all order by 1 nulls last, 3 nulls last"
        )
        .fetchall()
    )
    # the one D2s v3 row whose AdditionalInfo names VMCapacityReservationId; the other ten
    # rows (VMs without one, storage, a reservation purchase) name none
    assert rows[0] == ("f8b42087-c198-4ad8-8515-fce989cc5fff", "Used", "Standard_D2s_v3", 1)
    assert all(r[0] is None and r[1] is None for r in rows[1:])
    assert sum(r[3] for r in rows) == 11


@pytest.mark.parametrize(
    ("name", "account", "period", "rows", "total"),
    [
        ("headersets_German.csv", "11111111-12ab-34dc-56ef-123456abcdef", "2021-02", 1, "0.075"),
        ("headersets_PayAsYouGo.csv", "11111111-12ab-34dc-56ef-123456abcdef", "2021-02", 1,
         "0.075"),
        ("headersets_EnterpriseCamel.csv", "11111111-1111-1111-1111-123456789012", "2021-02", 1,
         "0.012"),
    ],
)  # fmt: skip
def test_header_variants_ingest_to_the_cent(
    reference: Path, warehouse: Path, name: str, account: str, period: str, rows: int, total: str
) -> None:
    assert ingest(warehouse, str(reference / VARIANTS / name)) == 0
    got = (
        connect(warehouse)
        .execute(
            "select BillingAccountId, strftime(BillingPeriodStart, '%Y-%m'), count(*), "
            "sum(BilledCost), any_value(ServiceName), any_value(ChargeCategory) from cost_lines "
            "group by 1, 2"
        )
        .fetchall()
    )
    service = "Virtual Network" if "Camel" in name else "Load Balancer"
    assert got == [(account, period, rows, Decimal(total), service, "Usage")]


def test_bom_header_file_with_only_a_blank_row_loads_nothing(
    reference: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest(warehouse, str(reference / VARIANTS / "headersets_BOM.csv")) == 0
    assert "Nothing to load" in capsys.readouterr().out
    assert stored(warehouse) == (None, None)


MCA_HEADER = (
    "\ufeffBillingAccountId,BillingAccountName,BillingPeriodStartDate,BillingPeriodEndDate,"
    "SubscriptionId,SubscriptionName,Date,ProductName,MeterId,MeterCategory,MeterSubCategory,"
    "MeterName,Quantity,EffectivePrice,CostInBillingCurrency,UnitPrice,BillingCurrency,"
    "ResourceLocation,ConsumedService,ResourceId,AdditionalInfo,Tags,UnitOfMeasure,ChargeType,"
    "Frequency,PublisherType,PublisherName,PayGPrice,PricingModel,benefitId,benefitName"
)
RI = "/providers/Microsoft.Capacity/reservationOrders/o1/reservations/r1"
VM = "/subscriptions/s1/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/GPU-1"


def mca_row(**over: str) -> str:
    info = json.dumps({"ServiceType": "Standard_NC24ads_A100_v4", "VCPUs": 24})
    row = {
        "BillingAccountId": "acct:1", "BillingAccountName": "Acme",
        "BillingPeriodStartDate": "2024-09-01", "BillingPeriodEndDate": "2024-09-30",
        "SubscriptionId": "s1", "SubscriptionName": "ml", "Date": "2024-09-03",
        "ProductName": "Virtual Machines NC A100 v4 Series - NC24ads A100 v4 - US East",
        "MeterId": "m1", "MeterCategory": "Virtual Machines", "MeterSubCategory":
        "NC A100 v4 Series", "MeterName": "NC24ads A100 v4", "Quantity": "24",
        "EffectivePrice": "3.673", "CostInBillingCurrency": "88.152", "UnitPrice": "3.673",
        "BillingCurrency": "USD", "ResourceLocation": "eastus",
        "ConsumedService": "Microsoft.Compute", "ResourceId": VM,
        "AdditionalInfo": info, "Tags": '{"team":"research"}', "UnitOfMeasure": "1 Hour",
        "ChargeType": "Usage", "Frequency": "UsageBased", "PublisherType": "Azure",
        "PublisherName": "Microsoft", "PayGPrice": "3.673", "PricingModel": "OnDemand",
        "benefitId": "", "benefitName": "",
    }  # fmt: skip
    row.update(over)
    return ",".join(csv_field(v) for v in row.values())


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if ("," in value or '"' in value) else value


def write(path: Path, *rows: str, header: str = MCA_HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\r\n".join([header, *rows]) + "\r\n", encoding="utf-8")
    return path


def test_mca_gpu_vm_marketplace_and_unused_reservation(tmp_path: Path, warehouse: Path) -> None:
    folder = tmp_path / "azure"
    unused = dict(ChargeType="UnusedReservation", PricingModel="Reservation", benefitId=RI,
                  benefitName="ri-a100", CostInBillingCurrency="10.5", MeterCategory="",
                  AdditionalInfo="", ResourceId=RI)  # fmt: skip
    market = dict(ChargeType="Purchase", Frequency="Recurring", PublisherType="Marketplace",
                  PublisherName="Labelbox, Inc.", MeterCategory="Unassigned",
                  ProductName="Labelbox - Enterprise", CostInBillingCurrency="2000",
                  AdditionalInfo="", ResourceId="", Quantity="1", PayGPrice="2000")  # fmt: skip
    write(folder / "actual" / "202409" / "part_0_0001.csv", mca_row(), mca_row(**market))
    write(folder / "amortized" / "202409" / "part_0_0001.csv", mca_row(), mca_row(**market),
          mca_row(**unused))  # fmt: skip
    assert ingest(warehouse, str(folder)) == 0
    rows = (
        connect(warehouse)
        .execute(
            "select ChargeCategory, BilledCost, EffectiveCost, x_GpuModel, x_GpuCount, "
            "x_InstanceType, x_Marketplace, CommitmentDiscountStatus, PublisherName, ResourceId "
            "from cost_lines order by EffectiveCost desc"
        )
        .fetchall()
    )
    assert rows == [
        ("Purchase", Decimal("2000"), Decimal("2000"), None, None, None, True, None,
         "Labelbox, Inc.", None),
        ("Usage", Decimal("88.152"), Decimal("88.152"), "A100 80GB", 1,
         "Standard_NC24ads_A100_v4", False, None, "Microsoft", VM.lower()),
        ("Usage", Decimal("0"), Decimal("10.5"), None, None, None, False, "Unused",
         "Microsoft", RI.lower()),
    ]  # fmt: skip


def test_unused_reservation_carries_the_vm_size_it_covered(tmp_path: Path, warehouse: Path) -> None:
    folder = tmp_path / "azure"
    benefit = dict(PricingModel="Reservation", benefitId=RI, benefitName="ri-a100")
    used = mca_row(**benefit, CostInBillingCurrency="0")
    used_amortized = mca_row(**benefit, CostInBillingCurrency="40")
    unused = mca_row(**benefit, ChargeType="UnusedReservation", CostInBillingCurrency="10.5",
                     MeterCategory="", AdditionalInfo="", ResourceId=RI)  # fmt: skip
    write(folder / "actual" / "202409" / "part_0_0001.csv", used)
    write(folder / "amortized" / "202409" / "part_0_0001.csv", used_amortized, unused)
    assert ingest(warehouse, str(folder)) == 0
    rows = (
        connect(warehouse)
        .execute(
            "select CommitmentDiscountStatus, EffectiveCost, x_InstanceType from cost_lines "
            "order by EffectiveCost desc"
        )
        .fetchall()
    )
    assert rows == [
        ("Used", Decimal("40"), "Standard_NC24ads_A100_v4"),
        ("Unused", Decimal("10.5"), "Standard_NC24ads_A100_v4"),
    ]


def test_same_export_twice_changes_nothing(reference: Path, warehouse: Path) -> None:
    assert ingest(warehouse, str(reference / EA)) == 0
    before = stored(warehouse)
    assert ingest(warehouse, str(reference / EA)) == 0
    assert stored(warehouse) == before


def test_us_dates_and_iso_dates_give_the_same_day(tmp_path: Path, warehouse: Path) -> None:
    write(tmp_path / "a.csv", mca_row(Date="09/03/2024", BillingPeriodStartDate="09/01/2024"),
          mca_row(Date="2024-09-03T00:00:00Z", MeterId="m2"))  # fmt: skip
    assert ingest(warehouse, str(tmp_path / "a.csv")) == 0
    days = (
        connect(warehouse)
        .execute(
            "select distinct strftime(ChargePeriodStart, '%Y-%m-%d %H:%M'), "
            "strftime(ChargePeriodEnd, '%Y-%m-%d') from cost_lines"
        )
        .fetchall()
    )
    assert days == [("2024-09-03 00:00", "2024-09-04")]


GERMAN = (reference_dir := Path(__file__).resolve().parents[1] / "fixtures" / "reference") / (
    VARIANTS + "/headersets_German.csv"
)


def german_with_unknown_column(tmp: Path) -> Path:
    text = GERMAN.read_text(encoding="utf-8").splitlines()
    text[0] = text[0] + ",Unbekannte Spalte (FooBar)"
    text[1] = text[1] + ",x"
    return write(tmp / "de.csv", text[1], header=text[0])


BAD_CASES = {
    "german header with an unknown column": (
        german_with_unknown_column, "Unbekannte Spalte (FooBar)", "header, column 25"),
    "cost is not a number": (
        lambda t: write(t / "a.csv", mca_row(), mca_row(CostInBillingCurrency="12,5x")),
        "bad Cost", "line 3, column CostInBillingCurrency"),
    # the staged rows keep a checked text only where a check fails: the message still
    # quotes what the file holds
    "cost text is quoted": (
        lambda t: write(t / "a.csv", mca_row(), mca_row(CostInBillingCurrency="12,5x")),
        "bad Cost", "'12,5x'"),
    "currency text is quoted": (
        lambda t: write(t / "a.csv", mca_row(), mca_row(BillingCurrency="US$")),
        "bad BillingCurrency", "expected a currency code such as USD, found 'US$'"),
    "date is not a date": (
        lambda t: write(t / "a.csv", mca_row(Date="31/13/2024")), "bad Date",
        "line 2, column Date"),
    "unknown charge type": (
        lambda t: write(t / "a.csv", mca_row(ChargeType="Bonus")), "bad ChargeType",
        "line 2, column ChargeType"),
    "unknown pricing model": (
        lambda t: write(t / "a.csv", mca_row(PricingModel="Lease")), "bad PricingModel",
        "line 2, column PricingModel"),
    "quantity is not a number": (
        lambda t: write(t / "a.csv", mca_row(Quantity="n/a")), "bad Quantity",
        "line 2, column Quantity"),
    "missing cost column": (
        lambda t: write(t / "a.csv", "x,2024-09-01", header="SubscriptionId,Date"),
        "missing Cost", "header"),
    "amortized without actual": (
        lambda t: write(t / "amortized" / "a.csv", mca_row()), "amortized cost without",
        "amortized only"),
    "two currencies in one month": (
        lambda t: write(t / "a.csv", mca_row(), mca_row(BillingCurrency="EUR", MeterId="m9")),
        "more than one currency", "EUR, USD"),
    "empty file": (lambda t: write(t / "a.csv", header=""), "the file is empty", "a header row"),
    "missing cost on a charge row": (
        lambda t: write(t / "a.csv", mca_row(CostInBillingCurrency="")), "bad Cost",
        "an empty value"),
    **BAD_RUNS,
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_is_one_clear_message_and_changes_nothing(
    case: str, reference: Path, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert ingest(warehouse, str(reference / VARIANTS / "headersets_PayAsYouGo.csv")) == 0
    before = stored(warehouse)
    make, message, where = BAD_CASES[case]
    target = make(tmp_path / "bad")
    capsys.readouterr()
    code = ingest(warehouse, str(tmp_path / "bad"))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("Bad input: ") and err.count("\n") == 1
    assert message in err and where in err
    assert str(tmp_path / "bad") in err or str(target) in err
    assert stored(warehouse) == before
    total = connect(warehouse).execute("select sum(BilledCost) from cost_lines").fetchone()[0]
    assert total == Decimal("0.075")


def test_demo_folder_layout_copies(reference: Path, tmp_path: Path, warehouse: Path) -> None:
    """actual/<YYYYMM>/ and amortized/<YYYYMM>/ as the sample generator writes them."""
    root = tmp_path / "azure"
    for kind, name in (("actual", "EA_ActualCost_Small.csv"),
                       ("amortized", "EA_AmortizedCost_Small.csv")):  # fmt: skip
        (root / kind / "202309").mkdir(parents=True)
        shutil.copy(reference / EA / name, root / kind / "202309" / "part_0_0001.csv")
    assert ingest(warehouse, str(root)) == 0
    got = (
        connect(warehouse)
        .execute("select sum(BilledCost), sum(EffectiveCost) from cost_lines")
        .fetchone()
    )
    assert got == (Decimal("8.545007786742"), Decimal("16.296932136637"))


def test_azure_focus_export_loads_through_the_focus_reader(
    reference: Path, tmp_path: Path, warehouse: Path
) -> None:
    import polars as pl

    sample = pl.read_csv(reference / "focus-1.0-sample" / "focus_sample.csv", infer_schema=False)
    ms = sample.filter(pl.col("ProviderName") == "Microsoft")
    ms.write_csv(tmp_path / "focuscost_1.0.csv")
    expected = ms["BilledCost"].str.to_decimal(scale=12).sum()
    assert ingest(warehouse, str(tmp_path / "focuscost_1.0.csv")) == 0
    got = (
        connect(warehouse)
        .execute("select any_value(x_Source), count(*), sum(BilledCost) from cost_lines")
        .fetchone()
    )
    assert got == ("focus", ms.height, expected)


@pytest.mark.parametrize(
    ("section", "text", "message"),
    [
        ("azure", 'conection_string_env = "X"', 'did you mean "connection_string_env"'),
        ("azure", "scope = 3", "[sources.azure] scope has the wrong type"),
        ("gcp", 'api_endpont = "http://x"', 'did you mean "api_endpoint"'),
    ],
)
def test_source_settings_are_parsed_strictly(
    section: str, text: str, message: str, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f"[sources.{section}]\n{text}\n", encoding="utf-8")
    code = main(["--warehouse", str(warehouse), "--config", str(cfg), "ingest", section, "x"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_unused_reservation_of_two_sizes_carries_none(tmp_path: Path, warehouse: Path) -> None:
    """A commitment that covered two VM sizes in the month cannot say which its unused hours
    were: the unused line has no instance type (and so no GPU-hours)."""
    folder = tmp_path / "azure"
    benefit = dict(PricingModel="Reservation", benefitId=RI, benefitName="ri-mixed")
    other = json.dumps({"ServiceType": "Standard_ND96isr_H100_v5", "VCPUs": 96})
    used = [
        mca_row(**benefit, CostInBillingCurrency="0"),
        mca_row(**benefit, CostInBillingCurrency="0", AdditionalInfo=other, MeterId="m2"),
    ]
    amortized = [mca_row(**benefit, CostInBillingCurrency="40"),
                 mca_row(**benefit, CostInBillingCurrency="30", AdditionalInfo=other, MeterId="m2"),
                 mca_row(**benefit, ChargeType="UnusedReservation", CostInBillingCurrency="10.5",
                         MeterCategory="", AdditionalInfo="", ResourceId=RI)]  # fmt: skip
    write(folder / "actual" / "202409" / "part_0_0001.csv", *used)
    write(folder / "amortized" / "202409" / "part_0_0001.csv", *amortized)
    assert ingest(warehouse, str(folder)) == 0
    rows = (
        connect(warehouse)
        .execute(
            "select CommitmentDiscountStatus, EffectiveCost, x_InstanceType from cost_lines "
            "order by EffectiveCost desc"
        )
        .fetchall()
    )
    assert rows == [
        ("Used", Decimal("40"), "Standard_NC24ads_A100_v4"),
        ("Used", Decimal("30"), "Standard_ND96isr_H100_v5"),
        ("Unused", Decimal("10.5"), None),
    ]


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
def test_loads_record_the_sha256_of_each_file(tmp_path: Path, gz: bool) -> None:
    """The digest taken while the CSV's records are checked is the file's own SHA-256."""
    import gzip
    import hashlib

    from ingest.sources import azure
    from ingest.sources.azure_export import discover

    path = write(tmp_path / "azure" / "cost.csv", mca_row(), mca_row(Date="2024-09-04"))
    if gz:
        packed = path.with_suffix(".csv.gz")
        packed.write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
        path = packed
    loads = azure.period_loads(discover(path), str(path), tmp_path)
    assert [(f.sha256, f.bytes) for f in loads[0].files] == [
        (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size)
    ]
    assert loads[0].source_total == Decimal("176.304")


def test_the_same_exports_give_the_same_line_ids_on_every_load(tmp_path: Path) -> None:
    """Actual and amortized files are matched line to line; the lines keep the actual file's
    order, so ids (numbered by position) name the same line in every warehouse built from
    the same files, as `finops explain` and saved links rely on."""
    shown = []
    for name in ("one", "two", "three"):
        warehouse = tmp_path / name
        exports = str(SAMPLE_DATA / "azure")
        assert main(["--warehouse", str(warehouse), "ingest", "azure", exports]) == 0
        rows = connect(warehouse).execute(
            "select x_LineId, ResourceId, ChargeCategory, BilledCost, EffectiveCost "
            "from cost_lines order by x_LineId"
        )
        shown.append(rows.fetchall())
    assert len(shown[0]) == 2_753
    assert shown[0] == shown[1] == shown[2]
