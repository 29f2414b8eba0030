"""A load that changes no GPU line does not rebuild its month's GPU data.

A month of GPU estate (tests/fixtures/gpu_skip.py) is ingested; then a SaaS invoice file for
the same month, and a re-delivery of the AWS period that only adds a storage line, leave
gpu_hours, idle_episodes, the GPU rollups and telemetry_monthly at their Delta versions, with
nothing reported stale. A restatement that drops one GPU line, or changes one GPU line's cost,
rebuilds them to the figures of a warehouse that only ever saw the restated period; killed
between its commit and its refresh, the month is reported stale until the next ingest (of
anything) repairs it. A warehouse of the earlier records is served, then rebuilt once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from dashboard.cli.finops import main
from ingest.derive import lineage
from ingest.warehouse.connection import connect
from models.settings import Settings
from tests.fixtures import gpu_skip
from tests.fixtures.gpu_months import COST
from tests.fixtures.kill import REPO

pytestmark = pytest.mark.slow

HOURS = "select state, count(*), sum(cost) from gpu_hours group by all order by all"
EPISODES = "select count(*), sum(hours), sum(cost) from idle_episodes"
TOTAL = "select sum(EffectiveCost) from cost_lines where BillingCurrency = 'USD'"
INVOICES = """vendor,product,team,month,amount,currency,seats,active_seats,invoice_id
GitHub,Copilot Business,platform,2026-09,1900.00,USD,100,71,GH-2026-09
Mistral AI,Le Chat Team,research,2026-09,899.99,EUR,30,12,MI-09
"""


def figures(root: Path) -> tuple:
    con = connect(root)
    return tuple(con.execute(q).fetchall() for q in (HOURS, EPISODES, TOTAL))


def gpu_versions(root: Path) -> dict[str, int]:
    return {t: DeltaTable(str(root / t)).version() for t in gpu_skip.GPU_TABLES}


def check(root: Path, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--warehouse", str(root), "check"])
    return code, capsys.readouterr().out


def ingest_saas(root: Path, folder: Path) -> None:
    path = folder / "invoices.csv"
    path.write_text(INVOICES, encoding="utf-8")
    assert main(["--warehouse", str(root), "ingest", "saas", str(path)]) == 0


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gpu-skip") / "warehouse"
    gpu_skip.first_month(root)
    assert lineage.stale(root, Settings()) == []
    return root


@pytest.fixture(scope="module")
def restated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """The figures of warehouses that only ever saw each restated period."""
    out = {}
    for change in ("drop-busy-line", "cheaper-idle-line"):
        root = tmp_path_factory.mktemp(change) / "warehouse"
        gpu_skip.first_month(root, change)
        out[change] = figures(root)
    return out


@pytest.fixture
def warehouse(month: Path, tmp_path: Path) -> Path:
    root = tmp_path / "warehouse"
    shutil.copytree(month, root)
    return root


def test_a_saas_month_without_gpu_lines_leaves_the_gpu_month_as_it_was(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before, versions = figures(warehouse), gpu_versions(warehouse)
    classes = DeltaTable(str(warehouse / "line_classes")).version()

    ingest_saas(warehouse, tmp_path)

    assert DeltaTable(str(warehouse / "line_classes")).version() > classes  # classified ...
    assert gpu_versions(warehouse) == versions  # ... but no GPU table was rewritten
    after = figures(warehouse)
    assert after[:2] == before[:2]
    assert after[2][0][0] == before[2][0][0] + Decimal("1900.00")  # the invoice is loaded
    assert lineage.stale(warehouse, Settings()) == []
    assert check(warehouse, capsys)[0] == 0


def test_a_redelivery_that_changes_no_gpu_line_leaves_the_gpu_month_as_it_was(
    warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    before, versions = figures(warehouse), gpu_versions(warehouse)
    cost_lines = DeltaTable(str(warehouse / "cost_lines")).version()

    gpu_skip.restate(warehouse, "storage-line")

    assert DeltaTable(str(warehouse / "cost_lines")).version() > cost_lines  # committed
    assert gpu_versions(warehouse) == versions
    after = figures(warehouse)
    assert after[:2] == before[:2]
    assert after[2][0][0] == before[2][0][0] + Decimal("2.30")
    assert lineage.stale(warehouse, Settings()) == []
    assert check(warehouse, capsys)[0] == 0


@pytest.mark.parametrize(
    ("change", "hours_less", "idle_less"),
    [
        ("drop-busy-line", COST, Decimal(0)),  # 8 busy GPU-hours of 12.29 gone
        ("cheaper-idle-line", COST / 2, COST / 16),  # one idle GPU-hour 12.29 -> 6.145
    ],
)
def test_a_restatement_of_a_gpu_line_rebuilds_the_month(
    warehouse: Path,
    restated: dict[str, tuple],
    capsys: pytest.CaptureFixture,
    change: str,
    hours_less: Decimal,
    idle_less: Decimal,
) -> None:
    before, versions = figures(warehouse), gpu_versions(warehouse)

    gpu_skip.restate(warehouse, change)

    now = gpu_versions(warehouse)
    assert all(now[t] > versions[t] for t in versions), (versions, now)
    after = figures(warehouse)
    assert after == restated[change]
    assert sum(r[2] for r in before[0]) - sum(r[2] for r in after[0]) == hours_less
    assert before[1][0][2] - after[1][0][2] == idle_less
    assert lineage.stale(warehouse, Settings()) == []
    assert check(warehouse, capsys)[0] == 0


def commit_then_kill(root: Path, change: str) -> None:
    """Restate as a separate process, SIGKILLed once its load is committed, before its
    refresh (the `refresh` pause point)."""
    env = {**os.environ, "FINOPS_TEST_PAUSE_AT": "refresh", "FINOPS_TEST_PAUSE_S": "120",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.gpu_skip", str(root), change],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline, line, said = time.monotonic() + 120, "", []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            said.append(line)
            if "paused at refresh" in line or not line:
                break
        assert "paused at refresh" in line, "".join(said)[-2000:]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_a_gpu_restatement_killed_before_its_refresh_is_stale_until_the_next_ingest(
    warehouse: Path, tmp_path: Path, restated: dict[str, tuple], capsys: pytest.CaptureFixture
) -> None:
    versions = gpu_versions(warehouse)

    commit_then_kill(warehouse, "drop-busy-line")

    assert gpu_versions(warehouse) == versions  # committed lines, nothing derived
    stale = {(s.dataset, s.part, s.recorded) for s in lineage.stale(warehouse, Settings())}
    assert ("gpu_hours", gpu_skip.MONTH, True) in stale
    code, out = check(warehouse, capsys)
    assert code == 4
    assert f"- gpu_hours: {gpu_skip.MONTH}: GPU cost lines changed after it was built" in out

    ingest_saas(warehouse, tmp_path)  # the next ingest, of anything, repairs it

    assert lineage.stale(warehouse, Settings()) == []
    hours, episodes, total = figures(warehouse)
    assert (hours, episodes) == restated["drop-busy-line"][:2]
    assert total[0][0] == restated["drop-busy-line"][2][0][0] + Decimal("1900.00")
    assert check(warehouse, capsys)[0] == 0


def commit_record(table: Path, record: dict[str, str]) -> None:
    """A commit of no data whose commit info is `record`, as an earlier version wrote it."""
    empty = DeltaTable(str(table)).to_pyarrow_table().slice(0, 0)
    write_deltalake(
        str(table), empty, mode="append",
        partition_by=DeltaTable(str(table)).metadata().partition_columns or None,
        commit_properties=CommitProperties(custom_metadata=record),
    )  # fmt: skip


def test_a_warehouse_of_the_earlier_records_is_served_then_rebuilt_once(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """line_classes without GPU line digests, and GPU tables that recorded whole cost_lines
    partitions (as the earlier version wrote them): nothing says their figures are wrong, so
    they are served; the next ingest classifies and rebuilds them once, with records."""
    before = figures(warehouse)
    earlier = {
        "line_classes": lineage.recorded(DeltaTable(str(warehouse / "line_classes"))),
        **{
            name: {
                month: {("cost_lines" if k == "gpu_lines" else k): v for k, v in entry.items()}
                for month, entry in lineage.recorded(DeltaTable(str(warehouse / name))).items()
            }
            for name in ("gpu_hours", *lineage.GPU_ROLLUPS)
        },
    }
    for name, record in earlier.items():
        commit_record(warehouse / name, lineage.metadata(record))
    episodes = lineage.recorded(DeltaTable(str(warehouse / "idle_episodes")), lineage.EPISODES_OF)
    episodes["gpu_hours"] = DeltaTable(str(warehouse / "gpu_hours")).version()
    commit_record(warehouse / "idle_episodes", {lineage.EPISODES_OF: json.dumps(episodes)})
    assert lineage.recorded(DeltaTable(str(warehouse / "line_classes")), lineage.GPU_LINES) is None
    shutil.rmtree(warehouse / "unit_costs")  # nor did the earlier version cost units
    found = lineage.stale(warehouse, Settings())
    assert [(s.dataset, s.recorded) for s in found] == [
        ("line_classes", False),
        ("gpu_hours", False),
    ]
    assert "does not record the GPU lines it was built from" in str(found[1])
    assert check(warehouse, capsys)[0] == 0  # served: nothing says the figures are wrong
    versions = gpu_versions(warehouse)

    ingest_saas(warehouse, tmp_path)

    now = gpu_versions(warehouse)
    assert all(now[t] > versions[t] for t in versions), (versions, now)
    assert lineage.stale(warehouse, Settings()) == []
    after = figures(warehouse)
    assert after[:2] == before[:2]
    assert check(warehouse, capsys)[0] == 0
