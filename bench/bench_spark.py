"""Benchmark: the heavy steps on Spark against the default engine.

    python bench/bench_spark.py WAREHOUSE [WAREHOUSE...] [--repeats 3]
    python bench/bench_spark.py --demo DATA [--repeats 1]
    python bench/bench_spark.py --sources EXPORT [--repeats 3]

For each warehouse (a built one: `finops demo --no-serve`, or the sample at `--scale N`
through demo) it copies the warehouse twice and then, `repeats` times in turn, each in its
own process: the floor (DuckDB grouping every line by the key columns the rules read, over
the same snapshot files: the least any engine must do), the classification pass of `finops
classify` with the default engine (DuckDB), and the same with `--engine spark` (a local
session, local[*]: the JVM's start is part of what a user waits for). The classification
pass is `ingest.derive.classified.refresh_classifications` of every partition, staged and
committed by the store; then the cost-line rollups of every partition (`rollups.rebuild_all`)
with each engine. Spark's JVM is a child of the child: its CPU seconds and peak RSS are read
from /proc before it ends and reported beside the Python process's. Prints a Markdown table
of medians.

With `--demo DATA` (a folder of sample exports, `finops sample --out DATA`), it runs instead,
each in its own process into a new folder, `finops demo --no-serve --data DATA` with the
default engine and with `--engine spark`: every ingest, classification, GPU-hours and
rollups, as a user runs it.

With `--sources EXPORT` (an AWS CUR export: `sample_data/aws/acme-cur2`), it times source
normalisation alone, each in its own process: the floor (the reader listing and checking the
export on the driver, as every engine does first), the default engine (the floor, then every
load's lines normalised by polars, as the store reads them) and Spark (the floor, then each
file normalised by a Spark task, `ingest/engines/spark_sources.py`, and read back as the
store reads them). Nothing is committed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import machine  # noqa: E402

CHILD = """
import json, os, sys
from pathlib import Path
task, root, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
from ingest.warehouse.store import Store
from models.settings import EngineSettings, Settings
jvm = {}
if not task.startswith(("demo-", "sources-")):
    store = Store(root)
if task.startswith("sources-"):
    from ingest.sources import aws
    rows = 0
    with aws.open_export(Path(sys.argv[4])) as loads:
        if task == "sources-spark":
            from ingest.engines import spark_sources
            staging = root / "staging"
            staging.mkdir(parents=True)
            with spark_sources.normalised(EngineSettings(name="spark"), loads, staging) as done:
                rows = sum(f.height for load in done for f in load.chunks())
        elif task == "sources-duckdb":
            rows = sum(f.height for load in loads for f in load.chunks())
        else:
            rows = sum(load.source_total > 0 for load in loads)
elif task.startswith("demo-"):
    import contextlib, io
    from dashboard.cli.finops import main
    with contextlib.redirect_stdout(io.StringIO()) as said:
        code = main(["--warehouse", str(root), "--engine", task[5:], "demo", "--no-serve",
                     "--data", sys.argv[4]])
    assert code == 0, said.getvalue()
    rows = Store(root).table("cost_lines").to_pyarrow_table(columns=["x_LineId"]).num_rows
elif task.startswith("rollups-"):
    from ingest.derive import rollups
    rows = rollups.rebuild_all(store, EngineSettings(name=task[8:]))
elif task == "floor":
    import duckdb
    from ingest.derive import line_classes
    from ingest.derive.classified import _partition_files, rulebook
    from models.classify import key_columns
    from models.schema import COST_LINES
    keys = key_columns(rulebook(Settings()).ruleset, COST_LINES.names)
    files = _partition_files(store, store.table("cost_lines"), None)
    con = duckdb.connect()
    source = line_classes.files_source(con, files, ["x_LineId", *keys])
    cols = ", ".join('"' + k + '"' for k in keys)
    rows = con.execute(
        f"SELECT sum(n) FROM (SELECT {cols}, count(*) AS n FROM ({source}) GROUP BY ALL)"
    ).fetchall()[0][0]
else:
    from ingest.derive.classified import refresh_classifications, rulebook
    settings = Settings(engine=EngineSettings(name=task))
    with store.writer():
        rows = refresh_classifications(store, rulebook(settings), None)
if task.endswith("spark"):
        from pyspark.sql import SparkSession
        proc = SparkSession.getActiveSession().sparkContext._gateway.proc
        stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM"))
        jvm = {"cpu": (int(stat[11]) + int(stat[12])) / ticks, "rss": hwm * 1024}
out.write_text(json.dumps({"rows": rows, "jvm": jvm}))
"""


def run(task: str, root: Path, tmp: Path, data: Path | None = None) -> dict:
    """One child: wall, CPU and peak RSS of the Python process, and the JVM's for Spark."""
    out = tmp / f"{task}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, task, str(root), str(out), str(data or "")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{task} failed on {root}")
    said = json.loads(out.read_text())
    jvm = said["jvm"]
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime + jvm.get("cpu", 0.0),
        "rss": usage.ru_maxrss * 1024,
        "jvm_rss": jvm.get("rss", 0),
        "rows": said["rows"],
    }


def bench(warehouse: Path, repeats: int) -> list[tuple[str, dict]]:
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as name:
        tmp = Path(name)
        copies = {}
        for task in ("duckdb", "spark"):
            copies[task] = tmp / task
            shutil.copytree(warehouse, copies[task])
        copies["floor"] = copies["rollups-duckdb"] = copies["duckdb"]
        copies["rollups-spark"] = copies["spark"]
        tasks = ("floor", "duckdb", "spark", "rollups-duckdb", "rollups-spark")
        runs: dict[str, list[dict]] = {t: [] for t in tasks}
        for i in range(repeats):
            for task in runs:
                runs[task].append(run(task, copies[task], tmp))
            print(
                f"{warehouse.name} run {i + 1}: "
                + ", ".join(f"{t} {r[-1]['wall']:.1f} s" for t, r in runs.items()),
                flush=True,
            )
    return _medians(runs)


def bench_sources(export: Path, repeats: int) -> list[tuple[str, dict]]:
    """An export's normalisation alone: the reader's floor, polars, Spark."""
    runs: dict[str, list[dict]] = {t: [] for t in ("sources-floor", "sources-duckdb",
                                                    "sources-spark")}  # fmt: skip
    for i in range(repeats):
        for task in runs:
            with tempfile.TemporaryDirectory(prefix="bench-spark-") as name:
                runs[task].append(run(task, Path(name), Path(name), export))
        print(
            f"sources run {i + 1}: "
            + ", ".join(f"{t} {r[-1]['wall']:.1f} s" for t, r in runs.items()),
            flush=True,
        )
    floor = runs.pop("sources-floor")
    figures = _medians(runs)
    rows = figures[0][1]["rows"]
    median = {k: statistics.median(r[k] for r in floor) for k in floor[0]}
    return [("sources-floor", {**median, "rows": rows}), *figures]


def _medians(runs: dict[str, list[dict]]) -> list[tuple[str, dict]]:
    """Each task's median figures, once every run of every engine read the same lines."""
    lines = {r["rows"] for rs in runs.values() for r in rs}
    assert len(lines) == 1, f"the engines read different line counts: {lines}"
    return [(t, {k: statistics.median(r[k] for r in rs) for k in rs[0]}) for t, rs in runs.items()]


def bench_demo(data: Path, repeats: int) -> list[tuple[str, dict]]:
    """`finops demo --no-serve` of `data` with each engine, each run into a new folder."""
    runs: dict[str, list[dict]] = {t: [] for t in ("demo-duckdb", "demo-spark")}
    for i in range(repeats):
        for task in runs:
            with tempfile.TemporaryDirectory(prefix="bench-spark-") as name:
                runs[task].append(run(task, Path(name) / "warehouse", Path(name), data))
        print(
            f"demo run {i + 1}: "
            + ", ".join(f"{t} {r[-1]['wall']:.1f} s" for t, r in runs.items()),
            flush=True,
        )
    return _medians(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouses", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo", type=Path, help="a folder of sample exports")
    parser.add_argument("--sources", type=Path, help="an AWS CUR export to normalise")
    args = parser.parse_args()
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}")
    print(f"load before: {os.getloadavg()[0]:.1f} (1-minute average)")
    if args.sources is not None:
        figures = bench_sources(args.sources.resolve(), args.repeats)
        print(f"load after: {os.getloadavg()[0]:.1f} (1-minute average)")
        print()
        print("| step | lines | median wall s | CPU s | peak RSS python | peak RSS JVM "
              "| wall vs floor | wall vs duckdb |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        floor, duck = figures[0][1]["wall"], figures[1][1]["wall"]
        for task, f in figures:
            jvm = f"{f['jvm_rss'] / 2**30:.2f} GiB" if f["jvm_rss"] else "-"
            print(
                f"| {task[8:]} | {int(f['rows']):,} | {f['wall']:.1f} | {f['cpu']:.1f} | "
                f"{f['rss'] / 2**30:.2f} GiB | {jvm} | {f['wall'] / floor:.2f}x | "
                f"{f['wall'] / duck:.2f}x |"
            )
        return
    if args.demo is not None:
        demo = bench_demo(args.demo.resolve(), args.repeats)
        print(f"load after: {os.getloadavg()[0]:.1f} (1-minute average)")
        print()
        print("| engine | lines | median wall s | CPU s | peak RSS python | peak RSS JVM "
              "| wall vs duckdb | CPU vs duckdb |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        duck = demo[0][1]
        for task, f in demo:
            jvm = f"{f['jvm_rss'] / 2**30:.2f} GiB" if f["jvm_rss"] else "-"
            print(
                f"| {task[5:]} | {int(f['rows']):,} | {f['wall']:.1f} | {f['cpu']:.1f} | "
                f"{f['rss'] / 2**30:.2f} GiB | {jvm} | {f['wall'] / duck['wall']:.2f}x | "
                f"{f['cpu'] / duck['cpu']:.2f}x |"
            )
        return
    tables = [(wh, bench(wh, args.repeats)) for wh in args.warehouses]
    print(f"load after: {os.getloadavg()[0]:.1f} (1-minute average)")
    print()
    print("| warehouse | lines | engine | median wall s | CPU s | peak RSS python | peak RSS JVM "
          "| wall vs floor | wall vs duckdb |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for wh, figures in tables:
        floor, duck = figures[0][1]["wall"], figures[1][1]["wall"]
        rows = figures[1][1]["rows"]
        for task, f in figures:
            label = {"floor": "floor (DuckDB group-by)", "duckdb": "classify duckdb",
                     "spark": "classify spark"}.get(task, task.replace("-", " "))  # fmt: skip
            jvm = f"{f['jvm_rss'] / 2**30:.2f} GiB" if f["jvm_rss"] else "-"
            print(
                f"| {wh.name} | {int(rows):,} | {label} | {f['wall']:.1f} | {f['cpu']:.1f} | "
                f"{f['rss'] / 2**30:.2f} GiB | {jvm} | {f['wall'] / floor:.1f}x | "
                f"{f['wall'] / duck:.2f}x |"
            )


if __name__ == "__main__":
    main()
