"""A month's GPU rebuild (gpu_hours, idle episodes, GPU rollups, telemetry_monthly) against
a floor, in the same run, on an existing warehouse.

    python bench/bench_gpu_month.py --warehouse DIR --month 2025-12 --repeats 3

The rebuild is what every ingest touching the month runs: `classified.refresh_gpu_hours`
for that month, in its own process (it rewrites the month in place, so the warehouse ends as
it began). The floor is DuckDB alone, in its own process with the same memory limit, reading
what the rebuild reads (the month's cost-line partitions joined to their line classes, GPU
lines only, and the month's telemetry) and writing it to Parquet: about as many rows as the
month has GPU-hours. Prints each run and the medians (wall, CPU, peak RSS, vs the floor).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import machine, measured, medians

FLOOR = r"""
import sys
from pathlib import Path
from ingest.derive import scratch
from ingest.warehouse.store import Store
from models.rules import GPU_COMPUTE

root, month, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
store = Store(root)
PART = ["x_PartSource", "x_PartAccount", "x_PartPeriod"]

def files(name, keys, wanted):
    table = store.table(name)
    picked = store.partition_files(table, keys, wanted)
    return [str(store.table_path(name) / p) for p in picked["path"].to_list()]

lines = store.partition_files(store.table("cost_lines"), PART, None)
parts = [dict(zip(PART, r)) for r in lines.select([f"partition.{k}" for k in PART]).rows()
         if r[2] == month]
with scratch.connect(store.staging_dir()) as con:
    con.execute(
        "COPY (SELECT c.x_LineId, c.ResourceId, c.ResourceName, c.ChargeCategory,"
        " c.CommitmentDiscountStatus, c.ChargePeriodStart, c.ChargePeriodEnd,"
        " c.ConsumedQuantity, c.ConsumedUnit, c.EffectiveCost, c.ProviderName, c.x_Source,"
        " c.BillingCurrency, k.x_Team, k.x_GpuPerInstance, k.x_GpuModelName"
        " FROM read_parquet($lines) c JOIN read_parquet($classes) l USING (x_LineId)"
        " JOIN read_parquet($keys) k USING (x_ClassKey) WHERE k.x_AiClass = $gpu)"
        " TO $out (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)",
        {"lines": files("cost_lines", PART, parts), "classes": files("line_classes", PART, parts),
         "keys": files("class_keys", [], None), "gpu": GPU_COMPUTE, "out": str(out) + ".lines"},
    )
    util = files("gpu_util", ["x_PartMonth"], [{"x_PartMonth": month}])
    if util:
        con.execute(
            "COPY (SELECT * FROM read_parquet($util)) TO $out"
            " (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)",
            {"util": util, "out": str(out) + ".util"},
        )
"""

REBUILD = r"""
import sys
from pathlib import Path
from ingest.derive import classified
from ingest.warehouse.store import Store
from models.settings import Settings

store = Store(Path(sys.argv[1]))
with store.writer():
    classified.refresh_gpu_hours(store, Settings(), [sys.argv[2]])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, type=Path)
    parser.add_argument("--month", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs: tuple[list, list] = ([], [])
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "floor")
        for i in range(args.repeats):
            floor = measured([sys.executable, "-c", FLOOR, str(args.warehouse), args.month, out])
            rebuild = measured([sys.executable, "-c", REBUILD, str(args.warehouse), args.month])
            runs[0].append(floor)
            runs[1].append(rebuild)
            print(
                f"run {i + 1}: floor {floor[0]:.1f} s wall / {floor[2]:.1f} s CPU; "
                f"rebuild {rebuild[0]:.1f} s wall / {rebuild[2]:.1f} s CPU "
                f"({rebuild[1] / 2**20:,.0f} MiB)",
                flush=True,
            )
    floor_f, ours = medians(runs[0]), medians(runs[1])
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nmachine: {machine()}; load after: {load}")
    print("| step | median wall s | median CPU s | peak RSS MiB | wall vs floor | CPU vs floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, f in (("floor (DuckDB read + write)", floor_f), ("month rebuild", ours)):
        print(
            f"| {label} | {f.wall:.1f} | {f.cpu:.1f} | {f.rss / 2**20:,.0f} | "
            f"{f.wall / floor_f.wall:.2f}x | {f.cpu / floor_f.cpu:.2f}x |"
        )


if __name__ == "__main__":
    main()
