"""Training-run ingest speed and memory: a generated Slurm accounting log of 1 million jobs.

Writes a year of `sacct --parsable2 --allocations --format=JobID,JobName,Account,User,
Partition,Submit,Start,End,State,AllocTRES,NodeList` output of a cluster of 320 8-GPU nodes
(header line; local times of America/New_York, none in the hour the clock skips; GPU counts
in AllocTRES as `gres/gpu=N`; multi-node jobs as hostlist ranges such as
`gpu-node-[017-019,031]`; about one job in eight on the CPU partition without GPUs, some
pending with an Unknown start, some still running with an Unknown end), then in the same run
and on the same file measures, each in its own process (peak RSS from wait4):

- floor: DuckDB reading the file (`read_csv(..., delim='|', header=true)`, the three times
  typed as TIMESTAMP) and writing it to Parquet — the least any ingest must do;
- finops: `finops ingest jobs slurm FILE --cluster iad1 --tz America/New_York` into a fresh
  warehouse (parse, hostlist expansion, zone conversion, checks, one Delta commit, then the
  post-ingest refresh);
- load: the same without the post-ingest refresh (reader + `Store.load_training_runs`).

    python bench/bench_ingest_jobs.py [--lines 1000000] [--repeats 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from measure import generated_input, ingest_runs, print_ingest_table

CLUSTER, TZ = "iad1", "America/New_York"
NODES, GPUS_PER_NODE = 320, 8
TEAMS = ["research", "speech", "vision", "search", "ads", "platform"]
USERS = ["dnovak", "bchen", "akim", "mrossi", "jpatel", "lwong", "sfischer", "tnguyen"]
KINDS = ["pretrain", "finetune", "eval", "asr", "sweep", "prep"]
GPU_CHOICES = np.array([1, 2, 4, 8, 16, 32])  # 16 and 32 span 2 and 4 nodes
GPU_WEIGHTS = np.array([0.30, 0.20, 0.20, 0.20, 0.07, 0.03])
FIELDS = "JobID|JobName|Account|User|Partition|Submit|Start|End|State|AllocTRES|NodeList"
YEAR_START = dt.datetime(2025, 1, 1)
# America/New_York skipped 02:00-03:00 local on 2025-03-09: no sacct time falls there
GAP_START = dt.datetime(2025, 3, 9, 2)


def _local(seconds: np.ndarray) -> pl.Series:
    """Seconds since the year's start -> sacct's local `YYYY-MM-DDTHH:MM:SS`; from the
    spring change on the clock reads an hour later (in autumn it repeats an hour, which
    the ingest reads as the earlier reading), so no time falls in the skipped hour and
    a job's local End stays after its Start."""
    at = np.datetime64(YEAR_START) + seconds.astype("timedelta64[s]")
    at = np.where(at >= np.datetime64(GAP_START), at + np.timedelta64(1, "h"), at)
    return pl.Series(at.astype("datetime64[ms]")).dt.strftime("%Y-%m-%dT%H:%M:%S")


def jobs(lines: int, seed: int = 24) -> pl.DataFrame:
    """`lines` sacct job lines of one cluster over a year, in submit order."""
    rng = np.random.default_rng(seed)
    n = lines
    submit = np.sort(rng.integers(0, 365 * 86400 - 30 * 86400, n))
    wait = rng.exponential(1800, n).astype(np.int64)
    runtime = np.maximum(60, rng.lognormal(8.5, 1.3, n)).astype(np.int64)  # median ~80 min
    start, end = submit + wait, submit + wait + runtime
    gpus = rng.choice(GPU_CHOICES, n, p=GPU_WEIGHTS)
    cpu_only = rng.random(n) < 0.125
    gpus = np.where(cpu_only, 0, gpus)
    nodes = np.maximum(1, -(-gpus // GPUS_PER_NODE))
    first = rng.integers(1, NODES - 11, n)
    # a multi-node job sometimes takes its last node away from the others: `[017-019,031]`
    split = (nodes > 1) & (rng.random(n) < 0.4)
    last = np.where(split, first + nodes - 1 + rng.integers(2, 8, n), first + nodes - 1)
    # only the last two days' jobs are still pending or running when sacct is asked
    late = submit > submit[-1] - 2 * 86400
    state_roll = np.where(late, rng.random(n), rng.random(n) * 0.96)
    state = np.select(
        [state_roll < 0.80, state_roll < 0.88, state_roll < 0.93, state_roll < 0.96,
         state_roll < 0.985],
        ["COMPLETED", "FAILED", "CANCELLED by 1234", "TIMEOUT", "PENDING"],
        "RUNNING",
    )  # fmt: skip
    frame = pl.DataFrame(
        {
            "job": np.arange(1_000_000, 1_000_000 + n),
            "team": np.array(TEAMS)[rng.integers(0, len(TEAMS), n)],
            "kind": np.array(KINDS)[rng.integers(0, len(KINDS), n)],
            "user": np.array(USERS)[rng.integers(0, len(USERS), n)],
            "gpus": gpus,
            "nodes": nodes,
            "first": first,
            "last": last,
            "split": split,
            "cpu_only": cpu_only,
            "state": state,
            "submit": _local(submit),
            "start": _local(start),
            "end": _local(end),
        }
    )
    pad = lambda c: pl.col(c).cast(pl.String).str.zfill(3)  # noqa: E731
    first_to = pl.concat_str(pad("first"), pl.lit("-"), (pl.col("first") + pl.col("nodes") - 2)
                             .cast(pl.String).str.zfill(3))  # fmt: skip
    ranges = (
        pl.when(pl.col("nodes") == 1)
        .then(pl.concat_str(pl.lit("gpu-node-"), pad("first")))
        .when(pl.col("split") & (pl.col("nodes") == 2))
        .then(pl.concat_str(pl.lit("gpu-node-["), pad("first"), pl.lit(","), pad("last"),
                            pl.lit("]")))
        .when(pl.col("split"))
        .then(pl.concat_str(pl.lit("gpu-node-["), first_to, pl.lit(","), pad("last"),
                            pl.lit("]")))
        .otherwise(pl.concat_str(pl.lit("gpu-node-["), pad("first"), pl.lit("-"), pad("last"),
                                 pl.lit("]")))
    )  # fmt: skip
    cpus = pl.col("nodes") * pl.when(pl.col("cpu_only")).then(32).otherwise(
        16 * pl.col("gpus") / pl.col("nodes")
    )
    cpus = cpus.cast(pl.Int64).cast(pl.String)
    gres = pl.when(pl.col("cpu_only")).then(pl.lit("")).otherwise(
        pl.concat_str(pl.lit("gres/gpu="), pl.col("gpus").cast(pl.String), pl.lit(","))
    )  # fmt: skip
    pending = pl.col("state") == "PENDING"
    return frame.select(
        pl.col("job").cast(pl.String).alias("JobID"),
        pl.concat_str("team", pl.lit("-"), "kind", pl.lit("-"), pl.col("job").cast(pl.String))
        .alias("JobName"),
        pl.col("team").alias("Account"),
        pl.col("user").alias("User"),
        pl.when(pl.col("cpu_only")).then(pl.lit("cpu")).otherwise(pl.lit("gpu")).alias("Partition"),
        pl.col("submit").alias("Submit"),
        pl.when(pending).then(pl.lit("Unknown")).otherwise("start").alias("Start"),
        pl.when(pending | (pl.col("state") == "RUNNING")).then(pl.lit("Unknown"))
        .otherwise("end").alias("End"),
        pl.col("state").alias("State"),
        pl.concat_str(pl.lit("billing="), cpus, pl.lit(",cpu="), cpus, pl.lit(","), gres,
                      pl.lit("mem="), (pl.col("nodes") * 512).cast(pl.String),
                      pl.lit("G,node="), pl.col("nodes").cast(pl.String)).alias("AllocTRES"),
        pl.when(pending).then(pl.lit("None assigned"))
        .when(pl.col("cpu_only")).then(pl.concat_str(pl.lit("cpu-"), pad("first")))
        .otherwise(ranges).alias("NodeList"),
    )  # fmt: skip


def generate(path: Path, lines: int) -> None:
    frame = jobs(lines)
    assert "|".join(frame.columns) == FIELDS
    frame.write_csv(path, separator="|", quote_style="never")


def floor_cmd(src: Path, out: Path) -> list[str]:
    sql = (
        f"COPY (SELECT * FROM read_csv('{src}', delim='|', header=true, "
        "nullstr=['Unknown', 'None'], "
        "types={'Submit': 'TIMESTAMP', 'Start': 'TIMESTAMP', 'End': 'TIMESTAMP'})) "
        f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
    )
    return [sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"]


# The load alone: what `finops ingest jobs slurm` does before the post-ingest refresh.
LOAD_CHILD = f"""
import sys
from pathlib import Path
from ingest.sources import slurm
from ingest.warehouse.load_contract import RunsLoad
from ingest.warehouse.store import Store
files, parts = [], []
for record, rows in slurm.read_files([Path(sys.argv[1])], {CLUSTER!r}, {TZ!r}):
    files.append(record)
    parts.append(rows)
load = RunsLoad("slurm", {CLUSTER!r}, slurm.allocations(parts), files, sys.argv[1])
Store(sys.argv[2]).load_training_runs(load)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", type=Path, help="reuse/keep the generated log here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        src = (args.data or Path(tmp) / "jobs") / f"{CLUSTER}-sacct.txt"
        generated_input(src, lambda path: generate(path, args.lines), f"{args.lines:,} jobs")
        floor, ours, load = ingest_runs(
            args.repeats,
            Path(tmp),
            lambda out: floor_cmd(src, out),
            ["jobs", "slurm", "--cluster", CLUSTER, "--tz", TZ, str(src)],
            LOAD_CHILD,
        )
        print_ingest_table(
            args.lines,
            f"input: {args.lines:,} sacct job lines of {NODES} 8-GPU nodes over a year, "
            f"{src.stat().st_size / 2**20:.0f} MiB; medians of {args.repeats}",
            [
                ("DuckDB CSV→Parquet, typed timestamps (floor)", floor),
                ("`finops ingest jobs slurm`", ours),
                ("load only (no post-ingest refresh)", load),
            ],
        )


if __name__ == "__main__":
    main()
