"""Finance pack speed: twelve monthly packs (XLSX, PDF, CSV) over a 10-million-line warehouse.

Builds the warehouse once through the real writer (or reuses `--warehouse DIR`), then times
`build_pack` for each of the twelve months, against a floor measured in the same run: DuckDB
alone computing each month's provider/team totals from the same snapshot (the least any
report must read). Prints medians of `--repeats` runs, the ratio, peak RSS and the machine.

    python bench/bench_report.py [--lines 10000000] [--repeats 3] [--warehouse DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.report.pack import build_pack
from ingest.warehouse.connection import connect
from ingest.warehouse.load_contract import PeriodLoad, SourceFile
from ingest.warehouse.store import Store

MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
SOURCES = {
    "aws-cur2": ("AWS", "Amazon Web Services, Inc.", "111122223333"),
    "azure-cost-details": ("Microsoft", "Microsoft", "ea-0001"),
    "gcp-bq": ("Google Cloud", "Google", "0A1B2C-3D4E5F"),
}
TEAMS = ["ml-research", "platform", "search", "ads", "vision", "speech", "shared", None]


def _batch(source: str, month: str, n: int, seed: int) -> PeriodLoad:
    provider, publisher, account = SOURCES[source]
    rng = np.random.default_rng(seed)
    start = dt.datetime.fromisoformat(month + "-01T00:00:00+00:00")
    end = (start + dt.timedelta(days=32)).replace(day=1)
    # money up to 5,000 with 8 decimals, as text so it parses exactly like a reader's input
    whole = pl.Series(rng.integers(0, 5_000, n))
    frac = pl.Series(rng.integers(0, 100_000_000, n)).cast(pl.String).str.zfill(8)
    money = (whole.cast(pl.String) + "." + frac).str.to_decimal(scale=12)
    team = pl.Series(rng.integers(0, len(TEAMS), n))
    names = pl.Series([t or "" for t in TEAMS])
    tag = names.gather(team)
    day = pl.Series(rng.integers(0, (end - start).days, n)).cast(pl.Int64)
    frame = pl.DataFrame({"BilledCost": money, "_team": tag, "_day": day}).select(
        pl.col("BilledCost"),
        pl.col("BilledCost").alias("EffectiveCost"),
        pl.col("BilledCost").alias("ListCost"),
        pl.col("BilledCost").alias("ContractedCost"),
        pl.lit(account).alias("BillingAccountId"),
        pl.lit("USD").alias("BillingCurrency"),
        pl.lit(start).alias("BillingPeriodStart"),
        pl.lit(end).alias("BillingPeriodEnd"),
        (pl.lit(start) + pl.duration(days=pl.col("_day"))).alias("ChargePeriodStart"),
        (pl.lit(start) + pl.duration(days=pl.col("_day") + 1)).alias("ChargePeriodEnd"),
        pl.lit("Usage").alias("ChargeCategory"),
        pl.lit("Usage-Based").alias("ChargeFrequency"),
        pl.lit(publisher).alias("InvoiceIssuerName"),
        pl.lit(provider).alias("ProviderName"),
        pl.lit(publisher).alias("PublisherName"),
        pl.lit("Compute").alias("ServiceCategory"),
        pl.lit("Virtual Machines").alias("ServiceName"),
        pl.lit("Virtual Machines").alias("ServiceSubcategory"),
        pl.format("r-{}", pl.int_range(pl.len()) % 5000).alias("ResourceId"),
        pl.when(pl.col("_team") != "")
        .then(pl.format('{{"team": "{}"}}', pl.col("_team")))
        .alias("Tags"),
    )
    total = Decimal(frame["BilledCost"].sum())
    return PeriodLoad(
        source=source, billing_account=account, billing_period=month, currency="USD",
        files=[SourceFile(f"{source}-{month}", f"{seed:064x}", n)], lines=frame.lazy(),
        source_total=total,
    )  # fmt: skip


def build(root: Path, lines: int) -> None:
    per = lines // (len(MONTHS) * len(SOURCES))
    store = Store(root)
    seed = 0
    for month in MONTHS:  # one month per call keeps memory to one month's frames
        batches = []
        for source in SOURCES:
            seed += 1
            batches.append(_batch(source, month, per, seed))
        store.load_cost_lines(batches)
        print(f"  built {month}", file=sys.stderr)


def floor(root: Path) -> float:
    con = connect(root)
    t = time.perf_counter()  # wall time: what a user waits
    for month in MONTHS:
        start = dt.datetime.fromisoformat(month + "-01T00:00:00+00:00")
        con.execute(
            "select ProviderName, json_extract_string(Tags, '$.team'), sum(BilledCost) "
            "from cost_lines where BillingPeriodStart = $s group by all",
            {"s": start},
        ).fetchall()
    return time.perf_counter() - t


def packs(root: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) for the twelve packs."""
    t, cpu = time.perf_counter(), time.process_time()
    for month in MONTHS:
        build_pack(root, month, out_dir=out / month)
    return time.perf_counter() - t, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warehouse", type=Path, help="reuse (or create) this warehouse")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    root = args.warehouse or tmp / "warehouse"
    if not (root / "cost_lines").exists():
        t = time.perf_counter()
        build(root, args.lines)
        print(f"warehouse built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    (rows,) = connect(root).execute("select count(*) from cost_lines").fetchall()[0]
    floors, times, cpus = [], [], []
    for i in range(args.repeats):
        floors.append(floor(root))
        wall, cpu = packs(root, tmp / f"run{i}")
        times.append(wall)
        cpus.append(cpu)
    free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.splitlines()
    result = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, nproc {os.cpu_count()}, {free[1].split()[1]} GB RAM",
        "lines": rows,
        "months": len(MONTHS),
        "repeats": args.repeats,
        "twelve_packs_s_median": round(statistics.median(times), 2),
        "per_pack_s_median": round(statistics.median(times) / len(MONTHS), 2),
        "floor_duckdb_s_median": round(statistics.median(floors), 2),
        "ratio_to_floor": round(statistics.median(times) / statistics.median(floors), 1),
        "all_runs_s": [round(x, 2) for x in times],
        "twelve_packs_cpu_s_median": round(statistics.median(cpus), 2),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(tmp)  # the packs written (and the warehouse unless --warehouse was given)


if __name__ == "__main__":
    main()
