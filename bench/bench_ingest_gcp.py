"""GCP ingest speed and memory: a generated detailed billing export month of 5 million lines.

Writes one invoice month of the BigQuery detailed export as Parquet with its real nesting
(`service`, `sku`, `labels`, `system_labels`, `credits` ...; every fourth line carries a
committed-use credit), then in the same run and on the same file measures, each in its own
process (peak RSS from wait4):

- floor: DuckDB reading the Parquet and writing it to Parquet with `cost` as DECIMAL(38,12)
  and the credits summed per line (the minimum work that reconciles a GCP month);
- finops: `finops ingest gcp FILE` into a fresh warehouse (flatten, typing, checks, FOCUS
  conversion with one Credit line per credit, stage, validate, reconcile, one Delta commit,
  then the post-ingest refresh);
- load: the same without the post-ingest refresh (reader + `Store.load_cost_lines`), so the
  two parts' time and memory can be told apart.

    python bench/bench_ingest_gcp.py [--lines 5000000] [--repeats 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from measure import ingest_runs, print_ingest_table

ROOT = Path(__file__).resolve().parent.parent
SKUS = ["Nvidia Tesla A100 GPU running in Americas", "A2 Instance Core running in Americas",
        "A2 Instance Ram running in Americas", "Network Internet Egress from Americas to EMEA",
        "Nvidia L4 GPU running in Americas", "Standard Storage US Multi-region"]  # fmt: skip
MACHINES = ["a2-highgpu-1g", "a2-highgpu-2g", "g2-standard-8", "n2-standard-8"]
TEAMS = ["ml-research", "platform", "search", "ads", "vision", "speech"]
CHUNK = 1_000_000


def _one(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _struct(**fields: pa.Array) -> pa.StructArray:
    return pa.StructArray.from_arrays([_one(a) for a in fields.values()], names=list(fields))


def _pairs(keys: np.ndarray, values: np.ndarray) -> pa.ListArray:
    """One {key, value} per row."""
    n = len(keys)
    inner = _struct(key=pa.array(keys), value=pa.array(values))
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), _one(inner))


def chunk(rng: np.random.Generator, n: int) -> pa.Table:
    sku = rng.integers(0, len(SKUS), n)
    hour = rng.integers(0, 720, n)
    micros = rng.integers(1, 40_000_000, n)
    start = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    starts = pa.array(
        [start + dt.timedelta(hours=int(h)) for h in range(720)], pa.timestamp("us", tz="UTC")
    ).take(pa.array(hour))
    ends = pa.array(
        [start + dt.timedelta(hours=int(h) + 1) for h in range(720)], pa.timestamp("us", tz="UTC")
    ).take(pa.array(hour))
    with_credit = np.arange(n) % 4 == 0
    counts = with_credit.astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    k = int(counts.sum())
    credit_micros = -(micros[with_credit] // 3)
    credits = _struct(
        name=pa.array(["CUD"] * k),
        amount=pa.array(credit_micros / 1e6),
        full_name=pa.array(["Committed use discount: A2"] * k),
        id=pa.array(["projects/p/regions/us-central1/commitments/c1"] * k),
        type=pa.array(["COMMITTED_USAGE_DISCOUNT"] * k),
    )
    text = lambda values, idx: pa.array(np.array(values)[idx])  # noqa: E731
    const = lambda v: pa.array([v] * n)  # noqa: E731
    return pa.table(
        {
            "billing_account_id": const("01A2B3-C4D5E6-F7A8B9"),
            "service": _struct(id=const("6F81-5844-456A"), description=const("Compute Engine")),
            "sku": _struct(id=pa.array(np.char.add("SKU-", sku.astype(str))),
                           description=text(SKUS, sku)),
            "usage_start_time": starts,
            "usage_end_time": ends,
            "project": _struct(id=text(TEAMS, sku % 6), name=text(TEAMS, sku % 6)),
            "labels": _pairs(np.array(["team"] * n), np.array(TEAMS)[(hour + sku) % 6]),
            "system_labels": _pairs(np.array(["compute.googleapis.com/machine_spec"] * n),
                                    np.array(MACHINES)[sku % 4]),
            "location": _struct(location=const("us-central1"), region=const("us-central1"),
                                zone=const("us-central1-a")),
            "cost": pa.array(micros / 1e6),
            "currency": const("USD"),
            "usage": _struct(amount=pa.array(np.full(n, 3600.0)), unit=const("seconds"),
                             amount_in_pricing_units=pa.array(np.ones(n)),
                             pricing_unit=const("hour")),
            "credits": pa.ListArray.from_arrays(pa.array(offsets), credits),
            "invoice": _struct(month=const("202609")),
            "cost_type": const("regular"),
            "resource": _struct(name=pa.array(np.char.add("vm-", (hour % 97).astype(str))),
                                global_name=pa.array(np.char.add("//compute/vm-",
                                                                 (hour % 97).astype(str)))),
        }
    )  # fmt: skip


def generate(path: Path, lines: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    writer = None
    done = 0
    while done < lines:
        table = chunk(rng, min(CHUNK, lines - done))
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
        done += table.num_rows
    assert writer is not None
    writer.close()


def floor_cmd(src: Path, out: Path) -> list[str]:
    sql = (
        "COPY (SELECT * REPLACE (CAST(cost AS DECIMAL(38,12)) AS cost), "
        "list_sum([CAST(c.amount AS DECIMAL(38,12)) FOR c IN credits]) AS credit_total "
        f"FROM read_parquet('{src}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
    )
    return [sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"]


# The load alone: what `finops ingest gcp` does before the post-ingest refresh.
LOAD_CHILD = """
import sys, tempfile
from pathlib import Path
from ingest.sources import gcp
from ingest.sources.gcp_export import discover
from ingest.warehouse.store import Store
with tempfile.TemporaryDirectory(prefix="finops-gcp-") as work:
    Store(sys.argv[2]).load_cost_lines(
        gcp.period_loads(discover(Path(sys.argv[1])), sys.argv[1], Path(work))
    )
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", type=Path, help="reuse/keep the generated export here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gcp-") as tmp:
        src = (args.data or Path(tmp) / "gcp") / "202609.parquet"
        src.parent.mkdir(parents=True, exist_ok=True)
        if not src.exists():
            t = time.perf_counter()
            generate(src, args.lines)
            print(f"generated {args.lines:,} lines in {time.perf_counter() - t:.1f} s", flush=True)
        floor, ours, load = ingest_runs(
            args.repeats,
            Path(tmp),
            lambda out: floor_cmd(src, out),
            ["gcp", str(src)],
            LOAD_CHILD,
        )
        print_ingest_table(
            args.lines,
            f"input: {args.lines:,} GCP detailed-export lines (+{args.lines // 4:,} credits), "
            f"{src.stat().st_size / 2**20:.0f} MiB Parquet; medians of {args.repeats}",
            [
                ("DuckDB Parquet→Parquet, DECIMAL cost + credit sum (floor)", floor),
                ("`finops ingest gcp`", ours),
                ("load only (no post-ingest refresh)", load),
            ],
        )


if __name__ == "__main__":
    main()
