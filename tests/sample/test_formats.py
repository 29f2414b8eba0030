"""Each generated file looks like the real export: names, types, nesting, envelopes."""

from __future__ import annotations

import csv
import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.sample.azure import HEADER as AZURE_HEADER
from tests.sample.file_sums import aws_month_files, azure_rows, azure_runs


def _snake(legacy: str) -> str:
    """Legacy CUR `lineItem/UsageType` -> CUR 2.0 `line_item_usage_type` (ARN -> a_r_n)."""
    snake = re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), legacy.replace("/", "_"))
    return re.sub("_+", "_", snake)


# legacy CUR columns (seen in the koku sample) whose CUR 2.0 names the ingestors rely on
LEGACY = [
    "bill/BillType",
    "bill/BillingEntity",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "bill/PayerAccountId",
    "identity/LineItemId",
    "identity/TimeInterval",
    "lineItem/LineItemType",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/ProductCode",
    "lineItem/ResourceId",
    "lineItem/UsageAccountId",
    "lineItem/UsageAmount",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/UnblendedCost",
    "lineItem/UnblendedRate",
    "lineItem/CurrencyCode",
    "lineItem/LineItemDescription",
    "lineItem/LegalEntity",
    "pricing/publicOnDemandCost",
    "pricing/term",
    "pricing/unit",
    "savingsPlan/SavingsPlanArn",
    "savingsPlan/SavingsPlanEffectiveCost",
    "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/UsedCommitment",
    "reservation/ReservationARN",
    "reservation/EffectiveCost",
    "reservation/UnusedRecurringFee",
    "reservation/UnusedQuantity",
]


def test_cur2_columns_and_arrow_types(sample, reference: Path) -> None:
    root, _ = sample
    months = aws_month_files(root)
    assert sorted(months) == sample[1]["meta"]["months"]
    files = [f for _, fs in sorted(months.items()) for f in fs]
    assert len(files) == len(months)
    schema = pq.read_schema(files[0])
    koku = (reference / "aws-cur-legacy-koku" / "2023-06-01.csv").read_text().splitlines()[0]
    for legacy in LEGACY:
        assert legacy in koku.split(","), legacy
        # same name modulo the CUR 2.0 underscore rules (ARN/Arn -> a_r_n)
        squashed = {n.replace("_", ""): n for n in schema.names}
        assert _snake(legacy).replace("_", "") in squashed, _snake(legacy)
    assert "savings_plan_savings_plan_a_r_n" in schema.names
    types = {n: schema.field(n).type for n in schema.names}
    for money in (
        "line_item_unblended_cost",
        "line_item_net_unblended_cost",
        "line_item_usage_amount",
        "pricing_public_on_demand_cost",
        "savings_plan_savings_plan_effective_cost",
        "reservation_effective_cost",
    ):
        assert types[money] == pa.float64(), money
    for ts in (
        "line_item_usage_start_date",
        "line_item_usage_end_date",
        "bill_billing_period_start_date",
        "bill_billing_period_end_date",
    ):
        assert pa.types.is_timestamp(types[ts]), ts
    for m in ("product", "resource_tags", "cost_category"):
        assert types[m] == pa.map_(pa.string(), pa.string()), m
    assert types["line_item_unblended_rate"] == pa.string()  # rates are text in CUR
    for f in files[1:]:
        assert pq.read_schema(f).equals(schema)


def test_cur2_content_has_the_ai_patterns(sample) -> None:
    root, _ = sample
    t = pq.read_table(
        [f for fs in aws_month_files(root).values() for f in fs],
        columns=[
            "line_item_line_item_type",
            "line_item_usage_type",
            "bill_billing_entity",
            "resource_tags",
            "product",
            "line_item_product_code",
        ],
    )
    types = set(t.column("line_item_line_item_type").to_pylist())
    assert {
        "Usage",
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
        "DiscountedUsage",
        "RIFee",
        "Tax",
        "Credit",
    } <= types
    usage = set(t.column("line_item_usage_type").to_pylist())
    for family in ("p5", "p4d", "g5", "g6", "inf2", "trn1"):
        assert any(re.search(rf"BoxUsage:{family}\.", u) for u in usage), family
    for op in ("Train:ml.", "Host:ml.", "Notebk:ml."):
        assert any(op in u for u in usage), op
    for pattern in (
        r"^DataTransfer-Out-Bytes$",
        r"-AWS-Out-Bytes$",
        r"^DataTransfer-Regional-Bytes$",
        r"^NatGateway-",
        r"^US-DataTransfer-Out",
        r"input-tokens$",
        r"InputTokenCount",
    ):
        assert any(re.search(pattern, u) for u in usage), pattern
    assert "AWS Marketplace" in set(t.column("bill_billing_entity").to_pylist())
    tags = t.column("resource_tags").to_pylist()
    assert ("user_team", "research") in {kv for row in tags if row for kv in row}
    utypes = t.column("line_item_usage_type").to_pylist()
    gpu = [
        dict(p)
        for p, u in zip(t.column("product").to_pylist(), utypes, strict=True)
        if u.endswith("p5.48xlarge")
    ]
    assert gpu and gpu[0]["gpu"] == "8"


def test_azure_headers_match_the_cost_details_export(sample, reference: Path) -> None:
    root, _ = sample
    ea = reference / "azure-ea-finops-toolkit" / "EA_ActualCost_Small.csv"
    ea_header = ea.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    renamed = {
        "Cost": "CostInBillingCurrency",
        "Product": "ProductName",
        "InvoiceSection": "InvoiceSectionName",
    }
    assert AZURE_HEADER[: len(ea_header)] == [renamed.get(c, c) for c in ea_header]
    camel = reference / "azure-header-variants" / "headersets_EnterpriseCamel.csv"
    camel_header = camel.read_text().splitlines()[0].split(",")
    partner_only = {
        "partnerName",
        "resellerName",
        "resellerMpnId",
        "customerTenantId",
        "customerName",
        "publisherId",
        "resourceGroupName",
        "location",
    }
    ours = {c.lower() for c in AZURE_HEADER}
    missing = [c for c in camel_header if c not in partner_only and c.lower() not in ours]
    assert missing == []
    for kind in ("actual", "amortized"):
        runs = azure_runs(root, kind)
        assert runs[-1][0] == "20261001-20261031"
        (last,) = runs[-1][2]
        raw = last.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # exports carry a UTF-8 BOM
        rows = azure_rows(last)
        assert list(rows[0]) == AZURE_HEADER
        (first,) = runs[0][2]
        assert first.suffix == ".parquet" and list(azure_rows(first)[0]) == AZURE_HEADER
        sizes = {
            json.loads(r["AdditionalInfo"]).get("ServiceType") for r in rows if r["AdditionalInfo"]
        }
        assert {
            "Standard_ND96isr_H100_v5",
            "Standard_NC24ads_A100_v4",
            "Standard_NV36ads_A10_v5",
        } <= sizes
        assert all(json.loads(r["Tags"])["team"] for r in rows)
        assert {r["MeterCategory"] for r in rows} >= {
            "Virtual Machines",
            "Azure OpenAI",
            "Bandwidth",
        }
        purchases = {r["PricingModel"] for r in rows if r["ChargeType"] == "Purchase"}
        assert ("Reservation" in purchases) == (kind == "actual")
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", rows[0]["Date"])
    amortized = azure_runs(root, "amortized")[-1][2][0].read_text(encoding="utf-8-sig")
    assert "UnusedReservation" in amortized


def test_azure_exports_are_runs_with_manifests_one_month_twice(sample) -> None:
    """Overwrite off: every run stays; one month has an earlier run that lacks its last day."""
    root, truth = sample
    for export, kind in (("acme-actual", "actual"), ("acme-amortized", "amortized")):
        manifests = sorted((root / "azure" / export).glob("*/*/manifest.json"))
        docs = [json.loads(m.read_text(encoding="utf-8")) for m in manifests]
        assert {d["deliveryConfig"]["dataOverwriteBehavior"] for d in docs} == {"CreateNewReport"}
        assert all(
            m.parent.name == d["runInfo"]["runId"] for m, d in zip(manifests, docs, strict=True)
        )
        by_dates: dict[str, list[dict]] = {}
        for m, d in zip(manifests, docs, strict=True):
            by_dates.setdefault(m.parent.parent.name, []).append(d)
        assert len(by_dates) == len(truth["meta"]["months"])
        twice = {k: v for k, v in by_dates.items() if len(v) > 1}
        assert list(twice) == ["20260901-20260930"]
        runs = sorted(twice["20260901-20260930"], key=lambda d: d["runInfo"]["submittedTime"])
        older, newest = (
            sum(
                (Decimal(r["CostInBillingCurrency"]) for r in azure_rows(
                    root / "azure" / b["blobName"].split("/", 1)[1])),
                Decimal(0),
            )
            for d in runs
            for b in d["blobs"]
        )  # fmt: skip
        assert older < newest
        (chosen,) = [f for dates, _, f in azure_runs(root, kind) if dates == "20260901-20260930"]
        assert chosen[0].parent.name == runs[-1]["runInfo"]["runId"]


def _paths(t: pa.DataType, prefix: str = "") -> set[str]:
    out = set()
    if pa.types.is_struct(t):
        for f in t:
            out |= {prefix + f.name} | _paths(f.type, prefix + f.name + ".")
    elif pa.types.is_list(t):
        out |= _paths(t.value_type, prefix)
    return out


def test_gcp_nested_fields_match_the_bigquery_export(sample, reference: Path) -> None:
    root, _ = sample
    schema = pq.read_schema(root / "gcp" / "parquet" / "202610.parquet")
    paths = set()
    for f in schema:
        paths |= {f.name} | _paths(f.type, f.name + ".")
    koku = (reference / "gcp-bq-export-koku" / "2022-08-01_5.csv").read_text().splitlines()[0]
    for col in koku.split(","):
        if col != "partition_date":
            assert col in paths, col
    kv = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
    assert schema.field("labels").type == kv and schema.field("system_labels").type == kv
    credit = schema.field("credits").type
    assert pa.types.is_list(credit)
    assert [f.name for f in credit.value_type] == ["name", "amount", "full_name", "id", "type"]
    assert schema.field("cost").type == pa.float64()
    table = pq.read_table(root / "gcp" / "parquet" / "202610.parquet")
    lines = (root / "gcp" / "ndjson" / "202610.jsonl").read_text().splitlines()
    assert len(lines) == table.num_rows
    first = json.loads(lines[0])
    assert first["invoice"]["month"] == "202610"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", first["usage_start_time"])
    skus = {r["description"] for r in table.column("sku").to_pylist()}
    for pat in (r"Nvidia L4 GPU", r"G2 Instance Core", r"Network Internet Egress"):
        assert any(re.search(pat, s) for s in skus), pat
    credits = [c for row in table.column("credits").to_pylist() for c in row]
    assert {c["type"] for c in credits} == {"COMMITTED_USAGE_DISCOUNT"}
    all_skus = set()
    for f in (root / "gcp" / "parquet").glob("*.parquet"):
        all_skus |= {
            r["description"] for r in pq.read_table(f, columns=["sku"]).column("sku").to_pylist()
        }
    for pat in (
        "A100 GPU",
        "H100 80GB GPU",
        "L4 GPU",
        "A2 Instance Core",
        "A3 Instance Core",
        "Custom Training",
        "Online Prediction",
    ):
        assert any(pat in s for s in all_skus), pat


def test_onprem_inventory_columns(sample) -> None:
    root, _ = sample
    with open(root / "onprem" / "inventory.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "asset_id",
        "site",
        "hostnames",
        "gpu_model",
        "gpus",
        "purchase_date",
        "server_capex",
        "network_capex",
        "life_years",
        "residual_fraction",
        "power_idle_kw",
        "power_load_kw",
        "provisioned_kw",
        "pue",
        "usd_per_kwh",
        "colo_usd_per_kw_month",
        "ops_usd_per_year",
        "team",
        "currency",
        "retired_date",
        "wacc",
        "tags",
    ]
    assert {r["gpu_model"] for r in rows} == {"NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"}
    assert all(r["gpus"] == "8" for r in rows)
    # the workload each server was bought for, as the clouds tag theirs
    assert [(r["asset_id"][-7:], r["team"], r["tags"]) for r in rows] == [
        ("H100-01", "research", "workload=training"),
        ("H100-02", "research", "workload=training"),
        ("A100-01", "vision", "workload=inference"),
        ("A100-02", "vision", "workload=inference"),
        ("A100-03", "speech", "workload=training"),
        ("A100-04", "vision", "workload=inference"),
    ]


def test_telemetry_envelopes_and_logs(sample) -> None:
    root, _ = sample
    body = json.loads(
        gzip.decompress((root / "telemetry" / "prometheus" / "2026-10.json.gz").read_bytes())
    )
    assert body["status"] == "success" and body["data"]["resultType"] == "matrix"
    names = {s["metric"]["__name__"] for s in body["data"]["result"]}
    assert names == {
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_POWER_USAGE",
    }
    s = body["data"]["result"][0]
    assert {"Hostname", "UUID", "gpu", "modelName"} <= set(s["metric"])
    ts, v = s["values"][0]
    assert isinstance(ts, int) and isinstance(v, str)
    smi = sorted((root / "telemetry" / "nvidia-smi").glob("*.csv.gz"))
    assert smi
    text = gzip.decompress(smi[0].read_bytes()).decode().splitlines()
    assert text[0] == (
        "timestamp, name, pci.bus_id, uuid, index, utilization.gpu [%], "
        "memory.used [MiB], power.draw [W]"
    )
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}, .+ %, \d+ MiB, [\d.]+ W", text[1])
    with open(root / "telemetry" / "host_map.csv", encoding="utf-8", newline="") as fh:
        hosts = list(csv.DictReader(fh))
    assert list(hosts[0])[:2] == ["host", "resource_id"]
    assert any(h["resource_id"].startswith("i-0") for h in hosts)
    assert any("/Microsoft.Compute/virtualMachines/" in h["resource_id"] for h in hosts)
    assert any(re.match(r"projects/.+/zones/.+/instances/", h["resource_id"]) for h in hosts)


@pytest.mark.parametrize(
    "column",
    [
        "vendor",
        "product",
        "team",
        "month",
        "amount",
        "currency",
        "seats",
        "active_seats",
        "invoice_id",
    ],
)
def test_saas_invoice_columns(sample, column: str) -> None:
    root, _ = sample
    header = (root / "saas" / "invoices.csv").read_text().splitlines()[0].split(",")
    assert column in header
