"""Benchmark: one more month into a warehouse of twelve against the same month into an empty one.

A synthetic AWS estate (GPU instances of 8 GPUs billed hourly with one telemetry row per
GPU-hour, and non-GPU filler lines) is ingested month by month through the real writer and
the real refresh (ingest.derive.refresh), as `finops ingest` does. Then month 13 is ingested
into a copy of the 12-month warehouse and, in the same run, into an empty warehouse (the
floor); each in a fresh process, interleaved, `--repeats` times. Reported: the medians of the
whole ingest and of each refresh step (classification, gpu_hours with the GPU rollups,
idle_episodes, the cost-line rollups), the ratio 12-month / empty, peak RSS, and gpu_hours'
bytes on disk per GPU-hour row.

    python bench/bench_incremental.py                       # 512 GPUs, 12 + 1 months, 3 repeats
    python bench/bench_incremental.py --gpus 64 --filler 20000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = "2025-01"
COST = Decimal("98.32")  # one p5.48xlarge hour


def _month(i: int) -> str:
    y, m = divmod(int(FIRST[:4]) * 12 + int(FIRST[5:]) - 1 + i, 12)
    return f"{y:04d}-{m + 1:02d}"


def _bounds(month: str) -> tuple[datetime, datetime]:
    y, m = (int(x) for x in month.split("-"))
    nxt = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return datetime(y, m, 1, tzinfo=UTC), nxt


def month_loads(month: str, gpus: int, filler: int, seed: int):
    """The month's cost lines (one PeriodLoad) and telemetry (one HourlyLoad)."""
    import numpy as np
    import polars as pl

    from ingest.warehouse.load_contract import HourlyLoad, PeriodLoad
    from models.schema import COST_LINES, MONEY, UTC_TS, conform

    rng = np.random.default_rng(seed)
    start, end = _bounds(month)
    hours = int((end - start).total_seconds() // 3600)
    hosts = max(1, gpus // 8)
    t0 = int(start.timestamp() * 1e6)
    idx = np.arange(hosts * hours)
    host, hour = idx // hours, idx % hours
    stamps = pl.Series(t0 + hour * 3_600_000_000).cast(pl.Int64)
    gpu_lines = pl.DataFrame(
        {
            "ResourceId": pl.Series([f"i-{k:017x}" for k in range(hosts)]).gather(host),
            "x_UsageType": pl.repeat("USE1-BoxUsage:p5.48xlarge", len(idx), eager=True),
            "ChargePeriodStart": stamps.cast(UTC_TS),
            "ConsumedQuantity": pl.repeat(1, len(idx), eager=True).cast(MONEY),
            "ConsumedUnit": pl.repeat("Hrs", len(idx), eager=True),
            "EffectiveCost": pl.repeat(COST, len(idx), eager=True).cast(MONEY),
        }
    )
    f = np.arange(filler)
    other = pl.DataFrame(
        {
            "ResourceId": pl.Series([f"vol-{k:017x}" for k in rng.integers(0, 20_000, filler)]),
            "x_UsageType": pl.repeat("USE2-EBS:VolumeUsage.gp3", filler, eager=True),
            "ChargePeriodStart": pl.Series(t0 + (f % hours) * 3_600_000_000)
            .cast(pl.Int64)
            .cast(UTC_TS),
            "ConsumedQuantity": pl.repeat(1, filler, eager=True).cast(MONEY),
            "ConsumedUnit": pl.repeat("GB-Mo", filler, eager=True),
            "EffectiveCost": pl.Series(rng.integers(1, 100_000, filler)).cast(MONEY) / 1000,
        }
    )
    lines = pl.concat([gpu_lines, other]).with_columns(
        (pl.col("ChargePeriodStart") + pl.duration(hours=1)).alias("ChargePeriodEnd"),
        pl.lit(start).cast(UTC_TS).alias("BillingPeriodStart"),
        pl.lit(end).cast(UTC_TS).alias("BillingPeriodEnd"),
        pl.col("EffectiveCost").alias("BilledCost"),
        pl.col("EffectiveCost").alias("ListCost"),
        pl.col("EffectiveCost").alias("ContractedCost"),
        pl.lit("Usage-Based").alias("ChargeFrequency"),
        pl.lit("Amazon Web Services, Inc.").alias("InvoiceIssuerName"),
        pl.lit("Amazon Web Services, Inc.").alias("PublisherName"),
        pl.lit("Amazon Elastic Compute Cloud").alias("ServiceName"),
        pl.lit("Compute").alias("ServiceCategory"),
        pl.lit("Virtual Machines").alias("ServiceSubcategory"),
        pl.lit("AmazonEC2").alias("x_ServiceCode"),
        pl.lit("AWS").alias("ProviderName"),
        pl.lit("Usage").alias("ChargeCategory"),
        pl.lit("412395078111").alias("BillingAccountId"),
        pl.lit("412395078111").alias("SubAccountId"),
        pl.lit("USD").alias("BillingCurrency"),
        pl.lit('{"team": "research"}').alias("Tags"),
        pl.lit(False).alias("x_Marketplace"),
    )
    total = Decimal(str(lines["BilledCost"].sum()))
    frame = conform(lines.lazy(), COST_LINES).collect()
    period = PeriodLoad("aws-cur2", "412395078111", month, "USD", [], frame.lazy(), total)
    n = len(idx) * 8
    rep = np.repeat(np.arange(len(idx)), 8)
    util = pl.DataFrame(
        {
            "hour": stamps.cast(UTC_TS).gather(rep),
            "host": pl.Series([f"gpu-{k:04d}" for k in range(hosts)]).gather(host[rep]),
            "resource_id": gpu_lines["ResourceId"].gather(rep),
            "gpu_index": np.tile(np.arange(8, dtype=np.int64), len(idx)),
            # idle nights: long runs that cross day and month boundaries
            "avg_active": np.where(
                ((t0 // 3_600_000_000 + hour[rep]) // 20 + host[rep]) % 3 == 0, 0.01, 0.6
            ),
            "max_active": rng.choice([0.0, 0.5, 1.0], n),
            "max_mem_used_mib": rng.choice([0.0, 40_000.0], n),
            "samples": pl.repeat(60, n, eager=True),
        }
    )
    return period, HourlyLoad("prometheus", util, [], f"bench {month}")


_SPENT: dict[str, float] = {}


def _timed(name: str, fn):
    def run(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _SPENT[name] = _SPENT.get(name, 0.0) + time.perf_counter() - t0

    return run


def ingest_month(root: Path, month: str, gpus: int, filler: int) -> dict:
    """Ingest one month as `finops ingest` does (cost lines, telemetry, then one refresh),
    timing each refresh step."""
    from ingest.derive import classified, refresh, rollups
    from ingest.warehouse.store import Store
    from models.settings import Settings

    spent = _SPENT
    spent.clear()
    if not getattr(classified, "_bench_timed", False):
        classified.refresh_partitions = _timed("classify", classified.refresh_partitions)
        classified.refresh_gpu_hours = _timed("gpu_hours+", classified.refresh_gpu_hours)
        classified.refresh_episodes = _timed("episodes", classified.refresh_episodes)
        rollups.refresh = _timed("rollups", rollups.refresh)  # the cost-line rollups
        classified._bench_timed = True
    period, util = month_loads(month, gpus, filler, seed=int(month.replace("-", "")))
    store, settings = Store(root), Settings()
    t0 = time.perf_counter()
    results = store.load_cost_lines([period])
    results += store.load_gpu_util(util)
    t1 = time.perf_counter()
    refresh.refresh(store, settings, results)
    t2 = time.perf_counter()
    # refresh_gpu_hours times the episodes it runs itself: report them apart
    spent["gpu_hours"] = spent.pop("gpu_hours+", 0.0) - spent.get("episodes", 0.0)
    return {"load": t1 - t0, "refresh": t2 - t1, "total": t2 - t0, **dict(spent)}


def _bytes_per_row(root: Path, table: str) -> tuple[int, int]:
    import polars as pl
    from deltalake import DeltaTable

    actions = pl.DataFrame(DeltaTable(str(root / table)).get_add_actions(flatten=True))
    return int(actions["size_bytes"].sum()), int(actions["num_records"].sum())


def task_build(folder: Path, gpus: int, filler: int, months: int) -> dict:
    root = folder / "history"
    for i in range(months):
        ingest_month(root, _month(i), gpus, filler)
    size, rows = _bytes_per_row(root, "gpu_hours")
    return {"gpu_hours_bytes": size, "gpu_hours_rows": rows}


def task_next(folder: Path, gpus: int, filler: int, months: int, into: str) -> dict:
    root = folder / f"run-{into}"
    shutil.rmtree(root, ignore_errors=True)
    if into == "history":
        shutil.copytree(folder / "history", root)
    try:
        return ingest_month(root, _month(months), gpus, filler)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_child(args: list[str]) -> tuple[float, dict]:
    """(peak RSS GiB, result) of one task in a fresh process (the child's own ru_maxrss)."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read().decode() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"task {args} failed:\n{out}")
    return usage.ru_maxrss / 1024 / 1024, json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=512)
    ap.add_argument("--filler", type=int, default=200_000, help="non-GPU lines a month")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--task")
    ap.add_argument("--folder")
    ap.add_argument("--into")
    args = ap.parse_args()
    size = (args.gpus, args.filler, args.months)
    if args.task == "build":
        print(json.dumps(task_build(Path(args.folder), *size)))
        return
    if args.task == "next":
        print(json.dumps(task_next(Path(args.folder), *size, args.into)))
        return
    common = ["--gpus", str(args.gpus), "--filler", str(args.filler), "--months", str(args.months)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _, built = run_child(["--task", "build", "--folder", tmp, *common])
        build_s = time.perf_counter() - t0
        runs: dict[str, list] = {"history": [], "empty": []}
        for _ in range(args.repeats):  # interleaved: a slow spell of the machine hits both
            for into in runs:
                runs[into].append(
                    run_child(["--task", "next", "--folder", tmp, "--into", into, *common])
                )
    load = os.getloadavg()
    print(
        f"# bench_incremental: {args.gpus} GPUs with telemetry, {args.filler:,} other lines a "
        f"month; month {args.months + 1} into {args.months} months vs into an empty "
        f"warehouse; median of {args.repeats}; {os.cpu_count()} cores; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load {load[0]:.2f} {load[1]:.2f}"
    )
    print(f"history built in {build_s:.0f} s")
    steps = ("total", "load", "refresh", "classify", "gpu_hours", "episodes", "rollups")
    med = {
        into: {s: statistics.median(r[1].get(s, 0.0) for r in rs) for s in steps}
        for into, rs in runs.items()
    }
    for s in steps:
        h, e = med["history"][s], med["empty"][s]
        ratio = f"{h / e:5.2f}x" if e > 0 else "   - "
        print(f"{s:10s} {args.months} months {h:7.2f} s | empty {e:7.2f} s | {ratio}")
    for into, rs in runs.items():
        print(f"peak RSS into {into}: {max(r[0] for r in rs):.2f} GiB")
    b, n = built["gpu_hours_bytes"], built["gpu_hours_rows"]
    print(f"gpu_hours on disk: {b:,} bytes for {n:,} GPU-hour rows = {b / max(n, 1):.2f} B/row")


if __name__ == "__main__":
    main()
