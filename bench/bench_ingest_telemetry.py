"""Telemetry ingest speed and memory: a year of nvidia-smi logs for 500 GPUs at 5 minutes.

Writes one `<host>.csv` per host as `nvidia-smi --query-gpu=timestamp,name,pci.bus_id,uuid,
index,utilization.gpu,memory.used,power.draw --format=csv -l 300` writes them (units in the
values), 52.56 million samples by default, then in the same run and on the same files
measures, each in its own process (peak RSS from wait4):

- floor: DuckDB reading the CSVs, stripping the units, parsing the time stamps and reducing
  them to GPU-hours (mean, max, count) into a Parquet file;
- finops: `finops ingest telemetry nvidia-smi DIR --tz UTC` into a fresh warehouse (parse,
  check every sample, reduce to GPU-hours, one Delta commit per month).

Prints medians of `--repeats` runs, samples/s, the ratio to the floor, peak RSS, machine.

    python bench/bench_ingest_telemetry.py [--gpus 500] [--days 365] [--repeats 3] [--data DIR]
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

from measure import machine
from measure import wall_and_rss as measured

ROOT = Path(__file__).resolve().parent.parent
HEADER = (
    "timestamp, name, pci.bus_id, uuid, index, utilization.gpu [%], memory.used [MiB], "
    "power.draw [W]"
)
GPUS_PER_HOST = 4
INTERVAL_MIN = 5


def generate(folder: Path, gpus: int, days: int) -> int:
    """One CSV per host of GPUS_PER_HOST GPUs; returns the number of samples written."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    steps = days * 24 * 60 // INTERVAL_MIN
    hosts = -(-gpus // GPUS_PER_HOST)
    con = duckdb.connect()
    written = 0
    for h in range(hosts):
        n_gpus = min(GPUS_PER_HOST, gpus - h * GPUS_PER_HOST)
        line = (
            "strftime(TIMESTAMP '2025-01-01' + to_minutes(i * 5), '%Y/%m/%d %H:%M:%S') || '.000, "
            "NVIDIA H100 80GB HBM3, 00000000:' || lpad(g::VARCHAR, 2, '0') || ':00.0, GPU-"
            f"{h:04d}-' || g || ', ' || g || ', ' || (hash(i * 31 + g + {h}) % 101) || ' %, ' || "
            f"(hash(i * 17 + g + {h}) % 81920) || ' MiB, ' || "
            f"(60 + (hash(i * 7 + g + {h}) % 64000) / 100.0)::DECIMAL(8, 2) || ' W'"
        )
        con.execute(
            f'COPY (SELECT {line} AS "{HEADER}" FROM range({steps}) t(i), range({n_gpus}) s(g) '
            f"ORDER BY i, g) TO '{folder}/gpu-host-{h:04d}.csv' "
            "(FORMAT csv, HEADER true, QUOTE '', ESCAPE '', DELIMITER '|')"
        )
        written += steps * n_gpus
    return written


def floor_cmd(src: Path, out: Path) -> list[str]:
    num = "CAST(rtrim(trim({c}), ' %MiBW') AS DOUBLE)"
    sql = (
        "COPY (SELECT filename AS host, trim(c4) AS gpu, "
        "date_trunc('hour', strptime(trim(c0), '%Y/%m/%d %H:%M:%S.%g')) AS hour, "
        f"avg({num.format(c='c5')}) / 100 AS avg_active, max({num.format(c='c5')}) / 100 AS mx, "
        f"max({num.format(c='c6')}) AS mem, avg({num.format(c='c7')}) AS power, count(*) AS n "
        f"FROM read_csv('{src}/*.csv', header = true, delim = ',', all_varchar = true, "
        "filename = true, names = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']) "
        f"GROUP BY ALL) TO '{out}' (FORMAT parquet)"
    )
    return [sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpus", type=int, default=500)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", type=Path, help="reuse/keep the generated logs here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as tmp:
        data = args.data or Path(tmp) / "nvidia-smi"
        samples = args.gpus * args.days * 24 * 60 // INTERVAL_MIN
        if not data.exists() or not any(data.glob("*.csv")):
            t = time.perf_counter()
            samples = generate(data, args.gpus, args.days)
            print(f"generated {samples:,} samples in {time.perf_counter() - t:.1f} s", flush=True)
        size = sum(p.stat().st_size for p in data.glob("*.csv"))
        floor, ours = [], []
        for i in range(args.repeats):
            out = Path(tmp) / f"floor-{i}.parquet"
            floor.append(measured(floor_cmd(data, out)))
            out.unlink()
            wh = Path(tmp) / f"warehouse-{i}"
            cmd = [sys.executable, "-m", "dashboard.cli", "--warehouse", str(wh), "ingest",
                   "telemetry", "nvidia-smi", str(data), "--tz", "UTC"]  # fmt: skip
            ours.append(measured(cmd))
            print(
                f"run {i + 1}: floor {floor[-1][0]:.1f} s {floor[-1][1] / 2**30:.2f} GiB, "
                f"finops {ours[-1][0]:.1f} s {ours[-1][1] / 2**30:.2f} GiB",
                flush=True,
            )
            shutil.rmtree(wh)
        f_s = statistics.median(s for s, _ in floor)
        o_s = statistics.median(s for s, _ in ours)
        f_rss = statistics.median(r for _, r in floor)
        o_rss = statistics.median(r for _, r in ours)
        print()
        print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}")
        print(f"input: {samples:,} samples ({args.gpus} GPUs x {args.days} days at "
              f"{INTERVAL_MIN} min), {size / 2**30:.2f} GiB of nvidia-smi CSV; "
              f"medians of {args.repeats}")  # fmt: skip
        print("| step | median s | samples/s | peak RSS | vs floor |")
        print("|---|---:|---:|---:|---:|")
        print(f"| DuckDB CSV→GPU-hours (floor) | {f_s:.1f} | {samples / f_s:,.0f} | "
              f"{f_rss / 2**30:.2f} GiB | 1.00x |")  # fmt: skip
        print(f"| `finops ingest telemetry nvidia-smi` | {o_s:.1f} | {samples / o_s:,.0f} | "
              f"{o_rss / 2**30:.2f} GiB | {o_s / f_s:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
