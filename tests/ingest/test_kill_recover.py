"""Kill and recover: SIGKILL `finops ingest` at every pause point and at random moments of a
restatement with its refresh; after recovery every derived table equals a clean build's.

The estate (tests/fixtures/gpu_estate.py) has two months of AWS lines with GPU instances and
hourly telemetry; the ingest under test restates October so that lines change class and team
and the GPU-hours billed change. A clean build runs the same ingest uninterrupted into a copy
(timed: the random kills are spread over its duration). Each case copies the warehouse from
before the restatement, starts `finops ingest aws` as a real process, kills it, recovers
(`finops vacuum`, `finops check` healthy, the same ingest again; or the ingest again
directly) and compares: per-line classes and class sums to the cent, class_keys, gpu_hours
and idle_episodes row for row (no column is excluded: each is a function of the lines,
telemetry and settings), and cost_lines per period against the export's own totals.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import DeltaTable

from dashboard.cli.finops import main
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from ingest.warehouse.pause import PAUSE_POINTS
from models.classify import CLASSIFICATIONS
from models.settings import Settings
from tests.fixtures import gpu_estate
from tests.fixtures.kill import run_until, timeline

pytestmark = pytest.mark.slow

RANDOM_KILLS = 20
SEED = 20261019
MARKER = "stage"  # the export is read and staged: the commits and the refresh follow
# Kill times as fractions of the clean run: half spread over its start (interpreter, reading,
# staging) and half over the rest (commits and refresh), where what is stored changes; one in
# each equal slice, at a seeded place in it.
_DRAWS = random.Random(SEED)
FRACTIONS = [
    (half, (i + _DRAWS.random()) / (RANDOM_KILLS // 2))
    for half in ("start", "rest")
    for i in range(RANDOM_KILLS // 2)
]
# The default suite kills once where the old refresh lost its work; the rest is `heavy`.
SMOKE = ("refresh", "vacuum")
DERIVED = ("lines", "class_sums", "class_keys", "gpu_hours", "idle_episodes")
CLASS_COLUMNS = [c for c in CLASSIFICATIONS.names if c != "x_LineId"]
WATCHED = ("cost_lines", "idle_episodes")  # the first and the last commit of the ingest


def _q(name: str) -> str:
    return '"' + name + '"'


def snapshot(root: Path) -> dict[str, list[tuple]]:
    """Every derived table as a user reads it, and cost_lines' totals per billing period."""
    views.register_all(Settings())
    con = connect(root)
    cols = ", ".join(map(_q, CLASS_COLUMNS))
    period = "strftime(BillingPeriodStart, '%Y-%m')"

    def rows(sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    return {
        "lines": rows(
            f"SELECT x_LineId, {period}, ResourceId, EffectiveCost, {cols} "
            "FROM classified_costs ORDER BY x_LineId"
        ),
        "class_sums": rows(
            "SELECT x_AiClass, x_Workload, x_EgressKind, x_Team, x_Project, x_Environment, "
            "x_ToolFamily, BillingCurrency, count(*), sum(EffectiveCost) "
            "FROM classified_costs GROUP BY ALL ORDER BY ALL"
        ),
        "class_keys": rows(f"SELECT x_ClassKey, {cols} FROM class_keys ORDER BY x_ClassKey"),
        "gpu_hours": rows("SELECT * FROM gpu_hours ORDER BY ALL"),
        "idle_episodes": rows("SELECT * FROM idle_episodes ORDER BY ALL"),
        "periods": rows(
            f"SELECT {period}, count(*), sum(BilledCost), sum(EffectiveCost) FROM cost_lines "
            "GROUP BY 1 ORDER BY 1"
        ),
    }


def assert_same(got: dict[str, list[tuple]], want: dict[str, list[tuple]], when: str) -> None:
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, f"after a kill {when}, {differ} differ from a clean build's"


@dataclass(frozen=True)
class Estate:
    before: Path  # the warehouse before the restatement
    restated: Path  # October restated, as Data Exports delivers it
    clean: dict[str, list[tuple]]  # snapshot of the uninterrupted ingest
    staged: float  # seconds from its start until it passed MARKER
    seconds: float  # seconds from its start until it exited


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    base = tmp_path_factory.mktemp("kill-recover")
    before = base / "before"
    exports = gpu_estate.build(before, base / "exports")
    clean = base / "clean"
    shutil.copytree(before, clean)
    staged, seconds = timeline(clean, exports["restated"], MARKER)
    want, old = snapshot(clean), snapshot(before)

    sept, octo = gpu_estate.SEPT_LINES, gpu_estate.OCT_RESTATED
    assert want["periods"] == [
        ("2026-09", len(sept), gpu_estate.billed(sept), gpu_estate.billed(sept)),
        ("2026-10", len(octo), gpu_estate.billed(octo), gpu_estate.billed(octo)),
    ]
    assert want["periods"][1][2] == Decimal("697.89")
    # The restatement changes every derived table: stale data would be seen.
    assert [name for name in DERIVED if old[name] == want[name]] == []
    gpu = [r for r in want["class_sums"] if r[0] == "gpu_compute"]
    assert [(r[3], r[8], r[9]) for r in gpu] == [
        ("research", 5, Decimal("477.96")),  # Sept 3 x 98.32, Oct 2 x 91.5
        ("vision", 5, Decimal("471.14")),  # Oct 3 x 91.5, GPU_B 2 x 98.32
    ]
    return Estate(before, exports["restated"], want, staged, seconds)


def fresh(estate: Estate, tmp_path: Path) -> Path:
    warehouse = tmp_path / "warehouse"
    shutil.copytree(estate.before, warehouse)
    return warehouse


def run(capsys: pytest.CaptureFixture, warehouse: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--warehouse", str(warehouse), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def recover(capsys: pytest.CaptureFixture, warehouse: Path, estate: Estate, vacuum: bool) -> None:
    """What a user does after a crash: vacuum and check (or not), then ingest again."""
    if vacuum:
        code, out = run(capsys, warehouse, "vacuum")
        assert code == 0, out
        check(capsys, warehouse, "after vacuum")
    code, out = run(capsys, warehouse, "ingest", "aws", str(estate.restated))
    assert code == 0, out


def check(capsys: pytest.CaptureFixture, warehouse: Path, when: str) -> None:
    code, out = run(capsys, warehouse, "check")
    healthy = re.search(r"All \d+ tables are healthy\.", out) is not None
    assert (code, healthy) == (0, True), f"finops check {when}: " + out[out.find("What to do:") :]


def point_cases() -> list:
    return [
        pytest.param(point, mode, marks=() if (point, mode) == SMOKE else pytest.mark.heavy)
        for point in PAUSE_POINTS
        for mode in ("vacuum", "ingest-again")
    ]


@pytest.mark.parametrize("point, mode", point_cases())
def test_a_kill_at_a_pause_point_recovers_to_the_clean_build(
    estate: Estate, tmp_path: Path, capsys: pytest.CaptureFixture, point: str, mode: str
) -> None:
    warehouse = fresh(estate, tmp_path)
    assert run_until(warehouse, estate.restated, point)
    recover(capsys, warehouse, estate, vacuum=mode == "vacuum")
    assert_same(snapshot(warehouse), estate.clean, f"at {point}, recovered by {mode}")
    if mode == "ingest-again":  # the ingest alone repaired what the kill left
        check(capsys, warehouse, "after ingesting again")


def versions(root: Path) -> dict[str, int]:
    return {name: DeltaTable(str(root / name)).version() for name in WATCHED}


def phase(root: Path, before: dict[str, int]) -> str:
    """Where in the ingest a kill landed, told by the commits it left."""
    now = versions(root)
    if now["cost_lines"] == before["cost_lines"]:
        return "before the cost lines commit"
    if now["idle_episodes"] == before["idle_episodes"]:
        return "cost lines committed, refresh unfinished"
    return "after the last derived commit"


@pytest.mark.heavy
def test_kills_at_random_moments_recover_to_the_clean_build(
    estate: Estate, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Kills spread over the clean run's duration (FRACTIONS), each recovered as a user would
    (vacuum, check, ingest again). Failures are gathered, so one run shows them all."""
    before = versions(estate.before)
    landed: list[str] = []
    failed: list[str] = []
    for n, (half, fraction) in enumerate(FRACTIONS):
        warehouse = tmp_path / f"warehouse-{n}"
        shutil.copytree(estate.before, warehouse)
        if half == "start":
            delay = fraction * estate.staged
        else:
            delay = estate.staged + fraction * (estate.seconds - estate.staged)
        killed = run_until(warehouse, estate.restated, None, delay)
        where = phase(warehouse, before) if killed else "not killed: it had finished"
        landed.append(where)
        try:
            recover(capsys, warehouse, estate, vacuum=True)
            assert_same(snapshot(warehouse), estate.clean, f"{delay:.2f} s in")
        except AssertionError as exc:
            failed.append(f"{delay:.2f} s of {estate.seconds:.2f} ({where}): "
                          + " ".join(str(exc).splitlines()[:3]))  # fmt: skip
        shutil.rmtree(warehouse)
    print("kills landed:", {w: landed.count(w) for w in sorted(set(landed))})
    assert not failed, "\n".join(failed)
    # A run slower than the timed one only moves the kills earlier; most must hit it alive.
    assert landed.count("not killed: it had finished") <= RANDOM_KILLS // 2, landed
