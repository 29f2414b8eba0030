"""Benchmark: classification of N cost lines and the idle join over a year of GPU-hours.

Each measured task runs in its own process (so its peak RSS is its own) and is repeated;
the median wall time and peak RSS are reported beside a DuckDB floor on the same data in the
same run: a plain group-by over the same lines (classification), a join + group-by of the
same telemetry and billing (idle). Targets: <= 3x the floor, peak RSS <= 4 GiB. "idle" is
gpu_hours and idle_episodes as a full refresh stages them; "idle_hours" the gpu_hours alone.
Last, idle_episodes as a monthly refresh derives them: the runs near one month, against (as
before) the whole table.

    python bench/bench_classify.py                  # 10M lines, 500 GPUs x 1 year, 3 repeats
    python bench/bench_classify.py --lines 1000000 --gpus 64 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = datetime(2025, 11, 1, tzinfo=UTC)


# ---- data -----------------------------------------------------------------------------------


def make_lines(path: Path, n: int) -> None:
    """N cost lines shaped like a large AWS+Azure estate: many resources, few usage types."""
    import numpy as np
    import polars as pl

    from models.schema import COST_LINES, conform

    rng = np.random.default_rng(7)
    usage = [
        "USE1-BoxUsage:p5.48xlarge", "BoxUsage:g6.xlarge", "BoxUsage:m5.large",
        "USE2-BoxUsage:c6i.2xlarge", "DataTransfer-Out-Bytes", "USE1-USW2-AWS-Out-Bytes",
        "DataTransfer-Regional-Bytes", "NatGateway-Bytes", "TimedStorage-ByteHrs",
        "USE1-Train:ml.g5.2xlarge", "USE1-Host:ml.g5.xlarge", "USE2-EBS:VolumeUsage.gp3",
        "USE1-Meta-Llama3-70B-input-tokens", "US-DataTransfer-Out-Bytes", "SpotUsage:g5.xlarge",
    ]  # fmt: skip
    codes = ["AmazonEC2"] * 8 + [
        "AmazonS3", "AmazonSageMaker", "AmazonSageMaker", "AmazonEC2", "AmazonBedrock",
        "AmazonCloudFront", "AmazonEC2",
    ]  # fmt: skip
    teams = ["research", "platform", "search", "recsys", "vision", "speech"]
    workloads = ["training", "inference", "experimentation", "data_prep", None]
    u = rng.integers(0, len(usage), n)
    t = rng.integers(0, len(teams), n)
    w = rng.integers(0, len(workloads), n)
    tags = [
        json.dumps({"team": teams[i], **({"workload": workloads[j]} if workloads[j] else {})})
        for i in range(len(teams))
        for j in range(len(workloads))
    ]
    hours = rng.integers(0, 24 * 365, n)
    frame = pl.DataFrame(
        {
            "x_LineId": np.arange(n, dtype=np.int64),
            "x_UsageType": pl.Series(usage, dtype=pl.String).gather(u),
            "x_ServiceCode": pl.Series(codes, dtype=pl.String).gather(u),
            "Tags": pl.Series(tags, dtype=pl.String).gather(t * len(workloads) + w),
            "ResourceId": pl.Series([f"i-{k:017x}" for k in rng.integers(0, 200_000, n)]),
            "ProviderName": pl.repeat("AWS", n, eager=True),
            "PublisherName": pl.repeat("Amazon Web Services, Inc.", n, eager=True),
            "ChargeCategory": pl.repeat("Usage", n, eager=True),
            "ServiceName": pl.repeat("Amazon Elastic Compute Cloud", n, eager=True),
            "ServiceCategory": pl.repeat("Compute", n, eager=True),
            "ServiceSubcategory": pl.repeat("Virtual Machines", n, eager=True),
            "BillingAccountId": pl.repeat("412395078111", n, eager=True),
            "SubAccountId": pl.Series([f"{100000000000 + k}" for k in rng.integers(0, 40, n)]),
            "BillingCurrency": pl.repeat("USD", n, eager=True),
            "EffectiveCost": pl.Series(rng.integers(1, 10_000_000, n)).cast(pl.Decimal(38, 12))
            / 1000,
            "ChargePeriodStart": pl.Series(START.timestamp() * 1e6 + hours * 3_600_000_000)
            .cast(pl.Int64)
            .cast(pl.Datetime("us", "UTC")),
        }
    )
    frame = frame.with_columns(
        (pl.col("ChargePeriodStart") + pl.duration(hours=1)).alias("ChargePeriodEnd"),
        pl.col("ChargePeriodStart").dt.truncate("1mo").alias("BillingPeriodStart"),
    )
    conform(frame.lazy(), COST_LINES).sink_parquet(path, row_group_size=1_000_000)


def make_idle(folder: Path, gpus: int) -> None:
    """Hourly billing of gpus/8 8-GPU instances for a year, and one telemetry row per GPU-hour."""
    import numpy as np
    import polars as pl

    from models.schema import MONEY, UTC_TS

    hosts = max(1, gpus // 8)
    hours = 24 * 365
    idx = np.arange(hosts * hours)
    host = idx // hours
    hour = pl.Series(START.timestamp() * 1e6 + (idx % hours) * 3_600_000_000).cast(pl.Int64)
    lines = pl.DataFrame(
        {
            "ResourceId": pl.Series([f"i-{k:017x}" for k in range(hosts)]).gather(host),
            "ResourceName": pl.Series(
                [f"ip-10-0-{k // 250}-{k % 250}" for k in range(hosts)]
            ).gather(host),
            "ChargeCategory": pl.repeat("Usage", len(idx), eager=True),
            "CommitmentDiscountStatus": pl.repeat(None, len(idx), dtype=pl.String, eager=True),
            "ChargePeriodStart": hour.cast(UTC_TS),
            "ChargePeriodEnd": (hour + 3_600_000_000).cast(UTC_TS),
            "ConsumedQuantity": pl.repeat(1, len(idx), eager=True).cast(MONEY),
            "ConsumedUnit": pl.repeat("Hrs", len(idx), eager=True),
            "EffectiveCost": pl.repeat(44, len(idx), eager=True).cast(MONEY),
            "ProviderName": pl.repeat("AWS", len(idx), eager=True),
            "x_Source": pl.repeat("aws-cur2", len(idx), eager=True),
            "BillingCurrency": pl.repeat("USD", len(idx), eager=True),
            "x_AiClass": pl.repeat("gpu_compute", len(idx), eager=True),
            "x_Team": pl.repeat("research", len(idx), eager=True),
            "x_GpuPerInstance": pl.repeat(8.0, len(idx), eager=True),
            "x_GpuModelName": pl.repeat("H100", len(idx), eager=True),
        }
    )
    lines.write_parquet(folder / "gpu_lines.parquet")
    rng = np.random.default_rng(3)
    n = len(idx) * 8
    util = pl.DataFrame(
        {
            "hour": hour.cast(UTC_TS).gather(np.repeat(np.arange(len(idx)), 8)),
            "host": lines["ResourceName"].gather(np.repeat(np.arange(len(idx)), 8)),
            "resource_id": lines["ResourceId"].gather(np.repeat(np.arange(len(idx)), 8)),
            "gpu_index": np.tile(np.arange(8, dtype=np.int64), len(idx)),
            "gpu_uuid": pl.repeat(None, n, dtype=pl.String, eager=True),
            "avg_active": rng.choice([0.0, 0.01, 0.2, 0.9], n),
            "max_active": rng.choice([0.0, 0.5, 1.0], n),
            "max_mem_used_mib": rng.choice([0.0, 40_000.0], n),
            "samples": pl.repeat(60, n, eager=True),
        }
    )
    util.write_parquet(folder / "gpu_util.parquet")


# ---- tasks (each in its own process) ------------------------------------------------------


def task_classify(folder: Path) -> dict:
    import functools

    from ingest.derive import line_classes, scratch
    from ingest.derive.classified import _decide, rulebook
    from models.classify import key_columns
    from models.schema import COST_LINES
    from models.settings import Settings

    book = rulebook(Settings())
    keys = key_columns(book.ruleset, COST_LINES.names)
    # as a refresh stages one partition: the DuckDB pass over the Parquet file, each line's
    # class combination written beside its id, the combinations kept for class_keys
    with scratch.connect(folder) as con:
        lines = [([str(folder / "lines.parquet")], {})]
        source = line_classes.files_source(con, lines, ["x_LineId", *keys])
        done = line_classes.classify_lines(
            con, source, keys, functools.partial(_decide, book), folder / "classified.parquet"
        )
    done.classes.write_parquet(folder / "class_keys.parquet")
    return {"rows": done.rows}


def task_classify_floor(folder: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    src = str(folder / "lines.parquet")
    con.execute(
        "copy (select x_UsageType, x_ServiceCode, Tags, SubAccountId, count(*) as n, "
        f"sum(EffectiveCost) as cost from read_parquet('{src}') group by all) "
        f"to '{folder / 'floor.parquet'}' (format parquet)"
    )
    return {"rows": con.execute(f"select count(*) from '{folder / 'floor.parquet'}'").fetchone()[0]}


def task_idle(folder: Path, episodes: bool = True) -> dict:
    # as refresh_gpu_hours / refresh_episodes do it: DuckDB, staged Parquet, bounded memory
    from ingest.derive.gpu_hours import write_gpu_hours, write_idle_episodes
    from ingest.derive.scratch import connect
    from models.settings import IdleSettings

    settings = IdleSettings()
    lines = (  # the bench lines have no x_LineId: their order in the file stands in for it
        f"SELECT *, file_row_number AS x_LineId FROM "
        f"read_parquet('{folder / 'gpu_lines.parquet'}', file_row_number = true)"
    )
    util = f"SELECT * FROM read_parquet('{folder / 'gpu_util.parquet'}')"
    hours = folder / "gpu_hours"  # x_PartMonth=YYYY-MM/ files, as refresh stages them
    staged = folder / "episodes.parquet" if episodes else None
    with connect(folder) as con:
        done = write_gpu_hours(con, lines, util, None, settings, hours, episodes=staged)
        if staged is not None and done.episodes is None:  # as refresh_episodes does then
            write_idle_episodes(
                con, f"SELECT * FROM read_parquet('{hours}/*/*.parquet')", settings, staged
            )
    return {"rows": done.rows, "episodes_with_hours": done.episodes is not None}


def task_idle_hours(folder: Path) -> dict:
    """The join alone: gpu_hours staged without the episodes."""
    return task_idle(folder, episodes=False)


def _episodes_task(folder: Path, months: list[str] | None) -> dict:
    """idle_episodes as a monthly refresh derives them after gpu_hours moved on: from the
    whole table (`months` None, as before), or only the runs near `months` with the rest
    kept from the full refresh's episodes. Reads what the idle task left in `folder`."""
    from ingest.derive.gpu_hours import write_idle_episodes, write_idle_episodes_window
    from ingest.derive.scratch import connect
    from models.settings import IdleSettings

    hours = f"SELECT * FROM read_parquet('{folder / 'gpu_hours'}/*/*.parquet')"
    old = f"SELECT * FROM read_parquet('{folder / 'episodes.parquet'}')"
    out = folder / "episodes_again.parquet"
    with connect(folder) as con:
        if months is None:
            rows = write_idle_episodes(con, hours, IdleSettings(), out)
        else:
            rows = write_idle_episodes_window(con, hours, old, months, IdleSettings(), out)
    return {"rows": rows}


def task_episodes_whole(folder: Path) -> dict:
    return _episodes_task(folder, None)


def task_episodes_month(folder: Path) -> dict:
    return _episodes_task(folder, ["2026-05"])  # a month in the middle of the year


def task_idle_floor(folder: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    lines, util = folder / "gpu_lines.parquet", folder / "gpu_util.parquet"
    con.execute(
        f"""copy (
          with b as (select ResourceId, ChargePeriodStart as hour,
                            sum(EffectiveCost) / 8 as cost
                     from '{lines}' group by all)
          select u.resource_id, u.gpu_index, u.hour, b.cost,
                 case when u.avg_active < 0.05 then 'idle' else 'busy' end as state
          from '{util}' u join b on b.ResourceId = u.resource_id and b.hour = u.hour
        ) to '{folder / "idle_floor.parquet"}' (format parquet)"""
    )
    return {"rows": con.execute(f"select count(*) from '{folder / 'idle_floor.parquet'}'")
            .fetchone()[0]}  # fmt: skip


def task_make(folder: Path) -> dict:
    lines, gpus = (int(x) for x in (folder / "size").read_text().split())
    make_lines(folder / "lines.parquet", lines)
    make_idle(folder, gpus)
    return {"rows": lines}


TASKS = {
    "make": task_make,
    "classify": task_classify,
    "classify_floor": task_classify_floor,
    "idle": task_idle,
    "idle_hours": task_idle_hours,
    "idle_floor": task_idle_floor,
    "episodes_whole": task_episodes_whole,
    "episodes_month": task_episodes_month,
}


def run_child(task: str, folder: Path) -> tuple[float, float, dict]:
    """(seconds, peak RSS GiB, result) of one task in a fresh process (ru_maxrss of the
    child alone, from wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--task", task, "--folder", str(folder)],
        stdout=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    out = proc.stdout.read().decode() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"task {task} failed:\n{out}")
    return elapsed, usage.ru_maxrss / 1024 / 1024, json.loads(out.strip().splitlines()[-1])


def machine() -> str:
    cores = os.cpu_count()
    mem = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.splitlines()
    total = mem[1].split()[1] if len(mem) > 1 else "?"
    return f"{cores} cores, {total} GiB RAM, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--gpus", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--task")
    ap.add_argument("--folder")
    args = ap.parse_args()
    if args.task:
        print(json.dumps(TASKS[args.task](Path(args.folder))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # data is made in a child too: a child's peak RSS includes what its parent held
        (folder / "size").write_text(f"{args.lines} {args.gpus}")
        run_child("make", folder)
        print(f"# bench_classify: {args.lines:,} lines; {args.gpus} GPUs x 8760 h; "
              f"median of {args.repeats}; {machine()}")  # fmt: skip
        tasks = (
            "classify", "classify_floor", "idle", "idle_hours", "idle_floor",
            "episodes_whole", "episodes_month",  # read what "idle" wrote
        )  # fmt: skip
        runs: dict[str, list] = {t: [] for t in tasks}
        for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits all
            for t in tasks:
                runs[t].append(run_child(t, folder))
        med = {t: statistics.median(r[0] for r in rs) for t, rs in runs.items()}
        rss = {t: max(r[1] for r in rs) for t, rs in runs.items()}
        for name, floor in (
            ("classify", "classify_floor"), ("idle", "idle_floor"), ("idle_hours", "idle_floor")
        ):  # fmt: skip
            rows = runs[name][0][2]["rows"]
            print(
                f"{name:10s} {rows:>11,} rows  {med[name]:7.2f} s  peak {rss[name]:5.2f} GiB | "
                f"DuckDB floor {med[floor]:6.2f} s  peak {rss[floor]:5.2f} GiB | "
                f"ratio {med[name] / med[floor]:4.2f}x"
            )
        whole, month = med["episodes_whole"], med["episodes_month"]
        print(
            f"monthly refresh's idle_episodes: one month's runs {month:.2f} s "
            f"(peak {rss['episodes_month']:.2f} GiB) against the whole table {whole:.2f} s "
            f"(peak {rss['episodes_whole']:.2f} GiB): {whole / month:.1f}x faster"
        )


if __name__ == "__main__":
    main()
