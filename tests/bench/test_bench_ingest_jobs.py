"""bench/bench_ingest_jobs.py at a tiny size: its sacct log is one the Slurm reader takes
whole, GPU for GPU, and its floor reads every line with typed times."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingest.sources import slurm
from tests.fixtures.bench_scripts import bench_script

ROOT = Path(__file__).resolve().parents[2]


def _bench_jobs():
    return bench_script("bench_ingest_jobs")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "iad1-sacct.txt"
    _bench_jobs().generate(path, 5_000)
    return path


def test_the_reader_takes_every_gpu_of_every_started_job(log: Path) -> None:
    bench = _bench_jobs()
    lines = pl.read_csv(log, separator="|", infer_schema=False)
    assert lines.height == 5_000 and "|".join(lines.columns) == bench.FIELDS
    gpus = lines.select(
        "JobID",
        pl.col("AllocTRES").str.extract(r"gres/gpu=(\d+)").cast(pl.Int64).fill_null(0).alias("n"),
        pl.col("AllocTRES").str.extract(r"node=(\d+)").cast(pl.Int64).alias("nodes"),
        (pl.col("Start") != "Unknown").alias("started"),
        pl.col("NodeList").str.contains(r"\[\d+-\d+,\d+\]").alias("split_range"),
    )
    expected = gpus.filter(pl.col("n") > 0, "started")
    assert gpus["split_range"].sum() > 0 and expected.height < 5_000  # ranges, CPU jobs, pending

    rows = slurm.read_sacct(log, bench.CLUSTER, slurm.zone(bench.TZ))
    found = rows.group_by("job_id").agg(pl.col("gpus").sum().alias("n"), pl.len().alias("nodes"))
    joined = expected.join(found, left_on="JobID", right_on="job_id", how="full")
    assert joined.height == expected.height  # every planted GPU job, and nothing else
    assert (joined["n"] == joined["n_right"]).all()
    assert (joined["nodes"] == joined["nodes_right"]).all()  # each range expands to node=N hosts
    ended = rows.filter(pl.col("end").is_not_null())
    assert (ended["end"] >= ended["start"]).all()  # local times read back in order


def test_the_floor_reads_every_line_with_typed_times(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "floor.parquet"
    cmd = _bench_jobs().floor_cmd(log, out)
    subprocess.run(cmd, check=True, timeout=120)
    db = duckdb.connect()
    kinds = {r[0]: r[1] for r in db.execute(f"DESCRIBE SELECT * FROM '{out}'").fetchall()}
    assert kinds["Start"] == kinds["End"] == kinds["Submit"] == "TIMESTAMP"
    started = db.execute(f"SELECT count(*), count(Start) FROM '{out}'").fetchone()
    text = pl.read_csv(log, separator="|", infer_schema=False)
    assert started == (5_000, text.filter(pl.col("Start") != "Unknown").height)


@pytest.mark.heavy  # about a minute: three child processes a run, each importing the stack
def test_a_tiny_run_prints_the_floor_the_command_and_the_load(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "bench_ingest_jobs.py"), "--lines", "2000"]
    cmd += ["--repeats", "1", "--data", str(tmp_path / "data")]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")]
    labels = [r[0].lstrip("| ") for r in rows[1:]]  # under the header
    assert labels == [
        "DuckDB CSV→Parquet, typed timestamps (floor)",
        "`finops ingest jobs slurm`",
        "load only (no post-ingest refresh)",
    ]
    assert rows[1][-1].strip(" |") == "1.00x"  # the floor is its own yardstick
    assert "input: 2,000 sacct job lines" in done.stdout
    assert (tmp_path / "data" / "iad1-sacct.txt").read_text().count("\n") == 2_001
