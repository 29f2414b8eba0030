"""A small enterprise built in code for the finance-pack tests (two months, five sources).

No tests here: the other test_report modules import `build` and `classified`.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingest.load_contract import PeriodLoad, SourceFile
from ingest.store import Store
from ingest.warehouse import connect

INJECTIONS = ('=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)")
PROVIDERS = {
    "aws-cur2": ("AWS", "Amazon Web Services, Inc."),
    "azure-cost-details": ("Microsoft", "Microsoft"),
    "onprem": ("On-premises", "Own data centre"),
    "saas": ("SaaS", "Various"),
}


def _period(month: str) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(month + "-01T00:00:00+00:00")
    end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def load(source: str, account: str, month: str, rows: list[dict], currency: str = "USD",
         sha: str = "a", source_total: Decimal | None = None) -> PeriodLoad:  # fmt: skip
    """A PeriodLoad of hand-written rows; each row needs at least 'cost' and 'day'."""
    start, end = _period(month)
    provider, publisher = PROVIDERS[source]
    records = []
    for r in rows:
        day = start + timedelta(days=r.get("day", 1) - 1)
        cost = Decimal(r["cost"])
        eff = Decimal(r.get("effective", r["cost"]))
        category = r.get("category", "Usage")
        records.append({
            "BilledCost": cost, "EffectiveCost": eff, "ListCost": cost, "ContractedCost": cost,
            "BillingAccountId": account, "BillingCurrency": currency,
            "BillingPeriodStart": start, "BillingPeriodEnd": end,
            "ChargePeriodStart": day if category == "Usage" else start,
            "ChargePeriodEnd": day + timedelta(days=1) if category == "Usage" else end,
            "ChargeCategory": category,
            "ChargeFrequency": "Recurring" if category == "Purchase" else "Usage-Based",
            "InvoiceIssuerName": publisher, "ProviderName": provider, "PublisherName": publisher,
            "ServiceCategory": r.get("category_service", "Compute"),
            "ServiceName": r.get("service", "Virtual Machines"),
            "ServiceSubcategory": r.get("subcategory", "Virtual Machines"),
            "ResourceId": r.get("resource"), "ResourceName": r.get("resource_name"),
            "SubAccountName": r.get("site"),
            "Tags": json.dumps(r["tags"]) if "tags" in r else None,
            "CommitmentDiscountId": r.get("commitment"),
            "CommitmentDiscountStatus": r.get("commitment_status"),
            "CommitmentDiscountCategory": "Usage" if r.get("commitment") else None,
            "x_CostModel": json.dumps(r["parts"]) if "parts" in r else None,
            "x_Seats": r.get("seats"), "x_ActiveSeats": r.get("active_seats"),
        })  # fmt: skip
    frame = pl.DataFrame(
        records,
        schema_overrides={
            "BilledCost": pl.Decimal(38, 12), "EffectiveCost": pl.Decimal(38, 12),
            "ListCost": pl.Decimal(38, 12), "ContractedCost": pl.Decimal(38, 12),
            "ResourceId": pl.String, "ResourceName": pl.String, "SubAccountName": pl.String,
            "Tags": pl.String, "CommitmentDiscountId": pl.String,
            "CommitmentDiscountStatus": pl.String, "CommitmentDiscountCategory": pl.String,
            "x_CostModel": pl.String, "x_Seats": pl.Int64, "x_ActiveSeats": pl.Int64,
        },
    )  # fmt: skip
    total = sum((Decimal(r["cost"]) for r in rows), Decimal(0))
    return PeriodLoad(
        source=source, billing_account=account, billing_period=month, currency=currency,
        files=[SourceFile(f"{source}-{account}-{month}.csv", sha * 64, 1)],
        lines=frame.lazy(), source_total=total if source_total is None else source_total,
    )  # fmt: skip


def aws_rows(month: str) -> list[dict]:
    rows = []
    for day in range(1, 31):
        if month == "2026-09" and day in (10, 11):
            continue  # a gap the notes must report
        rows.append(
            {
                "cost": "10.004",
                "day": day,
                "resource": "i-gpu-1",
                "tags": {"team": "ml-research", "cost_centre": "CC-100", "class": "gpu_compute"},
            }
        )
        rows.append(
            {
                "cost": "2.5",
                "day": day,
                "resource": "i-web-1",
                "tags": {"team": "platform", "cost_centre": "CC-200", "class": "cpu_compute"},
            }
        )
    rows += [
        {"cost": "40.00", "day": 3, "tags": {"team": "shared", "class": "storage"}},
        {"cost": "7.123456789", "day": 4, "resource": "nat-1", "service": "Data Transfer",
         "category_service": "Networking", "subcategory": "Network Infrastructure",
         "tags": {"class": "egress", "egress": "internet"}},
        {"cost": "100.00", "effective": "0", "category": "Purchase", "commitment": "ri-1"},
        {"cost": "0", "effective": "70.00", "day": 5, "commitment": "ri-1",
         "commitment_status": "Used", "tags": {"team": "ml-research", "class": "gpu_compute"}},
        {"cost": "0", "effective": "30.00", "day": 5, "commitment": "ri-1",
         "commitment_status": "Unused"},
    ]  # fmt: skip
    if month == "2026-09":
        rows += [
            {"cost": "1.11", "day": 6, "resource": name, "resource_name": name,
             "tags": {"team": name, "class": "other"}}
            for name in INJECTIONS
        ]  # fmt: skip
    return rows


def build(root: Path) -> Path:
    """Two months (2026-08, 2026-09) of AWS, Azure, on-prem, SaaS and a EUR account."""
    batches = []
    for month in ("2026-08", "2026-09"):
        sha = "a" if month == "2026-08" else "b"
        batches.append(load("aws-cur2", "111122223333", month, aws_rows(month), sha=sha))
        azure_cost = "300.10" if month == "2026-08" else "250.05"
        batches.append(load("azure-cost-details", "ea-1", month, [
            {"cost": azure_cost, "day": d, "tags": {"team": "ml-research", "class": "gpu_compute"}}
            for d in range(1, 31)
        ], sha=sha))  # fmt: skip
        parts = {"depreciation": "800.000000000001", "colo": "120", "power": "65.5", "ops": "40"}
        batches.append(load("onprem", "dc-1", month, [
            {"cost": "1025.500000000001", "day": 1, "site": "fra1", "parts": parts,
             "tags": {"team": "ml-research", "class": "gpu_compute"}},
        ], sha=sha))  # fmt: skip
        batches.append(load("saas", "saas-invoices", month, [
            {"cost": "390.00", "service": "GitHub Copilot", "seats": 20, "active_seats": 14,
             "category_service": "Developer Tools", "subcategory": "Development Environments",
             "tags": {"team": "platform", "class": "saas_tool", "tool": "code-assistant"}},
            {"cost": "400.00", "service": "Cursor", "seats": 20, "active_seats": 19,
             "category_service": "Developer Tools", "subcategory": "Development Environments",
             "tags": {"team": "ml-research", "class": "saas_tool", "tool": "code-assistant"}},
        ], sha=sha))  # fmt: skip
        batches.append(load("aws-cur2", "999900001111", month, [
            {"cost": "55.55", "day": 2, "tags": {"team": "platform"}}
        ], currency="EUR", sha=sha))  # fmt: skip
    Store(root).load_cost_lines(batches)
    return root


CLASSIFIED = """
create or replace view classified_costs as
select *,
       json_extract_string(Tags, '$.class') as x_AiClass,
       cast(null as varchar) as x_Workload,
       json_extract_string(Tags, '$.egress') as x_EgressKind,
       json_extract_string(Tags, '$.tool') as x_ToolFamily,
       json_extract_string(Tags, '$.team') as x_Team,
       cast(null as varchar) as x_Project,
       cast(null as varchar) as x_Environment,
       'test' as x_AiClassRule
from cost_lines
"""

# One GPU per resource, every hour of September: i-gpu-1 idle 100 hours, unmonitored 20.
GPU_HOURS = """
create or replace view gpu_hours as
select h as hour, 'i-gpu-1' as resource_id, 'host-1' as host, 'A100' as gpu_model,
       'AWS' as provider, 'cloud' as deployment, 'ml-research' as team,
       cast(2.5 as decimal(38, 12)) as cost, 'USD' as currency,
       case when n < 100 then 'hard_idle' when n < 120 then 'unmonitored' else 'active' end
           as state,
       case when n < 100 then cast(2.5 as decimal(38, 12)) else 0 end as idle_cost,
       case when n between 100 and 119 then 0 else 60 end as samples
from (select h, row_number() over (order by h) - 1 as n
      from range(timestamptz '2026-09-01 00:00:00+00', timestamptz '2026-10-01 00:00:00+00',
                 interval 1 hour) t(h))
"""


def classified(root: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection with classified_costs and gpu_hours as their contract says."""
    con = connect(root)
    con.execute(CLASSIFIED)
    con.execute(GPU_HOURS)
    return con


_BUILT: dict[str, Path] = {}


def shared(factory: pytest.TempPathFactory) -> Path:
    """One world per test session; the pack only reads it, so modules share it."""
    key = str(factory.getbasetemp())
    if key not in _BUILT:
        _BUILT[key] = build(factory.mktemp("report-world") / "warehouse")
    return _BUILT[key]


def copy_of(factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A private copy for a test that changes the warehouse."""
    target = tmp_path / "warehouse"
    shutil.copytree(shared(factory), target)
    return target
