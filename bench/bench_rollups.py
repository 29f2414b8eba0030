"""What the rollups add to an ingest: rebuilding one month's rollup partitions, beside the
classification of the same partitions (the step before it) and a floor measured in the same
run: DuckDB summing EffectiveCost over the same cost_lines files.

Runs on a warehouse built by `bench_dashboard.py --build-only` (rewrites its rollups with the
same content), `--repeats` times each, medians:

    python bench/bench_rollups.py --warehouse DIR [--month 2025-06] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import machine

from ingest.derive import classified, lineage, rollups
from ingest.warehouse.store import Store
from models.settings import Settings


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", type=Path, required=True)
    ap.add_argument("--month", default="2025-06")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    store = Store(args.warehouse)
    parts = sorted(
        p for p in lineage.line_inputs(store.table) if p.rsplit(lineage.SEP, 1)[-1] == args.month
    )
    wanted = [dict(zip(lineage.PART, p.split(lineage.SEP), strict=True)) for p in parts]
    files = rollups.files_of(store, "cost_lines", wanted)
    paths = [p for group, _ in files for p in group]
    book = classified.rulebook(Settings())

    def floor() -> None:
        con = duckdb.connect()
        con.execute("SELECT sum(EffectiveCost) FROM read_parquet($p)", {"p": paths}).fetchall()

    lines = duckdb.execute("SELECT count(*) FROM read_parquet($p)", {"p": paths}).fetchall()[0][0]
    runs: dict[str, list[float]] = {"floor": [], "classify": [], "rollups": []}
    for _ in range(args.repeats):
        runs["floor"].append(timed(floor))
        with store.writer():
            runs["classify"].append(
                timed(lambda: classified.refresh_partitions(store, book, wanted))
            )
            runs["rollups"].append(timed(lambda: rollups.refresh(store, set(parts))))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        json.dumps(
            {
                "machine": machine(),
                "month": args.month,
                "partitions": len(parts),
                "cost_lines": lines,
                "repeats": args.repeats,
                "s": {k: [round(x, 2) for x in v] for k, v in runs.items()},
                "median_s": {k: round(v, 2) for k, v in med.items()},
                "rollups_to_floor": round(med["rollups"] / med["floor"], 1),
                "rollups_to_classify": round(med["rollups"] / med["classify"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
