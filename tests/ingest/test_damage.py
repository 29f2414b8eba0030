"""A damaged warehouse: `finops check` names the damage and what to do; every other command
refuses it with one message (exit 4, no traceback) and changes nothing; vacuum never deletes
from a folder it cannot read or that is not a warehouse.

The warehouse is built by the real ingest of three small CUR 2.0 months (cost_lines versions
0, 1, 2), then damaged the way disks, sync tools and people damage files.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from deltalake import DeltaTable

from dashboard.cli.finops import main
from ingest.warehouse import alert_log
from ingest.warehouse.store import Store
from tests.fixtures.batches import batch
from tests.fixtures.cur import STORED_ROWS, write_cur2
from tests.fixtures.warehouse_health import run, table_states
from tests.fixtures.warehouse_state import REPO

MONTHS = ("2026-08", "2026-09", "2026-10")
LOG = Path("cost_lines") / "_delta_log"

# The cost-line rollups the dashboard reads, derived at ingest (models/rollups.py).
COST_ROLLUPS = (
    "spend_daily", "egress_daily", "tools_monthly", "tag_daily", "billed_periods",
    "top_lines_parts", "commitment_months",
)  # fmt: skip


def commit(version: int) -> Path:
    return LOG / f"{version:020d}.json"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exports")
    for month in (*MONTHS, "2026-11"):
        write_cur2(root / month, month)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, exports: Path) -> Path:
    root = tmp_path_factory.mktemp("built") / "warehouse"
    for month in MONTHS:
        target = exports / month / f"BILLING_PERIOD={month}"
        assert main(["--warehouse", str(root), "ingest", "aws", str(target)]) == 0
    assert DeltaTable(str(root / "cost_lines")).version() == 2
    return root


@pytest.fixture
def warehouse(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse"
    shutil.copytree(built, copy)
    return copy


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under the folder by its content: what a refused command must not change."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---- the damages --------------------------------------------------------------------------


def truncate_last_commit(root: Path) -> None:
    path = root / commit(2)
    path.write_bytes(path.read_bytes()[:300])


def garbage_commit(root: Path) -> None:
    (root / commit(1)).write_bytes(b"PK\x03\x04 this was overwritten by a sync tool\n")


def empty_commit(root: Path) -> None:
    (root / commit(1)).write_bytes(b"")  # Delta reads it as a commit of nothing


def delete_middle_commit(root: Path) -> None:
    (root / commit(1)).unlink()


def corrupt_checkpoint(root: Path) -> None:
    DeltaTable(str(root / "cost_lines")).create_checkpoint()
    path = root / LOG / f"{2:020d}.checkpoint.parquet"
    path.write_bytes(path.read_bytes()[:100])


def delete_data_file(root: Path) -> None:
    (september,) = (root / "cost_lines").rglob("x_PartPeriod=2026-09/*.parquet")
    september.unlink()


def truncate_data_file(root: Path) -> None:
    (october,) = (root / "cost_lines").rglob("x_PartPeriod=2026-10/*.parquet")
    october.write_bytes(october.read_bytes()[:1000])


def delete_last_commit(root: Path) -> None:
    (root / commit(2)).unlink()  # Delta opens version 1; loads still lists version 2


def delete_log(root: Path) -> None:
    shutil.rmtree(root / LOG)


# damage, what `finops check` must say of cost_lines, what it must say to do
DAMAGES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "truncated commit": (
        truncate_last_commit,
        "commit version 2 (00000000000000000002.json) is not valid JSON at line 1",
        "restore cost_lines/_delta_log/00000000000000000002.json from a backup",
    ),
    "garbage commit": (
        garbage_commit,
        "commit version 1 (00000000000000000001.json) is not valid JSON at line 1",
        "restore cost_lines/_delta_log/00000000000000000001.json from a backup",
    ),
    "empty commit": (
        empty_commit,
        "commit version 1 (00000000000000000001.json) is empty",
        "restore cost_lines/_delta_log/00000000000000000001.json from a backup",
    ),
    "missing middle commit": (
        delete_middle_commit,
        "commit version 1 is missing (versions 2..2 cannot be read without it)",
        "restore cost_lines/_delta_log/00000000000000000001.json from a backup",
    ),
    "corrupt checkpoint": (
        corrupt_checkpoint,
        "checkpoint of version 2: 00000000000000000002.checkpoint.parquet cannot be read",
        "delete cost_lines/_delta_log/00000000000000000002.checkpoint.parquet (every commit "
        "up to version 2 is still there)",
    ),
    "missing data file": (
        delete_data_file,
        "1 data file(s) of the current version are missing, e.g. "
        "cost_lines/x_PartSource=aws-cur2/x_PartAccount=111111111111/x_PartPeriod=2026-09/",
        "restore the missing file(s) from a backup",
    ),
    "truncated data file": (
        truncate_data_file,
        "1 data file(s) differ in size from the log, e.g. cost_lines/x_PartSource=aws-cur2/"
        "x_PartAccount=111111111111/x_PartPeriod=2026-10/",
        "restore the file(s) from a backup",
    ),
    "last commit deleted": (
        delete_last_commit,
        "(aws-cur2, account 111111111111, period 2026-10) is listed at version 2, but the "
        "table ends at version 1: that commit is gone",
        "restore cost_lines/_delta_log/00000000000000000002.json from a backup; without a "
        "backup, ingest every export again into a new warehouse (this load's export: "
        "aws-cur2 2026-10 from ",
    ),
    "_delta_log deleted": (
        delete_log,
        "has data files but no _delta_log: its history is gone",
        "restore cost_lines/_delta_log from a backup",
    ),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_check_names_the_damage_and_what_to_do(
    warehouse: Path, capsys: pytest.CaptureFixture, damage: str
) -> None:
    harm, said, remedy = DAMAGES[damage]
    harm(warehouse)
    before = fingerprint(warehouse)
    code, out, err = run(capsys, "--warehouse", str(warehouse), "check")
    assert code == 4
    problems = [line for line in out.splitlines() if line.startswith("- ")]
    assert problems == [f"- cost_lines: {problems[0].split(': ', 1)[1]}"], out  # one, named
    assert said in problems[0]
    assert remedy in out
    assert "Warehouse damaged" in err and "1 problem(s) in 1 table(s)" in err
    states = table_states(out)
    assert states.pop("cost_lines") != "healthy"
    assert states == dict.fromkeys(
        ("loads", "line_classes", "class_keys", "gpu_hours", "idle_episodes", "gpu_buckets",
         "gpu_demand", "gpu_owned_days", "telemetry_monthly", "unit_costs", "api_usage_parts",
         *COST_ROLLUPS),
        "healthy",
    )  # fmt: skip
    assert fingerprint(warehouse) == before


def test_the_real_command_refuses_without_a_traceback(warehouse: Path) -> None:
    delete_middle_commit(warehouse)
    done = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "--warehouse", str(warehouse), "query",
         "select count(*) from cost_lines"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 4
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"Warehouse damaged: {warehouse}: the warehouse is damaged: cost_lines: commit version "
        "1 is missing (versions 2..2 cannot be read without it) — nothing was read or "
        "changed; run `finops check` to see every problem and what to do"
    ]


def _commands(warehouse: Path, exports: Path, out: Path) -> dict[str, list[str]]:
    november = exports / "2026-11" / "BILLING_PERIOD=2026-11"
    return {
        "query": ["query", "select count(*), sum(BilledCost) from cost_lines"],
        "loads": ["loads"],
        "report": ["report", "--month", "2026-09", "--format", "csv", "--out", str(out)],
        "ingest": ["ingest", "aws", str(november)],
        "vacuum": ["vacuum"],
        "classify": ["classify"],
    }


@pytest.mark.parametrize("command", ["query", "loads", "report", "ingest", "vacuum", "classify"])
@pytest.mark.parametrize("damage", DAMAGES)
def test_every_command_refuses_a_damaged_warehouse_and_changes_nothing(
    warehouse: Path,
    exports: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    damage: str,
    command: str,
) -> None:
    harm, said, _ = DAMAGES[damage]
    harm(warehouse)
    before = fingerprint(warehouse)
    args = _commands(warehouse, exports, tmp_path / "reports")[command]
    code, out, err = run(capsys, "--warehouse", str(warehouse), *args)
    assert code == 4, out + err
    assert err.count("\n") == 1, err  # one message
    assert err.startswith(f"Warehouse damaged: {warehouse}: the warehouse is damaged: cost_lines: ")
    assert said.split(" (")[0].split(", e.g.")[0] in err
    assert "run `finops check`" in err
    assert "Traceback" not in out + err
    assert fingerprint(warehouse) == before


def test_a_healthy_warehouse_checks_healthy(built: Path, capsys: pytest.CaptureFixture) -> None:
    before = fingerprint(built)
    code, out, err = run(capsys, "--warehouse", str(built), "check")
    assert code == 0, out + err
    assert "All 19 tables are healthy." in out
    assert table_states(out) == dict.fromkeys(
        ("cost_lines", "loads", "line_classes", "class_keys", "gpu_hours", "idle_episodes",
         "gpu_buckets", "gpu_demand", "gpu_owned_days", "telemetry_monthly", "unit_costs",
         "api_usage_parts", *COST_ROLLUPS),
        "healthy",
    )  # fmt: skip
    assert fingerprint(built) == before


def test_derived_data_older_than_its_source_is_reported_until_rebuilt(
    warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    # a load committed without its refresh (the process died in between)
    Store(warehouse).load_cost_lines([batch("2026-11", ["12.34"])])
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "check")
    assert code == 4
    assert (
        "- line_classes: aws-cur2/111122223333/2026-11: its cost lines were loaded after the "
        "last classification" in out
    )
    assert (
        "- gpu_hours: 2026-11: cost lines or telemetry of this month were loaded after it was "
        "built" in out
    )
    assert "run `finops vacuum` or ingest again; `finops classify` rebuilds everything" in out
    # stale derived data is not damage: raw SQL still answers, with a warning
    code, out, err = run(capsys, "--warehouse", str(warehouse), "query", "select 1 as one")
    assert code == 0
    assert err.startswith(
        "warning: derived data is out of date (line_classes aws-cur2/111122223333/2026-11: "
    )
    assert run(capsys, "--warehouse", str(warehouse), "classify")[0] == 0
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "check")
    assert code == 0, out
    code, out, err = run(capsys, "--warehouse", str(warehouse), "query", "select 1 as one")
    assert (code, err) == (0, "")


def test_vacuum_refuses_a_folder_that_is_not_a_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "documents"
    (folder / "_staging").mkdir(parents=True)
    (folder / "_staging" / "thesis.docx").write_bytes(b"four years of work")
    (folder / "_staging" / "20260901T000000Z-0123abcd.parquet").write_bytes(b"x")
    before = fingerprint(folder)
    code, _, err = run(capsys, "--warehouse", str(folder), "vacuum")
    assert code == 4
    assert err == (
        f"Warehouse error: {folder}: not a finops warehouse (none of its tables has a Delta "
        "log); vacuum removed nothing — expected a folder holding cost_lines/_delta_log, "
        "loads/_delta_log, ... — check --warehouse; if the logs were deleted, restore them "
        "from a backup\n"
    )
    assert fingerprint(folder) == before


def test_vacuum_of_a_missing_folder_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    missing = tmp_path / "no" / "warehouse"
    code, _, err = run(capsys, "--warehouse", str(missing), "vacuum")
    assert code == 4
    assert "no warehouse here: the folder does not exist; nothing was removed or created" in err
    assert not (tmp_path / "no").exists()


def test_vacuum_removes_only_the_names_the_store_writes_from_staging(
    warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    staging = warehouse / "_staging"
    staging.mkdir(exist_ok=True)
    (staging / "thesis.docx").write_bytes(b"four years of work")
    (staging / "20260901T000000Z-0123abcd.parquet").write_bytes(b"x")
    (staging / "gpu_hours-20260901T000000Z-0123abcd").mkdir()
    (staging / "gpu_hours-20260901T000000Z-0123abcd" / "x_PartMonth=2026-09").mkdir()
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "vacuum")
    assert code == 0
    assert "Removed 2 file(s)." in out
    assert sorted(p.name for p in staging.iterdir()) == ["thesis.docx"]
    assert (staging / "thesis.docx").read_bytes() == b"four years of work"


def test_a_damaged_derived_table_is_rebuilt_as_check_says(
    warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    last = max((warehouse / "line_classes" / "_delta_log").glob("*.json"))
    last.write_bytes(last.read_bytes()[:200])
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "check")
    assert code == 4
    assert "delete the line_classes folder and run `finops classify`" in out
    assert run(capsys, "--warehouse", str(warehouse), "classify")[0] == 4  # refused as is
    shutil.rmtree(warehouse / "line_classes")
    assert run(capsys, "--warehouse", str(warehouse), "classify")[0] == 0
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "check")
    assert code == 0, out
    code, out, _ = run(
        capsys, "--warehouse", str(warehouse), "query", "--format", "csv",
        "select count(*) as n, count(x_AiClass) as classified from classified_costs",
    )  # fmt: skip
    assert out == f"n,classified\n{3 * STORED_ROWS},{3 * STORED_ROWS}\n"


def test_check_of_a_folder_without_a_warehouse(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "--warehouse", str(tmp_path / "none"), "check")
    assert code == 4 and "no warehouse here yet" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "--warehouse", str(tmp_path / "empty"), "check")
    assert code == 4 and "not a finops warehouse" in err


@pytest.mark.slow
def test_a_first_load_killed_before_its_commit_is_a_leftover_not_damage(
    tmp_path: Path, exports: Path, capsys: pytest.CaptureFixture
) -> None:
    # the data file is moved into cost_lines/ just before the table's first commit
    from tests.fixtures.kill import run_until

    warehouse = tmp_path / "warehouse"
    september = exports / "2026-09" / "BILLING_PERIOD=2026-09"
    run_until(warehouse, september, "write")
    (leftover,) = (warehouse / "cost_lines").rglob("*.parquet")
    assert not (warehouse / "cost_lines" / "_delta_log").exists()
    assert run(capsys, "--warehouse", str(warehouse), "check")[0] == 0
    assert run(capsys, "--warehouse", str(warehouse), "ingest", "aws", str(september))[0] == 0
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "vacuum")
    assert code == 0
    assert out.splitlines() == ["Removed 1 file(s).", f"  {leftover}"]
    code, out, _ = run(
        capsys, "--warehouse", str(warehouse), "query", "--format", "csv",
        "select count(*) as n from cost_lines",
    )  # fmt: skip
    assert out == f"n\n{STORED_ROWS}\n"
    assert run(capsys, "--warehouse", str(warehouse), "check")[0] == 0


def test_the_read_side_names_a_table_delta_cannot_open(warehouse: Path) -> None:
    # what the dashboard asks first (is the snapshot still current?) on a damaged log
    from ingest.warehouse.connection import versions
    from models.errors import DamagedWarehouseError

    delete_middle_commit(warehouse)
    with pytest.raises(DamagedWarehouseError) as err:
        versions(warehouse)
    assert str(err.value).startswith(
        f"{warehouse}: the warehouse is damaged: cost_lines: Delta cannot open it: "
    )
    assert str(err.value).endswith("run `finops check` to see what to do")


def test_a_lost_commit_whose_number_another_took_is_named(
    warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    delete_last_commit(warehouse)
    table = DeltaTable(str(warehouse / "cost_lines"))
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 60 days"})
    assert DeltaTable(str(warehouse / "cost_lines")).version() == 2  # a commit, not the load
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "check")
    assert code == 4
    (problem,) = [line for line in out.splitlines() if line.startswith("- ")]
    assert problem.endswith(
        "(aws-cur2, account 111111111111, period 2026-10) is listed at version 2, but that "
        "commit holds no load: the load's own commit was lost and another took its number"
    )


# ---- the watch's record (alert_state) ------------------------------------------------------

WATCHED = ("Over budget | team nlp | 2026-10", "Idle GPUs | i-gpu1 | 2026-10")


def record_alerts(root: Path) -> Path:
    """Two commits of `finops watch`'s record (conditions resolved), as a watch leaves them."""
    store = Store(root)
    for condition in WATCHED:
        alert_log.append(store, [alert_log.resolved_row(condition)])
    return root / "alert_state"


def test_a_damaged_alert_state_is_reported_with_what_a_watch_would_do(
    warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    table = record_alerts(warehouse)
    last = table / "_delta_log" / f"{1:020d}.json"
    last.write_bytes(last.read_bytes()[:120])
    code, out, err = run(capsys, "--warehouse", str(warehouse), "check")
    assert code == 4
    problems = [line for line in out.splitlines() if line.startswith("- ")]
    assert problems == [
        "- alert_state: commit version 1 (00000000000000000001.json) is not valid JSON at line 1 "
        "(Unterminated string starting at): truncated or overwritten"
    ], out
    advice = out.split("What to do:", 1)[1].split("truncated or overwritten", 1)[1]
    remedy = " ".join(advice.split())
    assert remedy == (
        "restore alert_state/_delta_log/00000000000000000001.json from a backup; without one, "
        "delete the alert_state folder: the next `finops watch` sends every alert that still "
        "holds once more (under its same alert id) and the Alerts page forgets the earlier ones"
    )
    states = table_states(out)
    assert states.pop("alert_state") != "healthy"
    assert set(states.values()) == {"healthy"}
    assert "1 problem(s) in 1 table(s)" in err
    # as said: without the folder the warehouse is whole again, the record starts anew
    shutil.rmtree(table)
    assert run(capsys, "--warehouse", str(warehouse), "check")[0] == 0


def test_vacuum_removes_the_unused_files_of_alert_state(
    warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    table = record_alerts(warehouse)
    live = sorted(table.glob("*.parquet"))
    assert len(live) == 2
    orphan = table / "part-00001-killed-before-its-commit.parquet"
    shutil.copy(live[0], orphan)  # a data file no commit references
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "vacuum")
    assert code == 0, out
    assert "Removed 1 file(s)." in out and orphan.name in out
    assert sorted(table.glob("*.parquet")) == live
    kept = alert_log.read(Store(warehouse))
    assert sorted(kept["condition"]) == sorted(WATCHED)
    code, out, _ = run(capsys, "--warehouse", str(warehouse), "check")
    assert code == 0 and table_states(out)["alert_state"] == "healthy"
