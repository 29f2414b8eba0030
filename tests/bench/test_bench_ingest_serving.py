"""bench/bench_ingest_serving.py at a tiny size: its server speaks query_range as the reader
expects, its counters restart where planted (one at midnight, the reader's window edge), and
both the floor and the serving reader find the planted totals exactly."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ingest.sources import serving
from ingest.sources.prometheus import Client
from models.errors import InputError
from tests.fixtures.bench_scripts import bench_script


@pytest.fixture(scope="module")
def bench():
    return bench_script("bench_ingest_serving")


def test_counters_restart_where_planted_and_otherwise_only_grow(bench) -> None:
    fleet = bench.Fleet(11)
    i = np.arange(0, 2 * bench.DAY)
    values = fleet.values(0, i)
    drops = {(int(e), int(s) + 1) for e, s in zip(*np.nonzero(np.diff(values) < 0), strict=True)}
    assert drops == {(0, bench.DAY), (5, bench.DAY // 2 + 65), (10, bench.DAY)}
    assert values[0, bench.DAY] == fleet.steps[0][0, 0]  # counted from zero after the restart
    assert fleet.restarts_in(0, 2 * bench.DAY - 1) == 3 * 3


def test_the_floor_finds_the_planted_totals(bench, tmp_path: Path) -> None:
    fleet = bench.Fleet(6)
    bench.write_points(fleet, tmp_path / "points", 2)
    out = tmp_path / "floor.parquet"
    subprocess.run(bench.floor_cmd(tmp_path / "points", out), check=True, timeout=120)
    said = bench.check(bench.floor_usage(out), fleet, 2 * bench.DAY - 1, "floor")
    assert "6 endpoints' requests, prompt and generation tokens equal" in said
    assert "6 counter resets found" in said  # endpoint 0 at midnight, 5 at midday: 3 counters


def test_the_serving_reader_finds_the_planted_totals_through_the_server(bench) -> None:
    fleet = bench.Fleet(6)
    start = datetime.fromtimestamp(bench.ORIGIN, UTC)
    with bench.serve(fleet) as url:
        rows = serving.fetch(Client(url), start, start + timedelta(days=2), 15).collect()
        with pytest.raises(InputError, match="exceeded maximum resolution of 11,000 points"):
            Client(url).query_range(serving.SELECTOR, bench.ORIGIN, bench.ORIGIN + 86_400, 1)
    found = rows.group_by("host").agg(pl.col(f).sum() for f in (*bench.FIELDS, "resets"))
    assert found.height == 6
    said = bench.check(found, fleet, 2 * bench.DAY - 1, "finops")
    assert "6 counter resets found" in said
    assert rows["hour"].n_unique() == 48


@pytest.mark.heavy  # about half a minute: two child processes, each importing the stack
def test_a_tiny_run_checks_the_totals_and_prints_the_floor_and_the_command(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, str(root / "bench" / "bench_ingest_serving.py"), "--endpoints", "3",
           "--days", "1", "--repeats", "1", "--data", str(tmp_path / "data")]  # fmt: skip
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    said = "3 endpoints' requests, prompt and generation tokens equal the planted totals exactly"
    assert f"floor: {said}" in done.stdout and f"finops: {said}" in done.stdout
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")]
    labels = [r[0].lstrip("| ") for r in rows[1:]]
    floor, ours = "DuckDB points→hourly increases (floor)", "`finops ingest serving prometheus`"
    assert labels == [floor, ours]
    assert rows[1][-1].strip(" |") == "1.00x"
    assert "= 51,840 points" in done.stdout  # 3 endpoints x 3 counters x 5,760 scrapes
