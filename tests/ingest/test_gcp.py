"""GCP billing export from files: the koku sample to the cent, credits, CUDs, GPUs, bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ingest.warehouse.connection import connect, versions
from tests.fixtures.gcp_export import ACCOUNT, GPU_VM, export_rows, ingest, write_ndjson

KOKU = "gcp-bq-export-koku/2022-08-01_5.csv"


def stored(warehouse: Path) -> tuple[int | None, int | None]:
    v = versions(warehouse)
    return v["cost_lines"], v["loads"]


def test_koku_csv_dump_ingests_to_the_cent(reference: Path, warehouse: Path) -> None:
    assert ingest(warehouse, str(reference / KOKU)) == 0
    con = connect(warehouse)
    got = con.execute(
        "select BillingAccountId, strftime(BillingPeriodStart, '%Y-%m'), count(*), "
        "sum(BilledCost), sum(EffectiveCost), min(ChargePeriodStart)::varchar from cost_lines "
        "group by 1, 2"
    ).fetchall()
    assert got == [("018984-D0AAA4-940B88", "2022-08", 9, Decimal("0.000012"),
                    Decimal("0.000012"), "2022-08-01 03:00:00+00")]  # fmt: skip
    (load,) = con.execute("select source, source_total, warehouse_total from loads").fetchall()
    assert load == ("gcp-bq", Decimal("0.000012"), Decimal("0.000012"))
    egress = con.execute(
        "select ServiceName, ServiceCategory, x_SkuMeterSubcategory, ProviderName "
        "from cost_lines where BilledCost > 0 order by BilledCost"
    ).fetchall()
    assert (
        egress
        == [
            (
                "Compute Engine",
                "Compute",
                "Network Internet Egress from Americas to China",
                "Google Cloud",
            )
        ]
        * 2
    )


@pytest.mark.parametrize("fmt", ["ndjson", "parquet"])
def test_credits_cud_and_gpu_lines(fmt: str, tmp_path: Path, warehouse: Path) -> None:
    path = write_ndjson(tmp_path / "gcp" / "202409.jsonl", export_rows())
    if fmt == "parquet":
        pl.read_ndjson(path).write_parquet(path.with_suffix(".parquet"))
        path.unlink()
    assert ingest(warehouse, str(tmp_path / "gcp")) == 0
    con = connect(warehouse)
    periods = con.execute(
        "select billing_period, source_total, warehouse_total from loads order by 1"
    ).fetchall()
    # September: 5.866 + 1.25 + 0.75 - 2.2 - 0.000005; October: the CUD fee of 9
    assert periods == [("2024-09", Decimal("5.665995"), Decimal("5.665995")),
                       ("2024-10", Decimal("9"), Decimal("9"))]  # fmt: skip
    lines = con.execute(
        "select ChargeCategory, ChargeFrequency, BilledCost, CommitmentDiscountCategory, "
        "CommitmentDiscountType, x_GpuModel, x_GpuCount, x_InstanceType, PricingQuantity "
        "from cost_lines where BillingPeriodStart = '2024-09-01' order by BilledCost desc"
    ).fetchall()
    assert lines == [
        ("Usage", "Usage-Based", Decimal("5.866"), None, None, "A100", 2, "a2-highgpu-2g",
         Decimal("1")),
        ("Purchase", "Recurring", Decimal("1.25"), "Usage", "Committed Use Discount", None,
         None, None, Decimal("1")),
        ("Tax", "One-Time", Decimal("0.75"), None, None, None, None, None, None),
        # the fee's commitment (CUD-1) credits no usage: all of it is unused
        ("Usage", "Usage-Based", Decimal("0"), "Usage", "Committed Use Discount", None, None,
         None, None),
        ("Credit", "One-Time", Decimal("-0.000005"), None, None, None, None, "a2-highgpu-2g",
         None),
        ("Credit", "One-Time", Decimal("-2.2"), "Usage", "Committed Use Discount", None, None,
         "a2-highgpu-2g", None),
    ]  # fmt: skip
    tags, period_start = con.execute(
        "select Tags, ChargePeriodStart::varchar from cost_lines "
        "where ChargeCategory = 'Usage' and BilledCost > 5"
    ).fetchone()
    assert json.loads(tags) == {"team": "research", "goog-k8s": 'a"b'}
    # invoice.month decides the period even though the usage hour ends in October
    assert period_start == "2024-09-30 23:00:00+00"


def test_csv_dump_with_python_repr_credits_and_labels(tmp_path: Path, warehouse: Path) -> None:
    header = ("billing_account_id,service.description,sku.description,usage_start_time,"
              "usage_end_time,labels,cost,currency,credits,invoice.month,cost_type")  # fmt: skip
    credits = "\"[{'name': 'FreeTrial:Credit-0123', 'amount': -5e-06, 'type': 'PROMOTION'}]\""
    labels = "\"[{'key': 'env', 'value': 'prod'}]\""
    row = (
        f"{ACCOUNT},Cloud Storage,Standard Storage US Multi-region,2022-08-01 03:00:00+00:00,"
        f"2022-08-01 04:00:00+00:00,{labels},0.000123,USD,{credits},202208,regular"
    )
    (tmp_path / "dump.csv").write_text(header + "\n" + row + "\n", encoding="utf-8")
    assert ingest(warehouse, str(tmp_path / "dump.csv")) == 0
    got = (
        connect(warehouse)
        .execute(
            "select ChargeCategory, BilledCost, ChargeDescription, Tags, ServiceCategory "
            "from cost_lines order by BilledCost"
        )
        .fetchall()
    )
    assert got == [
        ("Credit", Decimal("-0.000005"), "FreeTrial:Credit-0123", '{"env":"prod"}', "Storage"),
        ("Usage", Decimal("0.000123"), "Standard Storage US Multi-region", '{"env":"prod"}',
         "Storage"),
    ]  # fmt: skip


def test_same_export_twice_changes_nothing(reference: Path, warehouse: Path) -> None:
    assert ingest(warehouse, str(reference / KOKU)) == 0
    before = stored(warehouse)
    assert ingest(warehouse, str(reference / KOKU)) == 0
    assert stored(warehouse) == before


def koku_with(tmp: Path, column: str, value: str, line: int = 2) -> Path:
    src = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / KOKU
    lines = src.read_text(encoding="utf-8").splitlines()
    names = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[names.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path = tmp / "export.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ndjson_with(tmp: Path, **over) -> Path:
    rows = export_rows()
    rows[0].update(over)
    return write_ndjson(tmp / "export.jsonl", rows)


BAD_CASES = {
    "credits that are not valid JSON": (
        lambda t: koku_with(t, "credits", "[{name: oops"), "credits is not a list",
        "line 2, column credits"),
    "credit amount that is not a number": (
        lambda t: ndjson_with(t, credits=[{"name": "x", "amount": "lots", "type": "PROMOTION"}]),
        "bad credits.amount", "line 1, column credits.amount"),
    "cost that is not a number": (
        lambda t: koku_with(t, "cost", "1.2.3", line=4), "bad cost", "line 4, column cost"),
    "invoice month in the wrong form": (
        lambda t: koku_with(t, "invoice.month", "2022-08"), "bad invoice.month",
        "expected a month as YYYYMM"),
    "unknown cost type": (
        lambda t: koku_with(t, "cost_type", "bonus"), "bad cost_type", "regular, tax"),
    "usage start that is not a timestamp": (
        lambda t: koku_with(t, "usage_start_time", "yesterday"), "bad usage_start_time",
        "line 2"),
    "missing currency": (
        lambda t: koku_with(t, "currency", ""), "bad currency", "a currency code"),
    "not a billing export": (
        lambda t: (t.mkdir(parents=True), (t / "x.csv").write_text("a,b\n1,2\n"))[0],
        "not a BigQuery billing export", "missing billing_account_id"),
    "unknown file type": (
        lambda t: (t.mkdir(parents=True), (t / "x.avro").write_text("x"))[0],
        "unknown file type", ".avro"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_is_one_clear_message_and_changes_nothing(
    case: str, reference: Path, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert ingest(warehouse, str(reference / KOKU)) == 0
    before = stored(warehouse)
    make, message, where = BAD_CASES[case]
    make(tmp_path / "bad")
    target = tmp_path / "bad"
    if case == "unknown file type":
        target = target / "x.avro"
    capsys.readouterr()
    code = ingest(warehouse, str(target))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("Bad input: ") and err.count("\n") == 1
    assert message in err and where in err
    assert str(tmp_path / "bad") in err
    assert stored(warehouse) == before
    total = connect(warehouse).execute("select sum(BilledCost) from cost_lines").fetchone()[0]
    assert total == Decimal("0.000012")


CUD = "projects/p1/regions/us-central1/commitments/l4"
L4_VM = "//compute.googleapis.com/projects/p1/zones/us-central1-a/instances/l4-"


def cud_month() -> list[dict]:
    """One invoice month of a resource CUD on L4 VMs: GPU and core fees, a GPU and a core line
    the CUD credits in full, and an L4 line it does not cover."""
    base = export_rows()[0] | {"credits": [], "labels": []}
    machine = [{"key": "compute.googleapis.com/machine_spec", "value": "g2-standard-8"}]

    def row(sku: str, cost: float, hours: float, credit: float = 0, **kw: object) -> dict:
        credits = (
            [
                {
                    "name": "CUD",
                    "amount": credit,
                    "type": "COMMITTED_USAGE_DISCOUNT",
                    "id": CUD,
                    "full_name": "Committed use discount: G2",
                }
            ]
            if credit
            else []
        )
        usage = {
            "amount": hours * 3600,
            "unit": "seconds",
            "amount_in_pricing_units": hours,
            "pricing_unit": "hour",
        }
        return base | {"sku": {"id": sku[:8], "description": sku}, "cost": cost,
                       "credits": credits, "usage": usage, **kw}  # fmt: skip

    fee = {"resource": {"name": "l4", "global_name": CUD}, "system_labels": []}
    return [
        row("Commitment v1: Nvidia L4 GPU in Americas for 1 Year", 10.0, 20, **fee),
        row("Commitment v1: G2 Core in Americas for 1 Year", 4.0, 80, **fee),
        row("Nvidia L4 GPU running in Americas", 9.6, 12, -9.6, system_labels=machine,
            resource={"name": "l4-1", "global_name": L4_VM + "1"}),
        row("G2 Instance Core running in Americas", 1.2, 40, -1.2, system_labels=machine,
            resource={"name": "l4-1", "global_name": L4_VM + "1"}),
        row("Nvidia L4 GPU running in Americas", 1.6, 2, system_labels=machine,
            resource={"name": "l4-2", "global_name": L4_VM + "2"}),
    ]  # fmt: skip


def test_resource_cud_is_amortised_onto_its_usage_and_the_rest_is_unused(
    tmp_path: Path, warehouse: Path
) -> None:
    from models.commitments import summarise

    write_ndjson(tmp_path / "gcp" / "202409.jsonl", cud_month())
    assert ingest(warehouse, str(tmp_path / "gcp")) == 0
    con = connect(warehouse)
    lines = con.execute(
        "select ChargeCategory, ChargeFrequency, SkuMeter, CommitmentDiscountStatus, "
        "CommitmentDiscountId, BilledCost, EffectiveCost, x_InstanceType from cost_lines "
        "order by ChargeCategory, SkuMeter, ResourceId"
    ).fetchall()
    d = Decimal
    gpu, core = "Nvidia L4 GPU running in Americas", "G2 Instance Core running in Americas"
    gpu_fee = "Commitment v1: Nvidia L4 GPU in Americas for 1 Year"
    assert lines == [
        # the credits' amortised cost is in their usage lines' share of the fee
        ("Credit", "One-Time", core, None, CUD, d("-1.2"), d(0), "g2-standard-8"),
        ("Credit", "One-Time", gpu, None, CUD, d("-9.6"), d(0), "g2-standard-8"),
        ("Purchase", "Recurring", "Commitment v1: G2 Core in Americas for 1 Year", None, CUD,
         d(4), d(0), None),
        ("Purchase", "Recurring", gpu_fee, None, CUD, d(10), d(0), None),
        # fees 14, used 8
        ("Usage", "Usage-Based", gpu_fee, "Unused", CUD, d(0), d(6), "g2-standard-8"),
        # 40 core-hours covered at 4 / 80
        ("Usage", "Usage-Based", core, "Used", CUD, d("1.2"), d(2), "g2-standard-8"),
        # 12 GPU-hours covered at 10 / 20
        ("Usage", "Usage-Based", gpu, "Used", CUD, d("9.6"), d(6), "g2-standard-8"),
        ("Usage", "Usage-Based", gpu, None, None, d("1.6"), d("1.6"), "g2-standard-8"),
    ]  # fmt: skip
    ((billed, effective),) = con.execute(
        "select sum(BilledCost), sum(EffectiveCost) from cost_lines"
    ).fetchall()
    assert billed == effective == Decimal("15.6")
    (row,) = summarise(con.sql("select * from cost_lines").pl().lazy()).to_dicts()
    got = (row["commitment_id"], row["purchase"], row["used"], row["unused"], row["gpu"])
    assert got == (CUD, d(14), d(8), d(6), False)  # unclassified lines: gpu is not known
    assert row["utilisation"] == pytest.approx(8 / 14)


def test_spend_cud_fee_keeps_its_id_and_gets_no_unused_line(
    tmp_path: Path, warehouse: Path
) -> None:
    spend = export_rows()[1] | {
        "sku": {"id": "SPEND-1", "description": "Commitment - dollar based v1: GCE for 1 year"},
        "cost": 3.5,
    }
    write_ndjson(tmp_path / "gcp" / "202409.jsonl", [spend])
    assert ingest(warehouse, str(tmp_path / "gcp")) == 0
    lines = (
        connect(warehouse)
        .execute(
            "select ChargeCategory, CommitmentDiscountCategory, CommitmentDiscountId, "
            "CommitmentDiscountStatus, BilledCost, EffectiveCost from cost_lines"
        )
        .fetchall()
    )
    assert lines == [("Purchase", "Spend", "SPEND-1", None, Decimal("3.5"), Decimal("3.5"))]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_month_read_in_chunks_gives_the_lines_read_whole(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store reads a month a few rows at a time: the CUD shares, credit lines and the
    Unused line must not depend on where the chunks fall."""
    from ingest.sources import gcp
    from ingest.sources.gcp_export import discover
    from models.schema import COST_LINES, conform

    folder = tmp_path / "gcp"
    write_ndjson(folder / "202409.jsonl", cud_month())
    if fmt == "parquet":
        source = folder / "202409.jsonl"
        pl.read_ndjson(source).write_parquet(folder / "202409.parquet")
        source.unlink()
    monkeypatch.setattr(gcp, "CHUNK_ROWS", 2)
    (load,) = gcp.period_loads(discover(folder), str(folder), tmp_path)
    pieces = list(load.chunks())
    assert len(pieces) > 3  # usage and credits of several chunks, then the Unused line

    def rows(frame: pl.LazyFrame) -> list[str]:
        return sorted(map(repr, conform(frame, COST_LINES).collect().rows()))

    whole = rows(load.lines)
    assert rows(pl.concat(pieces, how="vertical_relaxed").lazy()) == whole
    assert len(whole) == 8
    unused = pl.concat(pieces, how="vertical_relaxed").filter(
        pl.col("CommitmentDiscountStatus") == "Unused"
    )
    assert unused["EffectiveCost"].to_list() == [Decimal(6)]
    assert sum(p["BilledCost"].sum() for p in pieces) == load.source_total == Decimal("15.6")


def test_sku_machine_and_service_rules_per_distinct_value_match_them_row_by_row() -> None:
    """The rules run once per distinct SKU, machine type and service and are gathered back:
    every row, blanks and absent values included, gets what the rule gives it directly."""
    from ingest.sources.gcp_rules import machine_rules, service_rules, sku_rules
    from ingest.sources.values import per_value

    skus = [
        "Commitment v1: Nvidia A100 GPU in Americas for 1 Year", None,
        "Commitment - dollar based v1: Compute Engine",
        "Spot Preemptible Nvidia L4 GPU running in Americas",
        "Nvidia Tesla A100 GPU running in Americas", "", "Commitment v1: Cpu in Americas", None,
    ]  # fmt: skip
    machines = ["a2-highgpu-2g", None, "g2-standard-48", "n2-standard-8", "a2-highgpu-2g"]
    services = ["Compute Engine", "BigQuery", None, "Something New", ""]
    cases = {
        "sku.description": (sku_rules(), skus),
        "_machine": (machine_rules(), machines),
        "service.description": (service_rules(), services),
    }
    for key, (rules, values) in cases.items():
        rows = pl.DataFrame({key: pl.Series(values, dtype=pl.String)})
        gathered = rows.lazy().select(per_value(key, rules, "_x")).unnest("_x").collect()
        assert gathered.to_dicts() == rows.select(rules).to_dicts(), key
        assert gathered.height == len(values)
    empty = pl.DataFrame({"_machine": pl.Series([], dtype=pl.String)})
    assert empty.lazy().select(per_value("_machine", machine_rules(), "_x")).collect().height == 0


def test_credit_sums_count_every_credit_and_an_empty_list_as_zero() -> None:
    from ingest.sources.gcp_checks import credit_sum

    amounts = pl.Series(
        [[Decimal("-1.5"), Decimal("-0.25")], [], None, [Decimal("2"), None]],
        dtype=pl.List(pl.Decimal(38, 12)),
    )
    sums = pl.DataFrame({"a": amounts}).select(credit_sum(pl.col("a")))["a"].to_list()
    assert sums == [Decimal("-1.75"), Decimal(0), None, Decimal(2)]


def test_an_amount_broken_late_in_a_month_is_refused_as_a_check_before_any_chunk(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The amounts are checked by the conversion as its chunks pass: a cost that is not a
    number in the last chunk of a month, after others were converted, is refused with the
    message a whole-export check gives (its count and first row), and nothing is stored."""
    from ingest.sources import gcp

    assert ingest(warehouse, str(write_ndjson(tmp_path / "good" / "x.jsonl", export_rows()))) == 0
    before = stored(warehouse)
    rows = [r for r in export_rows() if r["invoice"]["month"] == "202409"] * 3
    rows = [*rows, {**rows[0], "cost": "1.2.3"}, {**rows[1], "cost": "lots"}]
    monkeypatch.setattr(gcp, "CHUNK_ROWS", 2)
    capsys.readouterr()
    assert ingest(warehouse, str(write_ndjson(tmp_path / "bad" / "x.jsonl", rows))) == 2
    err = capsys.readouterr().err
    assert err.startswith("Bad input: ") and err.count("\n") == 1, err
    assert "line 10, column cost: 2 row(s) with a bad cost" in err and "'1.2.3'" in err
    assert stored(warehouse) == before


def test_a_broken_amount_in_a_month_not_asked_for_is_still_refused(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --month only that month is converted; the export's other months' amounts are
    checked all the same, as before any month is read."""
    rows = export_rows()
    rows[-1] = {**rows[-1], "cost": "n/a"}  # the October fee
    path = write_ndjson(tmp_path / "gcp" / "x.jsonl", rows)
    assert ingest(warehouse, str(path), "--month", "2024-09") == 2
    err = capsys.readouterr().err
    assert err.startswith("Bad input: ") and err.count("\n") == 1, err
    assert "line 4, column cost: 1 row(s) with a bad cost" in err
    assert stored(warehouse) == (None, None)


@pytest.mark.parametrize("whole", ["every group", "the last group"])
def test_a_parquet_export_is_decoded_without_the_fields_nothing_reads(
    whole: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usage in its own unit (`usage.amount`, `usage.unit`) and `location.location` are
    not decoded, and the fields read are what the whole file gives, in its order and with
    its line numbers: its row groups of 2, 2 and 1 rows decoded whole, or a batch at a time
    when they hold more values than WHOLE_GROUP_VALUES (all but the last, of one row)."""
    import pyarrow.parquet as pq

    from ingest.sources import gcp_export
    from ingest.sources.gcp_export import (
        _parquet_columns,
        discover,
        flat,
        group_values,
        parquet_batches,
    )

    rows = [r | {"location": {"location": "us", "region": "us-central1", "zone": None}}
            for r in cud_month()]  # fmt: skip
    source = write_ndjson(tmp_path / "202409.jsonl", rows)
    path = tmp_path / "202409.parquet"
    pl.read_ndjson(source).write_parquet(path, row_group_size=2)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    columns = _parquet_columns(pq.ParquetFile(path).schema_arrow)
    assert columns is not None
    assert {"usage.amount", "usage.unit", "location.location"}.isdisjoint(columns)
    assert {"usage.amount_in_pricing_units", "location.region", "credits", "cost"} <= set(columns)
    sizes = [group_values(meta.row_group(g), columns) for g in range(3)]
    assert sizes[2] < min(sizes[:2])  # the one-row group holds the fewest values
    (export,) = discover(path)
    if whole == "the last group":
        monkeypatch.setattr(gcp_export, "WHOLE_GROUP_VALUES", sizes[2])
    batched: list[list[int]] = []  # the groups pyarrow decoded a batch at a time
    iter_batches = pq.ParquetFile.iter_batches

    def noted(self: pq.ParquetFile, *args: Any, **kwargs: Any) -> Any:
        batched.append(list(kwargs["row_groups"]))
        return iter_batches(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", noted)
    pieces = [b.collect() for b in parquet_batches(export, 0, 1)]
    assert batched == ([] if whole == "every group" else [[0], [1]])
    assert [p.height for p in pieces] == [1] * 5
    batches = pl.concat(pieces)
    assert batches.equals(flat(export, 0).collect())
    assert batches["_line"].to_list() == [1, 2, 3, 4, 5]
    assert "usage.amount" not in batches.columns
    assert batches["usage.amount_in_pricing_units"].to_list() == ["20", "80", "12", "40", "2"]
    assert batches["location.region"].to_list() == ["us-central1"] * 5


def test_a_parquet_export_missing_a_required_field_names_the_files_own_columns(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    from ingest.sources.gcp_export import _parquet_columns

    source = write_ndjson(tmp_path / "202409.jsonl", cud_month())
    path = tmp_path / "202409.parquet"
    pl.read_ndjson(source).drop("currency").write_parquet(path)
    assert ingest(warehouse, str(path)) == 2
    err = capsys.readouterr().err
    assert "not a BigQuery billing export: missing currency" in err
    assert "found billing_account_id, service, usage_start_time" in err
    assert stored(warehouse) == (None, None)
    assert _parquet_columns(pq.ParquetFile(path).schema_arrow) is None  # every column read


def _vm_hours(month: int) -> list[dict]:
    """Two A2 VMs of 2 GPUs, each hour billed as GCP bills it: one line per SKU (the GPUs,
    the cores, the memory), the memory line labelled with another team."""
    gpu = export_rows()[0]
    rows = []
    for vm, team in ((GPU_VM, "research"), (GPU_VM[:-1] + "2", "vision")):
        for hour in range(2):
            start = f"2024-{month:02d}-10T{hour:02d}:00:00Z"
            end = f"2024-{month:02d}-10T{hour + 1:02d}:00:00Z"
            for sku, cost, owner in (
                ("Nvidia Tesla A100 GPU running in Americas", 5.866, team),
                ("A2 Instance Core running in Americas", 1.1, team),
                ("A2 Instance Ram running in Americas", 0.4, "ads"),
            ):
                rows.append({
                    **gpu, "sku": {"id": sku[:12], "description": sku}, "cost": cost,
                    "credits": [], "usage_start_time": start, "usage_end_time": end,
                    "invoice": {"month": f"2024{month:02d}"},
                    "labels": [{"key": "team", "value": owner}],
                    "resource": {"name": vm.rsplit("/", 1)[1], "global_name": vm},
                })  # fmt: skip
    return rows


def _gpu_hours(warehouse: Path) -> list[tuple]:
    return (
        connect(warehouse)
        .execute(
            "select strftime(hour, '%Y-%m-%d %H'), resource_id, gpu_index, team, cost, gpu_model "
            "from gpu_hours order by all"
        )
        .fetchall()
    )


def test_a_vm_hour_billed_in_several_sku_lines_is_one_billed_gpu_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GCP's lines are grouped per VM-hour as they are staged (the first month: the whole
    build; the second: a month's refresh); the GPU-hours are those of staging them line by
    line: the VM-hour's cost over its GPUs, the costliest line's team."""
    built = {}
    for grouped in (True, False):
        if not grouped:
            monkeypatch.setattr("ingest.derive.billed_hours.GROUPED_SOURCES", ())
        warehouse = tmp_path / f"warehouse-{grouped}"
        for month in (9, 10):
            path = write_ndjson(tmp_path / f"gcp-{month}" / f"2024{month:02d}.jsonl",
                                _vm_hours(month))  # fmt: skip
            assert ingest(warehouse, str(path)) == 0
        built[grouped] = _gpu_hours(warehouse)
    assert built[True] == built[False]
    hours = built[True]
    assert len(hours) == 2 * 2 * 2 * 2  # months x VMs x hours x GPUs
    assert {h[4] for h in hours} == {Decimal("3.683")}  # (5.866 + 1.1 + 0.4) / 2 GPUs
    assert {(h[1][-1], h[3]) for h in hours} == {("1", "research"), ("2", "vision")}
    assert sum(h[4] for h in hours) == Decimal("58.928")


def test_the_gpu_lines_digest_is_the_same_whether_a_line_is_hashed_once_or_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line finds its key group by the first hash alone when that tells the groups apart
    (practically always), else by both: what a GPU month is recorded as built from is the
    same either way, so no GPU month is rebuilt for it."""
    from ingest.derive import lineage
    from ingest.warehouse.location import open_delta

    path = write_ndjson(tmp_path / "gcp" / "202409.jsonl", _vm_hours(9))
    recorded = []
    for once in (True, False):
        if not once:
            monkeypatch.setattr("ingest.derive.line_classes.by_first_hash", lambda groups: False)
        warehouse = tmp_path / f"warehouse-{once}"
        assert ingest(warehouse, str(path)) == 0
        found = lineage.recorded(open_delta(warehouse / "line_classes"), lineage.GPU_LINES)
        recorded.append(found)
    assert recorded[0] and recorded[0] == recorded[1]
    (months,) = recorded[0].values()
    assert list(months) == ["2024-09"] and months["2024-09"].startswith("12:")  # 12 GPU lines
