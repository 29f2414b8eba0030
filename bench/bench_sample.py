"""Benchmark the sample generator at benchmark scale: lines/s and peak memory.

    python bench/bench_sample.py                 # 10 million AWS CUR 2.0 lines
    python bench/bench_sample.py --lines 2000000 --keep /data/bench-sample

The generation runs in a child process so its peak RSS is measured alone. The floor is
pyarrow writing the same number of rows of the generated CUR schema (one real row group
repeated), i.e. the cost of encoding and writing the files with no generation at all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
from pathlib import Path
from ingest.sample.generator import generate
t = time.perf_counter()
truth = generate(Path(sys.argv[1]), seed=42, months=12, scale=int(sys.argv[2]),
                 providers=("aws",), telemetry=False)
print(json.dumps({"seconds": time.perf_counter() - t,
                  "lines": sum(r["lines"] for r in truth["totals"])}))
"""


def _floor(out: Path, rows: int) -> float:
    """Seconds for pyarrow alone to write ``rows`` rows shaped like the generated CUR."""
    import pyarrow.parquet as pq

    first = sorted((out / "aws").glob("*/data/BILLING_PERIOD=*/*/*.parquet"))[0]
    chunk = pq.ParquetFile(first).read_row_group(0)
    target = out / "floor.parquet"
    t = time.perf_counter()
    with pq.ParquetWriter(target, chunk.schema, compression="snappy") as w:
        written = 0
        while written < rows:
            part = chunk.slice(0, min(chunk.num_rows, rows - written))
            w.write_table(part)
            written += part.num_rows
    seconds = time.perf_counter() - t
    target.unlink()
    return seconds


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--keep", type=Path, help="write here and keep the data set")
    args = ap.parse_args(argv)
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-sample-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(args.lines)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mib = usage.ru_maxrss / 1024
    floor = _floor(out, result["lines"])
    report = {
        "lines": result["lines"],
        "seconds": round(result["seconds"], 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "lines_per_s": round(result["lines"] / result["seconds"]),
        "peak_rss_mib": round(peak_mib),
        "floor_seconds": round(floor, 1),
        "ratio_to_floor": round(result["seconds"] / floor, 1),
        "output_mib": round(_size(out / "aws") / 2**20),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    print(json.dumps(report, indent=2))
    if args.keep is None:
        shutil.rmtree(out)
    return 0 if peak_mib < 2048 else 1


if __name__ == "__main__":
    raise SystemExit(main())
