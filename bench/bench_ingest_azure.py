"""Azure ingest speed and memory: a generated cost-details month of 5 million lines (MCA CSV).

Writes one month of MCA cost details once (the sample generator's header; GPU VMs with
AdditionalInfo JSON, tags, reservations), then in the same run and on the same file measures,
each in its own process (peak RSS from wait4):

- floor: DuckDB reading the CSV as text and writing it to Parquet with the cost cast to
  DECIMAL(38,12);
- finops: `finops ingest azure FILE` into a fresh warehouse (headers, typing, checks, FOCUS
  conversion, stage, validate, reconcile, one Delta commit).

With `--amortized` an amortized view of the same rows is written beside it and both are
ingested (the actual/amortized match doubles the rows read; the floor reads both too).

    python bench/bench_ingest_azure.py [--lines 5000000] [--repeats 3] [--amortized]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from measure import machine
from measure import wall_and_rss as measured

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.sample.azure import HEADER  # noqa: E402

SIZES = ["Standard_ND96isr_H100_v5", "Standard_NC24ads_A100_v4", "Standard_NV36ads_A10_v5",
         "Standard_D8s_v5", "Standard_E16s_v5"]  # fmt: skip
RI = "/providers/Microsoft.Capacity/reservationOrders/o1/reservations/r1"
TEAMS = ["ml-research", "platform", "search", "ads", "vision", "speech"]


def generate(path: Path, lines: int, kind: str, seed: int = 7) -> None:
    """One month of MCA cost details; `kind` actual or amortized (same rows, other prices)."""
    rng = np.random.default_rng(seed)
    n = lines
    size = rng.integers(0, len(SIZES), n)
    team = rng.integers(0, len(TEAMS), n)
    day = rng.integers(1, 31, n)
    vm = rng.integers(0, 5_000, n)
    cents = rng.integers(1, 40_000_000, n)
    reserved = (size == 0) & (vm % 2 == 0)
    sizes = np.array(SIZES)[size]
    teams = np.array(TEAMS)[team]
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
            "ProductName": pl.Series(sizes).str.replace("Standard_", "Virtual Machines "),
            "MeterId": pl.Series(size).cast(pl.String).str.replace("^", "m-"),
            "MeterCategory": "Virtual Machines",
            "MeterSubCategory": pl.Series(sizes).str.replace("Standard_", "").str.replace(
                "_", " "),
            "MeterName": pl.Series(sizes).str.replace("Standard_", ""),
            "Quantity": "24",
            "EffectivePrice": "1.5",
            # reservation-covered hours cost nothing in the actual view
            "CostInBillingCurrency": pl.Series(
                np.where(reserved & (kind == "actual"), "0", cost.to_numpy())),
            "UnitPrice": "1.5",
            "BillingCurrency": "USD",
            "ResourceLocation": "eastus",
            "ConsumedService": "Microsoft.Compute",
            "ResourceId": pl.Series(vm).cast(pl.String).str.replace(
                "^", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/"
                "virtualMachines/vm-"),
            "AdditionalInfo": pl.Series(sizes).str.replace(
                "^(.*)$", '{"UsageType":"ComputeHR","ServiceType":"$1","VCPUs":8}'),
            "Tags": pl.Series(teams).str.replace("^(.*)$", '{"team":"$1","env":"prod"}'),
            "UnitOfMeasure": "1 Hour",
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--amortized", action="store_true", help="also write the amortized view")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-azure-") as tmp:
        data = Path(tmp) / "azure"
        t = time.perf_counter()
        generate(data / "actual" / "202609" / "part_0_0001.csv", args.lines, "actual")
        if args.amortized:
            generate(data / "amortized" / "202609" / "part_0_0001.csv", args.lines, "amortized")
        print(f"generated {args.lines:,} lines in {time.perf_counter() - t:.1f} s", flush=True)
        size = sum(p.stat().st_size for p in data.rglob("*.csv"))
        floor, ours = [], []
        for i in range(args.repeats):
            out = Path(tmp) / f"floor-{i}.parquet"
            floor.append(measured(floor_cmd(data, out)))
            out.unlink()
            wh = Path(tmp) / f"warehouse-{i}"
            cmd = [sys.executable, "-m", "dashboard.cli", "--warehouse", str(wh), "ingest",
                   "azure", str(data)]  # fmt: skip
            ours.append(measured(cmd))
            print(f"run {i + 1}: floor {floor[-1][0]:.1f} s, finops {ours[-1][0]:.1f} s",
                  flush=True)  # fmt: skip
            shutil.rmtree(wh)
        f_s = statistics.median(s for s, _ in floor)
        o_s = statistics.median(s for s, _ in ours)
        f_rss = statistics.median(r for _, r in floor)
        o_rss = statistics.median(r for _, r in ours)
        views = "actual + amortized" if args.amortized else "actual"
        print()
        print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}")
        print(f"input: {args.lines:,} Azure MCA cost-details lines ({views}), "
              f"{size / 2**20:.0f} MiB CSV; medians of {args.repeats}")  # fmt: skip
        print("| step | median s | lines/s | peak RSS | vs floor |")
        print("|---|---:|---:|---:|---:|")
        print(f"| DuckDB CSV→Parquet with DECIMAL cost (floor) | {f_s:.1f} | "
              f"{args.lines / f_s:,.0f} | {f_rss / 2**30:.2f} GiB | 1.00x |")  # fmt: skip
        print(f"| `finops ingest azure` | {o_s:.1f} | {args.lines / o_s:,.0f} | "
              f"{o_rss / 2**30:.2f} GiB | {o_s / f_s:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
