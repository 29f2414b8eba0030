"""Derived data records the source version it was built from, and is repaired.

A restated billing period whose row N changes class (an egress line becomes a GPU line) is
committed, then the ingest is SIGKILLed before or inside its refresh (ingest/warehouse/pause.py).
Line ids are the partition's row numbers, so the old classes would be read for the new lines:
`finops check` names the stale partition, the finance pack refuses to print it, and a re-ingest of
the same files (which commits nothing) or `finops vacuum` repairs it, to the cent of a run that was
never killed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from dashboard.cli.finops import main
from ingest.derive import lineage
from ingest.warehouse.connection import connect
from ingest.warehouse.pause import PAUSE_POINTS
from models.settings import Settings
from tests.fixtures.cur import cur2_table
from tests.fixtures.warehouse_state import REPO

pytestmark = pytest.mark.slow

PAYER = "111111111111"
SEPT_PART = f"aws-cur2/{PAYER}/2026-09"
DERIVED_POINTS = [p for p in PAUSE_POINTS if p == "refresh" or p.startswith("derived:")]
# the line classes a user sees, by class: lines and cost to the cent
BY_CLASS = (
    "select strftime(BillingPeriodStart, '%Y-%m'), x_AiClass, x_EgressKind, count(*), "
    "sum(EffectiveCost) from classified_costs group by all order by all"
)
HOURS = "select month, state, count(*), sum(cost) from gpu_hours group by all order by all"
EPISODES = "select count(*), sum(hours), sum(cost) from idle_episodes"


def run(*args: str) -> int:
    return main([*args])


def figures(root: Path) -> tuple:
    con = connect(root)
    return tuple(con.execute(q).fetchall() for q in (BY_CLASS, HOURS, EPISODES))


def restated_table(period: str) -> pa.Table:
    """The period's export restated: its last line (egress) is now a GPU instance-hour, so
    the row that was egress is a GPU line under the same line id."""
    table = cur2_table(period)
    rows = table.to_pylist()
    assert rows[-1]["line_item_usage_type"] == "USW2-DataTransfer-Out-Bytes"
    rows[-1].update(
        line_item_usage_type="USE1-BoxUsage:p4d.24xlarge",
        line_item_product_code="AmazonEC2",
        line_item_unblended_cost=32.7726,
        pricing_public_on_demand_cost=32.7726,
        product_instance_type="p4d.24xlarge",
        product=[("product_name", "AmazonEC2 product"), ("region_code", "us-east-1"),
                 ("gpu", "8")],
    )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=table.schema)


def write_export(folder: Path, table: pa.Table, period: str) -> Path:
    out = folder / f"BILLING_PERIOD={period}"
    out.mkdir(parents=True)
    pq.write_table(table, out / "export-00001.snappy.parquet")
    return out


def start(warehouse: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "--warehouse", str(warehouse), "ingest", *args],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def kill_at(warehouse: Path, point: str, *args: str) -> None:
    """Run `finops ingest ARGS` as a real process and SIGKILL it at `point`."""
    env = {**os.environ, "FINOPS_TEST_PAUSE_AT": point, "FINOPS_TEST_PAUSE_S": "120",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    proc = start(warehouse, env, *args)
    try:
        deadline = time.monotonic() + 120
        line, said = "", []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            said.append(line)
            if f"paused at {point}" in line or not line:
                break
        assert f"paused at {point}" in line, f"never reached {point}: {''.join(said)[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()


def write_smi_log(path: Path) -> None:
    """nvidia-smi --format=csv of the p4d's 8 GPUs in its billed hour (1 October 2026 00:00
    UTC): GPUs 0-2 idle, the rest busy."""
    lines = ["timestamp, name, pci.bus_id, uuid, index, utilization.gpu [%], "
             "memory.used [MiB], power.draw [W]"]  # fmt: skip
    for minute in range(60):
        for gpu in range(8):
            util = 0 if gpu < 3 else 90
            lines.append(
                f"2026/10/01 00:{minute:02d}:05.123, NVIDIA A100-SXM4-40GB, "
                f"00000000:{gpu + 10:02X}:00.0, GPU-{gpu}, {gpu}, {util} %, 1000 MiB, 100.00 W"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check(capsys: pytest.CaptureFixture, warehouse: Path) -> tuple[int, str]:
    capsys.readouterr()
    code = run("--warehouse", str(warehouse), "check")
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("lineage")
    first, restated = base / "first", base / "restated"
    write_export(first, cur2_table("2026-09"), "2026-09")
    write_export(first, cur2_table("2026-10", scale=2.0), "2026-10")
    target = write_export(restated, restated_table("2026-09"), "2026-09")
    warehouse = base / "warehouse"
    assert run("--warehouse", str(warehouse), "ingest", "aws", str(first)) == 0
    reference = base / "reference"  # the restatement by a run that was never killed
    shutil.copytree(warehouse, reference)
    assert run("--warehouse", str(reference), "ingest", "aws", str(target)) == 0
    old, new = figures(warehouse), figures(reference)
    # the restatement moves one line of September from egress to GPU compute
    assert ("2026-09", "egress", "internet", 1, Decimal("0.09")) in old[0]
    assert not any(r[:3] == ("2026-09", "egress", "internet") for r in new[0])
    assert old[1] != new[1]
    return {"warehouse": warehouse, "target": target, "reference": new}


@pytest.mark.parametrize("point", DERIVED_POINTS)
def test_a_restatement_killed_in_its_refresh_is_repaired_by_ingesting_it_again(
    world: dict, tmp_path: Path, capsys: pytest.CaptureFixture, point: str
) -> None:
    warehouse = tmp_path / "warehouse"
    shutil.copytree(world["warehouse"], warehouse)
    kill_at(warehouse, point, "aws", str(world["target"]))

    if point in ("refresh", "derived:class_keys", "derived:line_classes"):
        code, out = check(capsys, warehouse)
        assert code == 4
        assert (
            f"- line_classes: {SEPT_PART}: its cost lines were replaced after they were "
            "classified" in out
        )
        assert "run `finops vacuum` or ingest again; `finops classify` rebuilds everything" in out
    else:  # classified, killed before or inside the GPU-hours
        assert figures(warehouse)[0] == world["reference"][0]
        assert not [s for s in lineage.stale(warehouse, Settings()) if s.dataset == "line_classes"]
    assert lineage.stale(warehouse, Settings())

    capsys.readouterr()
    assert run("--warehouse", str(warehouse), "ingest", "aws", str(world["target"])) == 0
    assert "unchanged" in capsys.readouterr().out  # nothing new was committed ...
    assert figures(warehouse) == world["reference"]  # ... yet every derived figure is right
    assert check(capsys, warehouse)[0] == 0


@pytest.mark.heavy  # a kill loop; test_kill_recover.py's 20 random kills run beside it
def test_kills_at_random_moments_are_repaired_by_ingesting_again(
    world: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Wherever the kill lands (no pause point), ingesting the same files again gives the
    figures of a run that was never killed."""
    rng = random.Random(19)
    for i in range(3):
        warehouse = tmp_path / f"warehouse-{i}"
        shutil.copytree(world["warehouse"], warehouse)
        proc = start(warehouse, {**os.environ, "PYTHONPATH": str(REPO)}, "aws",
                     str(world["target"]))  # fmt: skip
        try:
            time.sleep(rng.uniform(1.0, 6.0))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) in (-signal.SIGKILL, 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stderr.close()
        assert run("--warehouse", str(warehouse), "ingest", "aws", str(world["target"])) == 0
        assert figures(warehouse) == world["reference"], i
        assert check(capsys, warehouse)[0] == 0


def test_vacuum_repairs_a_restatement_killed_before_its_refresh(
    world: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    warehouse = tmp_path / "warehouse"
    shutil.copytree(world["warehouse"], warehouse)
    kill_at(warehouse, "refresh", "aws", str(world["target"]))
    reports = tmp_path / "reports"

    # the finance pack is not written from stale classifications
    capsys.readouterr()
    code = run("--warehouse", str(warehouse), "report", "--month", "2026-09", "--format", "csv",
               "--out", str(reports))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 4
    assert err.count("\n") == 1, err
    assert (
        "derived data is out of date, so the finance pack would show wrong figures: "
        f"line_classes {SEPT_PART}: its cost lines were replaced after they were classified"
    ) in err
    assert "nothing was written; run `finops vacuum` or ingest again" in err
    assert not reports.exists()

    capsys.readouterr()
    assert run("--warehouse", str(warehouse), "vacuum", "--dry-run") == 0
    assert f"line_classes {SEPT_PART}: its cost lines" in capsys.readouterr().out
    assert lineage.stale(warehouse, Settings())  # a dry run changes nothing

    assert run("--warehouse", str(warehouse), "vacuum") == 0
    out = capsys.readouterr().out
    assert "Rebuilt derived data not built from the current sources:" in out
    assert figures(warehouse) == world["reference"]
    assert check(capsys, warehouse)[0] == 0
    assert run("--warehouse", str(warehouse), "report", "--month", "2026-09", "--format", "csv",
               "--out", str(reports)) == 0  # fmt: skip
    # and a vacuum with nothing stale rebuilds nothing
    capsys.readouterr()
    versions = {t: DeltaTable(str(warehouse / t)).version() for t in ("line_classes", "gpu_hours")}
    assert run("--warehouse", str(warehouse), "vacuum") == 0
    assert "Rebuilt" not in capsys.readouterr().out
    assert {t: DeltaTable(str(warehouse / t)).version() for t in versions} == versions
    # dropping history adds vacuum commits to every table: they are not data, nothing is stale
    assert run("--warehouse", str(warehouse), "vacuum", "--older-than", "0") == 0
    assert DeltaTable(str(warehouse / "gpu_hours")).version() > versions["gpu_hours"]
    assert "Rebuilt" not in capsys.readouterr().out
    assert lineage.stale(warehouse, Settings()) == []


def test_gpu_hours_stale_after_a_telemetry_load_killed_before_its_refresh(
    world: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_smi_log(logs / "gpu-01.csv")
    host_map = tmp_path / "hosts.csv"
    host_map.write_text("host,resource_id\ngpu-01,i-0000\n", encoding="utf-8")  # the p4d line
    args = ("telemetry", "nvidia-smi", str(logs), "--tz", "UTC", "--host-map", str(host_map))
    reference = tmp_path / "reference"
    shutil.copytree(world["warehouse"], reference)
    assert run("--warehouse", str(reference), "ingest", *args) == 0
    warehouse = tmp_path / "warehouse"
    shutil.copytree(world["warehouse"], warehouse)
    before = figures(warehouse)

    kill_at(warehouse, "refresh", *args)

    assert figures(reference)[1] != before[1]  # telemetry changes October's GPU-hours
    code, out = check(capsys, warehouse)
    assert code == 4
    assert "- gpu_hours: 2026-10: GPU telemetry changed after it was built" in out
    # the next ingest, of anything, repairs it
    assert run("--warehouse", str(warehouse), "ingest", "aws", str(world["target"])) == 0
    clean = tmp_path / "clean"
    shutil.copytree(reference, clean)
    assert run("--warehouse", str(clean), "ingest", "aws", str(world["target"])) == 0
    assert figures(warehouse) == figures(clean)
    assert check(capsys, warehouse)[0] == 0


def test_derived_tables_that_record_nothing_are_served_and_rebuilt_at_the_next_write(
    world: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A warehouse written before derived data recorded its sources: nothing says its
    figures are wrong, so readers serve them; the next write rebuilds and records it."""
    warehouse = tmp_path / "warehouse"
    shutil.copytree(world["warehouse"], warehouse)
    for name in ("line_classes", "gpu_hours", "idle_episodes"):  # as the older finops wrote
        table = DeltaTable(str(warehouse / name))
        write_deltalake(
            str(warehouse / name), table.to_pyarrow_table(), mode="overwrite",
            partition_by=table.metadata().partition_columns or None,
            commit_properties=CommitProperties(custom_metadata={"note": "older finops"}),
        )  # fmt: skip
    from models.rollups import ROLLUPS

    for table in ROLLUPS:  # nor did it keep rollups
        shutil.rmtree(warehouse / table.name)
    shutil.rmtree(warehouse / "unit_costs")  # nor unit costs
    found = lineage.stale(warehouse, Settings())
    assert [(s.dataset, s.recorded) for s in found] == [
        ("line_classes", False),
        ("gpu_hours", False),
        ("idle_episodes", False),
        *((t.name, False) for t in ROLLUPS),
    ]
    assert check(capsys, warehouse)[0] == 0  # not damage, and nothing says it is wrong
    reports = tmp_path / "reports"
    assert run("--warehouse", str(warehouse), "report", "--month", "2026-09", "--format", "csv",
               "--out", str(reports)) == 0  # fmt: skip
    assert run("--warehouse", str(warehouse), "vacuum") == 0  # a writer: rebuilds and records
    assert lineage.stale(warehouse, Settings()) == []
    assert lineage.recorded(DeltaTable(str(warehouse / "line_classes"))) == {
        SEPT_PART: lineage.partition_fingerprints(
            DeltaTable(str(warehouse / "cost_lines")), lineage.PART
        )[SEPT_PART],
        f"aws-cur2/{PAYER}/2026-10": lineage.partition_fingerprints(
            DeltaTable(str(warehouse / "cost_lines")), lineage.PART
        )[f"aws-cur2/{PAYER}/2026-10"],
    }
    assert figures(warehouse) == figures(world["warehouse"])
