"""Azure ingest speed and memory: a generated cost-details month of 5 million lines (MCA CSV).

Writes one month of MCA cost details once (the sample generator's header and its mix of
lines: GPU VMs with AdditionalInfo JSON and reservations, Azure OpenAI tokens, bandwidth; tags),
then in the same run and on the same file measures, each in its own process (peak RSS and CPU
from wait4):

- floor: DuckDB reading the CSV as text and writing it to Parquet with the cost cast to
  DECIMAL(38,12);
- finops: `finops ingest azure FILE` into a fresh warehouse (headers, typing, checks, FOCUS
  conversion, stage, validate, reconcile, one Delta commit, then the post-ingest refresh);
- load only: the same without the refresh (reader + `Store.load_cost_lines`), so the two
  parts' time and memory can be told apart.

With `--amortized` an amortized view of the same rows is written beside it and both are
ingested (the actual/amortized match doubles the rows read; the floor reads both too).

    python bench/bench_ingest_azure.py [--lines 5000000] [--repeats 3] [--amortized]
        [--mix sample|gpu] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from measure import ingest_runs, print_ingest_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.sample.azure import HEADER  # noqa: E402

RI = "/providers/Microsoft.Capacity/reservationOrders/o1/reservations/r1"
TEAMS = ["ml-research", "platform", "search", "ads", "vision", "speech"]
VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-"
# What a line is: (share of lines per 100 with --mix sample, ProductName, MeterCategory,
# MeterSubCategory, MeterName, ConsumedService, UnitOfMeasure, Quantity, AdditionalInfo,
# ResourceId prefix). The sample generator's month (ingest/sample/azure*.py) is the
# reference: GPU VMs are under half of the lines, the rest AI and network meters; the first
# kind (8-GPU H100, the only reserved size) bills 192 GPU-hours a line.
KINDS = [
    (11, "Virtual Machines ND96isr H100 v5", "Virtual Machines", "ND H100 v5 Series",
     "ND96isr H100 v5", "Microsoft.Compute", "1 Hour", "24",
     '{"UsageType":"ComputeHR","ServiceType":"Standard_ND96isr_H100_v5","VCPUs":96}', VM),
    (21, "Virtual Machines NC24ads A100 v4", "Virtual Machines", "NC A100 v4 Series",
     "NC24ads A100 v4", "Microsoft.Compute", "1 Hour", "24",
     '{"UsageType":"ComputeHR","ServiceType":"Standard_NC24ads_A100_v4","VCPUs":24}', VM),
    (10, "Virtual Machines NV36ads A10 v5", "Virtual Machines", "NVadsA10 v5 Series",
     "NV36ads A10 v5", "Microsoft.Compute", "1 Hour", "24",
     '{"UsageType":"ComputeHR","ServiceType":"Standard_NV36ads_A10_v5","VCPUs":36}', VM),
    (6, "Virtual Machines NC6s v3", "Virtual Machines", "NCSv3 Series", "NC6s v3",
     "Microsoft.Compute", "1 Hour", "24",
     '{"UsageType":"ComputeHR","ServiceType":"Standard_NC6s_v3","VCPUs":6}', VM),
    (26, "Azure OpenAI gpt-4.1 - gpt 4.1 Inp Glbl 1M Tokens", "Azure OpenAI", "gpt-4.1",
     "gpt 4.1 Inp Glbl 1M Tokens", "Microsoft.CognitiveServices", "1M", "61.234", None,
     "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/oai-"),
    (26, "Bandwidth - Standard Data Transfer Out", "Bandwidth", None,
     "Standard Data Transfer Out", "Microsoft.Network", "1 GB", "512.5",
     '{"DataTransferDirection":"DataTrOut"}',
     "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/ip-"),
]  # fmt: skip
# --mix gpu: the month this benchmark used before 2026-12 (every line a VM, 3 of 5 GPU).
GPU_MIX = [
    (20, *KINDS[0][1:]), (20, *KINDS[1][1:]), (20, *KINDS[2][1:]),
    (20, "Virtual Machines D8s v5", "Virtual Machines", "D8s v5", "D8s v5", "Microsoft.Compute",
     "1 Hour", "24", '{"UsageType":"ComputeHR","ServiceType":"Standard_D8s_v5","VCPUs":8}', VM),
    (20, "Virtual Machines E16s v5", "Virtual Machines", "E16s v5", "E16s v5",
     "Microsoft.Compute", "1 Hour", "24",
     '{"UsageType":"ComputeHR","ServiceType":"Standard_E16s_v5","VCPUs":16}', VM),
]  # fmt: skip


def generate(path: Path, lines: int, kind: str, seed: int = 7, mix: str = "sample") -> None:
    """One month of MCA cost details; `kind` actual or amortized (same rows, other prices)."""
    kinds = KINDS if mix == "sample" else GPU_MIX
    rng = np.random.default_rng(seed)
    n = lines
    weights = np.array([k[0] for k in kinds], dtype=float)
    what = rng.choice(len(kinds), n, p=weights / weights.sum())
    team = rng.integers(0, len(TEAMS), n)
    day = rng.integers(1, 31, n)
    vm = rng.integers(0, 5_000, n)
    cents = rng.integers(1, 40_000_000, n)
    reserved = (what == 0) & (vm % 2 == 0)
    teams = np.array(TEAMS)[team]

    def col(i: int) -> pl.Series:
        return pl.Series([k[i] for k in kinds], dtype=pl.String).gather(what)

    # cost with 6 decimals as text, from whole micro-dollars (exact)
    cost = (
        pl.Series(cents // 1_000_000).cast(pl.String)
        + "."
        + pl.Series(cents % 1_000_000).cast(pl.String).str.zfill(6)
    )
    frame = pl.DataFrame(
        {
            "BillingAccountId": "7f3c1d2e-5a6b-4c8d-9e0f-a1b2c3d4e5f6:0e9d8c7b-2024-10-01",
            "BillingAccountName": "Acme Neural Labs",
            "BillingPeriodStartDate": "09/01/2026",
            "BillingPeriodEndDate": "09/30/2026",
            "SubscriptionId": pl.Series(teams).str.replace("^", "sub-"),
            "SubscriptionName": pl.Series(teams),
            "Date": pl.Series(day).cast(pl.String).str.zfill(2).str.replace("^", "09/")
            + "/2026",
            "ProductName": col(1),
            "MeterId": pl.Series(what).cast(pl.String).str.replace("^", "m-"),
            "MeterCategory": col(2),
            "MeterSubCategory": col(3),
            "MeterName": col(4),
            "Quantity": col(7),
            "EffectivePrice": "1.5",
            # reservation-covered hours cost nothing in the actual view
            "CostInBillingCurrency": pl.Series(
                np.where(reserved & (kind == "actual"), "0", cost.to_numpy())),
            "UnitPrice": "1.5",
            "BillingCurrency": "USD",
            "ResourceLocation": "eastus",
            "ConsumedService": col(5),
            "ResourceId": col(9) + pl.Series(vm).cast(pl.String),
            "AdditionalInfo": col(8),
            "Tags": pl.Series(teams).str.replace("^(.*)$", '{"team":"$1","env":"prod"}'),
            "UnitOfMeasure": col(6),
            "ChargeType": "Usage",
            "Frequency": "UsageBased",
            "PublisherType": "Azure",
            "PublisherName": "Microsoft",
            "PayGPrice": "1.5",
            "PricingModel": pl.Series(np.where(reserved, "Reservation", "OnDemand")),
            "benefitId": pl.Series(np.where(reserved, RI, "")).replace("", None),
            "benefitName": pl.Series(np.where(reserved, "ri-h100", "")).replace("", None),
        }
    )  # fmt: skip
    frame = frame.with_columns(
        [pl.lit(None, pl.String).alias(c) for c in HEADER if c not in frame.columns]
    ).select(HEADER)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path, include_bom=True)


def floor_cmd(src: Path, out: Path) -> list[str]:
    sql = (
        f"COPY (SELECT * REPLACE (CAST(CostInBillingCurrency AS DECIMAL(38,12)) AS "
        f"CostInBillingCurrency) FROM read_csv('{src}/**/*.csv', all_varchar=true, header=true)) "
        f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
    )
    return [sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"]


# The load alone: what `finops ingest azure` does before `derived.refresh`.
LOAD_CHILD = """
import sys, tempfile
from pathlib import Path
from ingest.sources import azure_delivery
from ingest.warehouse.store import Store
with tempfile.TemporaryDirectory(prefix="finops-azure-") as work:
    loads = azure_delivery.read(Path(sys.argv[1]), sys.argv[1], Path(work))
    Store(sys.argv[2]).load_cost_lines(loads)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--amortized", action="store_true", help="also write the amortized view")
    mix_help = "what the lines are (see KINDS); gpu: the earlier all-VM month"
    ap.add_argument("--mix", choices=["sample", "gpu"], default="sample", help=mix_help)
    ap.add_argument("--data", type=Path, help="reuse/keep the generated export here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-azure-") as tmp:
        data = args.data or Path(tmp) / "azure"
        if not (data / "actual").exists():
            t = time.perf_counter()
            generate(data / "actual" / "202609" / "part_0_0001.csv", args.lines, "actual",
                     mix=args.mix)  # fmt: skip
            if args.amortized:
                generate(data / "amortized" / "202609" / "part_0_0001.csv", args.lines,
                         "amortized", mix=args.mix)  # fmt: skip
            print(f"generated {args.lines:,} lines in {time.perf_counter() - t:.1f} s",
                  flush=True)  # fmt: skip
        size = sum(p.stat().st_size for p in data.rglob("*.csv"))
        floor, ours, load = ingest_runs(
            args.repeats,
            Path(tmp),
            lambda out: floor_cmd(data, out),
            ["azure", str(data)],
            LOAD_CHILD,
        )
        views = "actual + amortized" if args.amortized else "actual"
        print_ingest_table(
            args.lines,
            f"input: {args.lines:,} Azure MCA cost-details lines ({views}, {args.mix} mix), "
            f"{size / 2**20:.0f} MiB CSV; medians of {args.repeats}",
            [
                ("DuckDB CSV→Parquet with DECIMAL cost (floor)", floor),
                ("`finops ingest azure`", ours),
                ("load only (no classification refresh)", load),
            ],
        )


if __name__ == "__main__":
    main()
